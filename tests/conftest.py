import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def jfhub_cache(tmp_path_factory):
    """Demo models are built into a per-session cache, never the user's home cache."""
    path = tmp_path_factory.mktemp("jfhub-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JFHUB_CACHE", str(path))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        yield path


@pytest.fixture(scope="session")
def demo_recipe():
    from judgefree_hub.recipe import load_recipe

    return load_recipe(ROOT / "recipes" / "demo.json")


@pytest.fixture(scope="session")
def tiny_backend(jfhub_cache, demo_recipe):
    from judgefree_hub.backends.hf import HFVisionBackend

    return HFVisionBackend.load(demo_recipe.model)


@pytest.fixture(scope="session")
def photos(demo_recipe):
    from judgefree_hub.sources import collect_samples

    samples = collect_samples(demo_recipe)[::2]
    return [(s.prompt, s.load_image()) for s in samples[:4]]
