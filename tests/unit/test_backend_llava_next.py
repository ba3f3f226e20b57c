"""LLaVA-NeXT and LLaVA-OneVision backends on tiny random anyres checkpoints: what only these
families have. Photos of different sizes get different numbers of image tokens, the checkpoints
are small and deterministic, the recipes, LoRA DPO training on anyres images. Decoding against
generate() (h=0, h=1 in mixed batches, every space, the mix strategy, the self-check, the
backend `auto` picks) is in test_backend_conformance.py, for every family."""

import json
import math
import re

import pytest
from conftest import ROOT

from judgefree_hub.backends import load_backend
from judgefree_hub.demo import resolve
from judgefree_hub.recipe import GenerationSpec, ModelSpec

MODELS = ["demo:tiny-llava-next", "demo:tiny-llava-onevision"]
GEN = GenerationSpec(max_new_tokens=16, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
# (width, height) each photo is resized to; None keeps it (512 x 512). Square, landscape, tall
# and 2:3 photos are tiled to different grids and unpadded differently: four token counts.
SIZES = (None, (64, 32), (30, 100), (40, 60))


def model_spec(ref):
    return ModelSpec(id=ref, revision=None, dtype="float32", device="cpu", batch_size=4,
                     generation=GEN)


@pytest.fixture(scope="module", params=MODELS)
def backend(request, jfhub_cache):
    resolve(request.param)  # built once per session cache; load_backend then finds it
    return load_backend(model_spec(request.param))


@pytest.fixture(scope="module")
def anyres_photos(photos):
    """(prompt, image) with four image sizes and four prompt lengths."""
    return [(p + " Be brief." * i, im if size is None else im.resize(size))
            for i, ((p, im), size) in enumerate(zip(photos, SIZES, strict=True))]


def image_tokens(backend, prompt, image):
    text = backend.chat_prompt(prompt, True)
    enc = backend.processor(text=[text], images=[image], return_tensors="pt")
    return int((enc["input_ids"] == backend.processor.image_token_id).sum())


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
