"""The idefics3 backend (Idefics3 / SmolVLM v1) on demo:tiny-idefics3: what only this family has.
Images split into different numbers of tiles, the image-splitting option and its validation, the
checkpoint, the recipe, and LoRA DPO training. Decoding against generate() (h=0, h=1 in mixed
batches, image-free batches, every space, the mix strategy, the self-check, the backend `auto`
picks), with image splitting on and off, is in test_backend_conformance.py, for every family."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from judgefree_hub.backends import Branch, load_backend
from judgefree_hub.demo import resolve
from judgefree_hub.errors import ModelLoadError
from judgefree_hub.recipe import GenerationSpec, ModelSpec, load_recipe

MODEL = "demo:tiny-idefics3"
GEN = GenerationSpec(max_new_tokens=16, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)


def spec(options=None, backend="auto"):
    return ModelSpec(id=MODEL, revision=None, dtype="float32", device="cpu", batch_size=8,
                     generation=GEN, backend=backend, backend_options=options or {})


@pytest.fixture(scope="module")
def model_dir(jfhub_cache):
    return Path(resolve(MODEL))


@pytest.fixture(scope="module")
def backend(model_dir):
    return load_backend(spec())


@pytest.fixture(scope="module")
def cases(photos):
    """(prompt, image): the photos plus a tall and a wide crop, so tile grids differ (3x3, 2x3,
    3x2, 1x3), with prompts of different lengths."""
    images = [im for _, im in photos]
    images += [images[0].crop((0, 0, 200, 512)), images[0].crop((0, 100, 512, 250))]
    return [(photos[0][0] + " Be brief." * i, im) for i, im in enumerate(images)]


def test_the_tiny_checkpoint_is_a_small_real_idefics3(model_dir, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from judgefree_hub.demo.tiny_idefics3 import build

    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "idefics3"
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    assert type(processor).__name__ == "Idefics3Processor"
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    assert processor.image_seq_len == model.model.image_seq_len == 4
    assert processor.image_processor.do_image_splitting
    markers = ["<fake_token_around_image>", "<global-img>", "<row_6_col_6>", "<end_of_utterance>"]
    tokens = processor.tokenizer.convert_tokens_to_ids(markers)
    assert processor.tokenizer.unk_token_id not in tokens
    size = sum(p.stat().st_size for p in model_dir.iterdir())
    assert size < 4_000_000
    build(tmp_path / "again")  # deterministic: a second build writes the same weights and tokenizer
    for name in ("model.safetensors", "tokenizer.json", "processor_config.json"):
        assert (tmp_path / "again" / name).read_bytes() == (model_dir / name).read_bytes()


def test_images_of_other_shapes_split_into_other_numbers_of_tiles(backend, cases):
    tiles = [backend.encode([Branch(p, im)])["pixel_values"].shape[1] for p, im in cases]
    assert tiles == [10, 10, 7, 7, 7, 4]  # 3x3, 3x3, 2x3, 2x3, 3x2, 1x3 (+ the global view)


def test_image_splitting_can_be_turned_off(model_dir, cases):
    """Only the global view is encoded; that decoding still equals generate() with splitting off
    is checked in test_backend_conformance.py ([idefics3-unsplit])."""
    whole = load_backend(spec({"do_image_splitting": False}))
    tiles = [whole.encode([Branch(p, im)])["pixel_values"].shape[1] for p, im in cases]
    assert tiles == [1] * len(cases)  # the global view only


def test_backend_options_are_checked(model_dir):
    bad_type = r"do_image_splitting \(backend idefics3\): must be boolean"
    with pytest.raises(ModelLoadError, match=bad_type):
        load_backend(spec({"do_image_splitting": "yes"}))
    with pytest.raises(ModelLoadError, match=r"unknown field 'min_pixels' \(known: do_image_"):
        load_backend(spec({"min_pixels": 1}))


def test_smolvlm_recipe_validates():
    recipe = load_recipe(ROOT / "recipes" / "smolvlm.json")
    assert recipe.model.id == "HuggingFaceTB/SmolVLM-Instruct"
    assert recipe.model.backend == "auto"
    assert (recipe.strategy.kind, recipe.verifier.kind) == ("mix", "clip")


@pytest.mark.slow
def test_lora_dpo_trains_the_text_model_only(model_dir, photos, tmp_path):
    import datasets
    from safetensors import safe_open
    from transformers import AutoModelForImageTextToText

    from judgefree_hub.train.config import load_train_spec
    from judgefree_hub.train.trainer import train

    data = {"question": [p for p, _ in photos], "image": [im for _, im in photos],
            "chosen": ["an astronaut", "a cat on a floor", "a cup of coffee", "a rocket on a pad"],
            "rejected": ["two dogs", "a train on a bridge", "a horse at sunset", "a bowl of fruit"]}
    datasets.Dataset.from_dict(data).save_to_disk(str(tmp_path / "pairs"))
    out = tmp_path / "out"
    result = train(load_train_spec(None, {
        "dataset": str(tmp_path / "pairs"), "model": MODEL, "output_dir": str(out),
        "dpo": {"max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                "learning_rate": 1e-3}}))
    assert result.rows == 4 and result.metrics["step"] == 2
    assert result.metrics["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert math.isfinite(result.metrics["loss"])

    target = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    names = [n for n, _ in AutoModelForImageTextToText.from_pretrained(model_dir).named_modules()]
    matched = [n for n in names if re.fullmatch(target, n)]
    assert len(matched) == 2 * 7 and all(n.startswith("model.text_model.layers.") for n in matched)
    # the vision tower has q_proj/k_proj/v_proj too: the rule must tell them apart
    assert any(n.startswith("model.vision_model.") and n.endswith(".q_proj") for n in names)
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
        lora_b = [f.get_tensor(k) for k in keys if "lora_B" in k]
    assert keys and all(".text_model." in k and "vision" not in k for k in keys)
    projections = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert {k.split(".")[-3] for k in keys if "lora_A" in k} == projections
    assert any(torch.count_nonzero(b) > 0 for b in lora_b)  # LoRA B starts at 0: the steps moved it
