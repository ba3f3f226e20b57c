"""LLaVA-NeXT and LLaVA-OneVision backends on tiny random anyres checkpoints, against the models'
own generate(): photos of different sizes get different numbers of image tokens, so every
batch here mixes rows of different lengths (image tokens and prompt) with text-only rows."""

import json
import math
import re

import pytest
from conftest import ROOT

from judgefree_hub.backends import AnswerPlan, Branch, decode_answers, load_backend, self_check
from judgefree_hub.demo import resolve
from judgefree_hub.recipe import GenerationSpec, ModelSpec

FAMILIES = {"demo:tiny-llava-next": "llava_next", "demo:tiny-llava-onevision": "llava_onevision"}
GEN = GenerationSpec(max_new_tokens=16, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
# (width, height) each photo is resized to; None keeps it (512 x 512). Square, landscape, tall
# and 2:3 photos are tiled to different grids and unpadded differently: four token counts.
SIZES = (None, (64, 32), (30, 100), (40, 60))


def model_spec(ref):
    return ModelSpec(id=ref, revision=None, dtype="float32", device="cpu", batch_size=4,
                     generation=GEN)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def backend(request, jfhub_cache):
    resolve(request.param)  # built once per session cache; load_backend then finds it
    return load_backend(model_spec(request.param))


@pytest.fixture(scope="module")
def anyres_photos(photos):
    """(prompt, image) with four image sizes and four prompt lengths."""
    return [(p + " Be brief." * i, im if size is None else im.resize(size))
            for i, ((p, im), size) in enumerate(zip(photos, SIZES, strict=True))]


def generate_alone(backend, prompt, image, max_new_tokens=GEN.max_new_tokens):
    enc = backend.processor(text=[backend.chat_prompt(prompt, image is not None)],
                            images=[image] if image is not None else None, return_tensors="pt")
    out = backend.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return backend.decode_text(out[0, enc["input_ids"].shape[1]:].tolist())


def image_tokens(backend, prompt, image):
    text = backend.chat_prompt(prompt, True)
    enc = backend.processor(text=[text], images=[image], return_tensors="pt")
    return int((enc["input_ids"] == backend.processor.image_token_id).sum())


def test_auto_picks_the_family_backend(backend):
    family = FAMILIES[backend.model_id]
    assert type(backend).name == family and type(backend).model_types == (family,)
    assert backend.model.config.model_type == family
    expected = {"llava_next": "LlavaNextProcessor", "llava_onevision": "LlavaOnevisionProcessor"}
    assert type(backend.processor).__name__ == expected[family]


@pytest.mark.parametrize("builder", ["build_next", "build_onevision"])
def test_checkpoint_is_small_and_deterministic(tmp_path, builder):
    from judgefree_hub.demo import tiny_llava_next

    for name in ("a", "b"):
        getattr(tiny_llava_next, builder)(tmp_path / name, tmp_path)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json",
            "chat_template.jinja"} <= set(files)
    a, b = tmp_path / "a", tmp_path / "b"
    assert sum((a / f).stat().st_size for f in files) < 4_000_000
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_image_token_count_depends_on_image_size(backend, anyres_photos):
    counts = [image_tokens(backend, p, im) for p, im in anyres_photos]
    assert len(set(counts)) == len(counts), counts
    assert len({im.size for _, im in anyres_photos}) == len(anyres_photos)


def test_h0_equals_generate_row_by_row_and_answers_vary(backend, anyres_photos):
    rows = [Branch(p, im) for p, im in anyres_photos]
    plans = [AnswerPlan(i, None, 0.0) for i in range(len(rows))]
    got = decode_answers(backend, rows, plans, GEN, "logits")
    assert got == [generate_alone(backend, p, im) for p, im in anyres_photos]
    assert len(set(got)) == len(got) and all(got)  # each photo leads to its own answer


@pytest.mark.parametrize("space", ["logits", "logprobs", "probs"])
def test_h1_equals_text_only_generate_in_a_mixed_batch(backend, anyres_photos, space):
    rows, answers = [], []
    for prompt, im in anyres_photos:
        answers.append(AnswerPlan(len(rows), len(rows) + 1, 1.0))
        rows += [Branch(prompt, im), Branch(prompt, None)]
    got = decode_answers(backend, rows, answers, GEN, space)
    assert got == [generate_alone(backend, p, None) for p, _ in anyres_photos]
    assert len(set(got)) > 1  # the prompts of different lengths give different text-only answers


def test_mixed_ratio_answer_does_not_depend_on_batch_mates(backend, anyres_photos):
    def plan(items):
        rows, answers = [], []
        for p, im in items:
            answers.append(AnswerPlan(len(rows), len(rows) + 1, 0.5))
            rows += [Branch(p, im), Branch(p, None)]
        return rows, answers

    together = decode_answers(backend, *plan(anyres_photos), GEN, "logits")
    alone = [decode_answers(backend, *plan([item]), GEN, "logits")[0] for item in anyres_photos]
    assert together == alone
    assert len(set(together)) > 1


def test_mix_strategy_pairs_match_plain_and_text_only_generate(backend, anyres_photos):
    from judgefree_hub.records import LoadedSample, Sample
    from judgefree_hub.strategies.mix import MixStrategy

    strategy = MixStrategy({"space": "logits", "positive_ratio": 0.0, "unconditional": "no_image",
                            "negative_ratio": {"distribution": "fixed", "value": 1.0}}, seed=0)
    batch = [LoadedSample(Sample(f"k{i}", "s", p, lambda im=im: im), im)
             for i, (p, im) in enumerate(anyres_photos)]
    pairs = strategy.generate(batch, backend, GEN)
    assert len(pairs) == len(anyres_photos)
    for pair, (p, im) in zip(pairs, anyres_photos, strict=True):
        assert pair.positive == generate_alone(backend, p, im)
        assert pair.negative == generate_alone(backend, p, None)
        assert (pair.positive_ratio, pair.negative_ratio) == (0.0, 1.0)


def test_self_check_passes(backend, anyres_photos):
    for prompt, image in anyres_photos[:2]:
        assert self_check(backend, Branch(prompt, image), backend.model_id) is None


@pytest.mark.parametrize("recipe,model_id,family", [
    ("llava-next.json", "llava-hf/llava-v1.6-mistral-7b-hf", "llava_next"),
    ("llava-onevision.json", "llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava_onevision")])
def test_recipes_validate(recipe, model_id, family):
    from judgefree_hub.backends import BACKENDS
    from judgefree_hub.recipe import load_recipe

    r = load_recipe(ROOT / "recipes" / recipe)
    assert (r.model.id, r.model.backend) == (model_id, "auto")
    assert family in BACKENDS.names() and family in BACKENDS.get(family).model_types
    assert r.strategy.kind == "mix" and r.verifier.kind == "clip"


@pytest.mark.slow
def test_train_lora_on_tiny_llava_next(tmp_path, photos, jfhub_cache):
    """jfhub train: 2 DPO steps with LoRA on anyres images of different sizes (one batch pads
    their tiles); the adapter touches the language model's projections only."""
    import datasets
    from safetensors import safe_open
    from transformers import AutoModelForImageTextToText

    from judgefree_hub.train import load_train_spec, train

    images = [im if size is None else im.resize(size)
              for (_, im), size in zip(photos, SIZES, strict=True)]
    data = {"prompt": ["What is shown?", "Describe the image.", "What is in it?", "A caption?"],
            "image": images,
            "chosen": ["a woman in a space suit", "a cat on a floor", "a cup of coffee", "rocket"],
            "rejected": ["a dog on a sofa", "two boats", "a clock tower", "a bowl of fruit"]}
    datasets.Dataset.from_dict(data).save_to_disk(str(tmp_path / "prefs"))
    out = tmp_path / "out"
    result = train(load_train_spec(None, {
        "dataset": str(tmp_path / "prefs"), "model": "demo:tiny-llava-next", "output_dir": str(out),
        "dpo": {"max_steps": 2, "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1}}))

    m = result.metrics
    assert result.rows == 4 and m["step"] == 2 and math.isfinite(m["loss"])
    assert m["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    model = AutoModelForImageTextToText.from_pretrained(resolve("demo:tiny-llava-next"))
    hit = [name for name, _ in model.named_modules() if re.fullmatch(targets, name)]
    layers = model.config.text_config.num_hidden_layers
    assert len(hit) == 7 * layers and all(n.startswith("model.language_model.layers.") for n in hit)
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all(".language_model." in k and "lora_" in k for k in keys)
