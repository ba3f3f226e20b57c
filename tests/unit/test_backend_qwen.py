"""The qwen2_vl backend (Qwen2-VL, Qwen2.5-VL: M-RoPE) on tiny random checkpoints: what only this
family has. Its M-RoPE prefill positions equal generate()'s, a forced 1-D RoPE backend fails the
self-check, the checkpoints, the recipe and LoRA DPO training. Decoding against generate() (h=0,
h=1 in mixed batches, every space, the mix strategy, the self-check) is in
test_backend_conformance.py, for every family."""

import json
import math
from pathlib import Path

import pytest
import torch

from judgefree_hub.backends import BackendMismatch, Branch, load_backend, self_check
from judgefree_hub.demo import resolve
from judgefree_hub.recipe import GenerationSpec, ModelSpec

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["demo:tiny-qwen2-vl", "demo:tiny-qwen2.5-vl"]
GEN = GenerationSpec(max_new_tokens=16, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]


def spec(model_id, backend="auto"):
    return ModelSpec(id=model_id, revision=None, dtype="float32", device="cpu", batch_size=8,
                     generation=GEN, backend=backend)


@pytest.fixture(scope="module", params=MODELS)
def qwen(request):
    resolve(request.param)  # built once per session cache
    return load_backend(spec(request.param))


def test_m_rope_positions_equal_what_generate_feeds_the_model(qwen, photos):
    assert qwen.name == "qwen2_vl"
    rows = [Branch(photos[0][0], photos[0][1]), Branch(photos[1][0] + " Be brief.", None),
            Branch(photos[2][0], photos[2][1])]
    batch = qwen.encode(rows)
    pos = qwen.prefill_positions(batch)
    assert pos.shape == (4, 3, batch["input_ids"].shape[1])
    # exactly what generate() feeds the model at prefill: the text row, then 3 M-RoPE axes
    expected = qwen.model._prepare_position_ids_for_generation(batch["input_ids"], dict(batch))
    assert torch.equal(pos, expected)
    # text-only row: 1-D positions on every axis; image rows: height and width differ
    assert torch.equal(pos[1:, 1], pos[0, 1].expand(3, -1))
    assert not torch.equal(pos[2, 0], pos[3, 0])
    # the image shortens the position range: the last M-RoPE position is below the 1-D one
    assert pos[1:, 0, -1].max() < pos[0, 0, -1] == batch["attention_mask"][0].sum() - 1


@pytest.mark.parametrize("model_id", MODELS)
def test_a_forced_1d_rope_backend_fails_the_self_check(model_id, photos):
    prompt, image = photos[0]
    plain = load_backend(spec(model_id, backend="llava"))  # the 1-D RoPE backend, forced
    assert plain.name == "llava"
    with pytest.raises(BackendMismatch, match="with backend 'llava'"):
        self_check(plain, Branch(prompt, image), model_id)
    self_check(plain, Branch(prompt, None), model_id)  # text alone: 1-D positions are right


def test_demo_checkpoints_reload_with_the_real_classes(qwen):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = resolve(qwen.model_id)
    processor = AutoProcessor.from_pretrained(folder)
    family = "Qwen2_5_VL" if "2.5" in qwen.model_id else "Qwen2VL"
    assert type(processor).__name__ == f"{family}Processor"
    assert type(processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")
    assert type(processor.video_processor).__name__ == "Qwen2VLVideoProcessor"
    assert type(processor.tokenizer).__name__.startswith("Qwen2Tokenizer")
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert type(model).__name__ == f"{family}ForConditionalGeneration"
    assert sum(p.stat().st_size for p in Path(folder).iterdir()) < 4_000_000
    ids = processor.tokenizer.convert_tokens_to_ids(SPECIALS)
    assert len(set(ids)) == len(SPECIALS)
    assert all(i < model.config.text_config.vocab_size for i in ids)
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
    text = processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"
                         "<|im_start|>assistant\n")


def test_the_qwen_recipe_validates():
    from judgefree_hub.recipe import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "qwen2.5-vl.json")
    assert recipe.model.id == "Qwen/Qwen2.5-VL-7B-Instruct" and recipe.model.backend == "auto"
    assert recipe.strategy.kind == "mix"


def turn(role, text):
    return [{"role": role, "content": [{"type": "text", "text": text}]}]


def image_turn(text):
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


@pytest.mark.slow
@pytest.mark.parametrize("model_id", MODELS)
def test_lora_dpo_trains_the_language_model_only(model_id, photos, tmp_path):
    import datasets
    from safetensors import safe_open

    from judgefree_hub.train import load_train_spec, train

    chosen = ("a woman in a suit", "a cat", "a cup of coffee", "a rocket")
    rejected = ("two dogs", "a red car on a road", "a horse", "a tree")
    data = {"images": [[im] for _, im in photos],
            "prompt": [image_turn(p) for p, _ in photos],
            "chosen": [turn("assistant", t) for t in chosen],
            "rejected": [turn("assistant", t) for t in rejected]}
    datasets.Dataset.from_dict(data).save_to_disk(str(tmp_path / "data"))
    out = tmp_path / "out"
    config = {"dataset": str(tmp_path / "data"), "model": model_id, "output_dir": str(out),
              "dpo": {"max_steps": 2, "per_device_train_batch_size": 2,
                      "gradient_accumulation_steps": 1}}
    ran = set()  # module classes run: the vision tower must see the images during training
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, *_: ran.add(type(m).__name__))
    try:
        result = train(load_train_spec(None, config))
    finally:
        hook.remove()
    towers = {"Qwen2VisionTransformerPretrainedModel", "Qwen2_5_VisionTransformerPretrainedModel"}
    assert towers & ran
    assert result.rows == 4 and result.metrics["step"] == 2
    assert result.metrics["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert math.isfinite(result.metrics["loss"])
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert targets.startswith("model\\.language_model\\.") and "visual" not in targets
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert names and all(".language_model." in n and ".visual." not in n for n in names)
    assert {n.rsplit(".", 3)[-3] for n in names} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
