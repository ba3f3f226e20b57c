"""Demo models (`demo:<name>`) that the project builds itself, since no weights can be downloaded.

The two trained world models ship in the package (`weights/`, written by
`python -m judgefree_hub.demo.retrain`); the tiny random-weight models are built on first use.

`resolve("demo:tiny-llava")` returns a local folder that the rest of the project loads with the
same calls as a real checkpoint (`AutoProcessor`/`AutoModelForImageTextToText.from_pretrained`,
`open_clip.create_model_and_transforms("local-dir:" + folder)`), so the demo recipe and the
tests run the real loading code. Folders are built once per cache, deterministically, and
renamed into place only when complete, so a killed build is never mistaken for a model and two
processes racing both end with a valid folder.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from judgefree_hub.errors import ModelLoadError

PREFIX = "demo:"
DEMO_MODELS = ("tiny-llava", "tiny-clip", "world-llava", "world-clip", "tiny-llava-next", "tiny-llava-onevision",
               "tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-idefics3")
VERSION = "v2"  # bump when a builder changes its output, so old caches are not reused
COMPLETE_MARKER = ".jfhub-demo-complete"
# Trained models take minutes to train, so they ship in the package (judgefree_hub.demo.retrain).
SHIPPED = ("world-clip", "world-llava")
SHIPPED_DIR = Path(__file__).resolve().with_name("weights")
SHIPPED_MANIFEST = "SHIPPED.json"
_BUILDER_MODULES = {
    "tiny-llava": "judgefree_hub.demo.llava",
    "tiny-clip": "judgefree_hub.demo.clip",
    # One tiny random checkpoint per VLM family a backend supports (tests and offline tries).
    "tiny-llava-next": "judgefree_hub.demo.tiny_llava_next:build_next",
    "tiny-llava-onevision": "judgefree_hub.demo.tiny_llava_next:build_onevision",
    "tiny-qwen2-vl": "judgefree_hub.demo.tiny_qwen:build_qwen2_vl",
    "tiny-qwen2.5-vl": "judgefree_hub.demo.tiny_qwen:build_qwen2_5_vl",
    "tiny-idefics3": "judgefree_hub.demo.tiny_idefics3:build",
}
# What a dataset card says about each demo model (cards must say what the models are).
DESCRIPTIONS = {
    "tiny-llava": "a 0.8M-parameter LLaVA-architecture model with RANDOM weights (pipeline tests only)",
    "tiny-clip": "a 3.4M-parameter open_clip model with RANDOM weights (pipeline tests only)",
    "world-llava": ("a small LLaVA-1.5-architecture describer trained by jfhub on the procedural shape "
                    "world's biased train split to caption and to answer yes/no shape questions (a quarter of the image "
                    "examples; 10% of captions text-only; seeded, CPU; shipped as float16 weights); it names absent "
                    "partners of co-occurring shapes"),
    "world-clip": ("a small open_clip model trained contrastively by jfhub on unbiased world scenes (another world seed), "
                   "with hard negative captions (seeded, CPU; shipped as float16 weights)"),
    "tiny-llava-next": "a tiny LLaVA-NeXT (anyres) model with RANDOM weights (backend tests only)",
    "tiny-llava-onevision": "a tiny LLaVA-OneVision (anyres) model with RANDOM weights (backend tests only)",
    "tiny-qwen2-vl": "a tiny Qwen2-VL (M-RoPE) model with RANDOM weights (backend tests only)",
    "tiny-qwen2.5-vl": "a tiny Qwen2.5-VL (M-RoPE) model with RANDOM weights (backend tests only)",
    "tiny-idefics3": "a tiny Idefics3 / SmolVLM (image splitting) model with RANDOM weights (backend tests only)",
}
_STALE_TMP_S = 3 * 3600.0

log = logging.getLogger(__name__)

__all__ = ["DEMO_MODELS", "DESCRIPTIONS", "default_cache_dir", "describe", "is_demo_ref", "model_path", "resolve"]


def describe(ref: str) -> str:
    """One line for cards: what demo model `ref` is."""
    return DESCRIPTIONS.get(ref[len(PREFIX):], "unknown demo model")


def is_demo_ref(ref: str) -> bool:
    """True for model references of the form `demo:<name>`."""
    return isinstance(ref, str) and ref.startswith(PREFIX)


def model_path(ref: str) -> str:
    """What from_pretrained gets for a model reference: demo:<name> becomes the local folder the
    project builds (built on first use); a Hub id or a folder is passed on as it is."""
    return str(resolve(ref)) if is_demo_ref(ref) else ref


def default_cache_dir() -> Path:
    """`$JFHUB_CACHE` if set, else `~/.cache/judgefree_hub`."""
    env = os.environ.get("JFHUB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "judgefree_hub"


def resolve(ref: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Absolute path of the folder holding demo model `ref`, building it first if absent."""
    if not is_demo_ref(ref):
        raise ValueError(f"not a demo model reference (expected '{PREFIX}<name>'): {ref!r}")
    name = ref[len(PREFIX) :]
    if name not in DEMO_MODELS:
        raise ModelLoadError(
            f"unknown demo model {ref!r}; known demo models: "
            + ", ".join(PREFIX + n for n in DEMO_MODELS)
        )
    if name in SHIPPED:
        return _shipped(name)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = (root / "demo" / f"{name}-{VERSION}").absolute()
    if _is_complete(final):
        return str(final)
    if final.exists():
        raise ModelLoadError(
            f"{final} exists but is not a complete demo model (no {COMPLETE_MARKER}); "
            "delete it and run again to rebuild"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    _prune_stale_tmp(final)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=final.parent))
    try:
        log.info("building demo model %s into %s", ref, final)
        try:
            _build(name, tmp, root)
        except Exception as e:
            raise ModelLoadError(f"building demo model {ref!r} in {tmp} failed: {e}") from e
        (tmp / COMPLETE_MARKER).write_text(f"{name}-{VERSION}\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            os.rename(tmp, final)  # atomic; fails if another process renamed its build first
        except OSError:
            if not _is_complete(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op once renamed
    return str(final)


def _build(name: str, folder: Path, cache_dir: Path) -> None:
    """Run the builder of demo model `name` (imported lazily: torch, transformers are heavy);
    `cache_dir` is where a builder resolves the demo models it starts from."""
    module, _, function = _BUILDER_MODULES[name].partition(":")
    getattr(importlib.import_module(module), function or "build")(folder, cache_dir)


def _shipped(name: str) -> str:
    folder = SHIPPED_DIR / name
    if not (SHIPPED_DIR / SHIPPED_MANIFEST).is_file() or not folder.is_dir():
        raise ModelLoadError(f"the shipped weights of demo:{name} are missing from {SHIPPED_DIR}; "
                             "reinstall jfhub or run `python -m judgefree_hub.demo.retrain`")
    return str(folder)


def _is_complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).is_file()


def _prune_stale_tmp(final: Path) -> None:
    """Remove temp folders left by builds killed over three hours ago (live builds take minutes)."""
    cutoff = time.time() - _STALE_TMP_S
    for tmp in final.parent.glob(f"{final.name}.tmp-*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
