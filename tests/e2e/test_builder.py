"""The preference builder in-process on small recipes: bad images, re-runs, refusals."""

import json
import shutil

import pytest
from judgefree_hub.builders.preference import build

from judgefree_hub.errors import BuildError
from judgefree_hub.recipe import recipe_from_dict
from judgefree_hub.sources.folder import package_dir

pytestmark = pytest.mark.slow


def small_recipe(tmp_path, **over):
    images = tmp_path / "images"
    if not images.exists():
        images.mkdir()
        for name in ("chelsea.png", "coffee.png"):
            shutil.copy(package_dir("skimage") / "data" / name, images / name)
        (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    raw = {
        "name": "small", "version": "1.0.0", "seed": 3,
        "model": {"id": "demo:tiny-llava", "device": "cpu", "batch_size": 2, "generation": {"max_new_tokens": 8}},
        "sources": [{"kind": "folder", "path": "images", "prompts": ["Describe the image."]}],
        "verifier": {"model": "demo:tiny-clip", "pretrained": None, "device": "cpu"},
        "output": {"samples_per_shard": 2, "image_format": "png"},
        **over,
    }
    return recipe_from_dict(raw, base_dir=tmp_path)


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    result = build(small_recipe(tmp_path), tmp_path / "out", show_progress=False)
    assert result.stats["samples"] == 3
    assert result.stats["dropped"]["unreadable_image"] == 1
    assert result.stats["pairs"] + sum(result.stats["dropped"].values()) == 3
    assert (result.root / "data" / "train-000001.tar").exists()


def test_rerun_of_a_complete_build_is_a_no_op_and_checks_hashes(tmp_path):
    recipe = small_recipe(tmp_path)
    first = build(recipe, tmp_path / "out", show_progress=False)
    again = build(recipe, tmp_path / "out", show_progress=False)
    assert (again.shards_built, again.shards_resumed) == (0, 2)
    assert again.stats == first.stats
    shard = first.root / "data" / "train-000000.tar"
    shard.write_bytes(shard.read_bytes() + b"\0" * 512)
    with pytest.raises(BuildError, match="sha256 differs from manifest.json"):
        build(recipe, tmp_path / "out", show_progress=False)


def test_same_version_with_another_recipe_is_refused(tmp_path):
    build(small_recipe(tmp_path), tmp_path / "out", show_progress=False)
    changed = small_recipe(tmp_path, seed=4)
    with pytest.raises(BuildError, match="bump 'version'"):
        build(changed, tmp_path / "out", show_progress=False)
    stored = json.loads((tmp_path / "out" / "small" / "1.0.0" / "recipe.json").read_text())
    assert stored["seed"] == 3


def test_noise_image_strategy_builds(tmp_path):
    recipe = small_recipe(tmp_path, strategy={"name": "noise_image", "noise_step": 400})
    result = build(recipe, tmp_path / "out", show_progress=False)
    import webdataset as wds

    rows = [r for (r,) in wds.WebDataset(sorted(str(p) for p in (result.root / "data").glob("*.tar")),
                                          shardshuffle=False).decode().to_tuple("json")]
    assert len(rows) == result.stats["pairs"] > 0
    assert {r["strategy"] for r in rows} == {"noise_image"}
    assert all(r["chosen_ratio"] is None and r["rejected_ratio"] is None for r in rows)
    assert "DDPM forward noise at t = 400" in (result.root / "README.md").read_text()
    # All ratios are null here; the card's declared features still type them as float64.
    import datasets

    ds = datasets.load_dataset(str(result.root), split="train")
    assert ds.features["json"]["chosen_ratio"] == datasets.Value("float64")
    assert ds.features["png"] == datasets.Image() and len(ds) == result.stats["pairs"]


def test_a_backend_that_decodes_other_text_stops_at_the_self_check_and_writes_nothing(tmp_path, monkeypatch):
    """Wrong positions (all zero) still give fluent-looking text, just not the model's: the
    self-check compares the batched loop with the model's own generate() before any write."""
    import torch

    from judgefree_hub.backends import BackendMismatch
    from judgefree_hub.backends.hf import HFVisionBackend

    monkeypatch.setattr(HFVisionBackend, "prefill_positions", lambda self, batch: torch.zeros_like(batch["input_ids"]))
    with pytest.raises(BackendMismatch, match=r"self-check failed for model 'demo:tiny-llava' with backend 'llava'"):
        build(small_recipe(tmp_path), tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out" / "small" / "1.0.0").exists()  # the version folder: only the lock sits beside it
    monkeypatch.undo()
    assert build(small_recipe(tmp_path), tmp_path / "out", show_progress=False).stats["samples"] == 3
