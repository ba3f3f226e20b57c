import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "smoke.json"

# Plain git-LFS uploads (batch + PUT) against the local test Hub; read by huggingface_hub at
# import, so it is set before any test module imports it.
os.environ["HF_HUB_DISABLE_XET"] = "1"


# The installed console script, as a user runs it (`python -m` would put the working directory
# on sys.path and hide imports that only work from the repository root).
JFHUB = Path(sys.executable).with_name("jfhub")
JFHUB_CMD = [str(JFHUB)] if JFHUB.is_file() else [sys.executable, "-m", "judgefree_hub.cli"]


def run_jfhub(*args, check=True, env=None):
    """The real CLI in a subprocess, as a user runs it."""
    proc = subprocess.run([*JFHUB_CMD, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"jfhub {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def own_display_only(stderr: str, **bars: int) -> None:
    """stderr holds jfhub's own progress bars and nothing else: no bar of a library ("Map",
    "Generating ... split", "Loading weights", "Fetching"), no log line, no warning. Each bar
    named (its tqdm desc) starts the given number of times: a non-terminal still gets tqdm's
    refreshes, separated by carriage returns, and the first of each bar is its 0% line."""
    lines = [line for line in re.split(r"[\r\n]+", stderr) if line.strip()]
    foreign = [line for line in lines if not line.startswith(tuple(f"{name}:" for name in bars))]
    assert not foreign, f"stderr holds more than jfhub's own display: {foreign[:5]}"
    for name, times in bars.items():
        starts = sum(1 for line in lines if re.match(rf"{name}:\s+0%\|", line))
        assert starts == times, f"{name!r} bar started {starts} time(s), not {times}: {lines[:5]}"


@pytest.fixture(autouse=True)
def restore_environ():
    """A test that runs the CLI in this process (click's CliRunner) lets it switch the libraries'
    output through os.environ (output/progress.py quiet_dependencies); that must not reach the
    next test's subprocesses, so every test ends with the environment it started with."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


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

    return load_recipe(ROOT / "recipes" / "smoke.json")


@pytest.fixture(scope="session")
def tiny_backend(jfhub_cache, demo_recipe):
    from judgefree_hub.backends import load_backend

    return load_backend(demo_recipe.model)


@pytest.fixture(scope="session")
def photos(demo_recipe):
    from judgefree_hub.sources import collect_samples

    samples = collect_samples(demo_recipe)[::2]
    return [(s.prompt, s.load_image()) for s in samples[:4]]


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory, jfhub_cache):
    """The demo recipe built once by the real CLI: (build folder, completed process)."""
    out = tmp_path_factory.mktemp("demo-out")
    proc = run_jfhub("build", DEMO, "--out", out, "--no-progress")
    return out / "jfhub-smoke" / "0.1.0", proc


@pytest.fixture
def online_to_local_hub(monkeypatch):
    """The session runs offline; a test that talks to the loopback test Hub turns that off for
    itself (huggingface_hub reads HF_HUB_OFFLINE once, at import, so the constant is patched too)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
