"""Backend selection: recipe field, auto from config.json's model_type, options fragments."""

import json

import pytest

from judgefree_hub.backends import BACKENDS, backend_class, load_backend, read_model_type
from judgefree_hub.errors import ModelLoadError, RecipeError
from judgefree_hub.recipe import GenerationSpec, ModelSpec, recipe_from_dict

GEN = GenerationSpec(max_new_tokens=4, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)


def spec(model_id, backend="auto", options=None):
    return ModelSpec(id=model_id, revision=None, dtype="float32", device="cpu", batch_size=2, generation=GEN,
                     backend=backend, backend_options=options or {})


def config_only(tmp_path, model_type):
    """A checkpoint folder with a config.json and no weights: selection must not need them."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(tmp_path)


def test_auto_reads_the_model_type_of_the_demo_checkpoint(jfhub_cache):
    assert read_model_type("demo:tiny-llava", None) == "llava"
    assert backend_class(spec("demo:tiny-llava")).name == "llava"


@pytest.mark.parametrize("model_type", ["mllama", "paligemma", "gemma3", "bert", None])
def test_auto_refuses_a_family_no_backend_takes_before_loading_weights(tmp_path, model_type):
    path = config_only(tmp_path, model_type)
    with pytest.raises(ModelLoadError) as info:
        backend_class(spec(path))
    msg = str(info.value)
    assert f"no backend for model_type {model_type!r}" in msg
    assert "llava: llava" in msg and "set model.backend" in msg and "\n" not in msg


def test_an_explicit_backend_is_taken_without_reading_the_checkpoint(tmp_path):
    assert backend_class(spec(str(tmp_path / "absent"), backend="llava")) is BACKENDS.get("llava")


def test_an_unreadable_checkpoint_is_one_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read config.json of model"):
        backend_class(spec(str(tmp_path / "absent")))


def test_backend_options_are_checked_against_the_backends_fragment(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model.backend_options \(backend llava\): unknown field 'x'"):
        load_backend(spec(config_only(tmp_path, "llava"), options={"x": 1}))


def recipe_with_model(**model):
    raw = {"name": "x", "version": "1.0.0", "model": {"id": "m", **model},
           "sources": [{"kind": "world", "count": 1, "prompts": ["Describe."]}]}
    return recipe_from_dict(raw, base_dir=__import__("pathlib").Path("."))


def test_recipe_backend_field():
    assert recipe_with_model().model.backend == "auto"
    assert recipe_with_model(backend="llava").model.backend == "llava"
    with pytest.raises(RecipeError, match=r"\$\.model\.backend: must be one of 'auto', .*did you mean 'llava'"):
        recipe_with_model(backend="lava")
    with pytest.raises(RecipeError, match=r"\$\.model\.backend_options: unknown field 'min_pixels'"):
        recipe_with_model(backend="llava", backend_options={"min_pixels": 1})
    # under auto the options wait for the backend to be known (checked by load_backend)
    assert dict(recipe_with_model(backend_options={"min_pixels": 1}).model.backend_options) == {"min_pixels": 1}
