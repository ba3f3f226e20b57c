"""Retrain the world models jfhub ships: `python -m judgefree_hub.demo.retrain [--check]`.

Training both takes about 15 minutes on two cores, and the demo should take one, so the
weights are shipped in the package (`judgefree_hub/demo/weights/`): trained by this command,
stored as float16 safetensors (20 MB; the models still run in float32). `weights/SHIPPED.json`
records each file's sha256, the training losses and the numerics fingerprint they were trained
with. Training always uses `TRAIN_THREADS` threads, so on a machine with the same fingerprint a
retrain reproduces every byte; elsewhere the float reductions run in another order and only the
training curves can be compared (see judgefree_hub.numerics).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from judgefree_hub.demo import SHIPPED, SHIPPED_DIR, SHIPPED_MANIFEST
from judgefree_hub.output import sha256_file

TRAIN_THREADS = 2
STORAGE_DTYPE = "float16"


@contextlib.contextmanager
def fixed_threads(n: int) -> Iterator[None]:
    """Train with `n` threads whatever the machine has: the count changes the float results."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _store_half(path: Path) -> None:
    """Rewrite a safetensors file with its float tensors in float16 (the shipped storage)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()},
              str(path), metadata={"format": "pt"})


def _train_into(folder: Path, show_progress: bool) -> dict:
    """Train world-clip, then world-llava on its vision tower; write both; return the manifest."""
    from safetensors.torch import save_file

    from judgefree_hub.demo import world_clip, world_llava
    from judgefree_hub.numerics import fingerprint

    clip_spec, llava_spec = world_clip.ClipTraining(), world_llava.DescriberTraining()
    with fixed_threads(TRAIN_THREADS):
        clip, clip_losses = world_clip.train_clip(clip_spec, show_progress)
        state = {k: v.detach().contiguous() for k, v in clip.state_dict().items()}
        vision = world_llava.vision_tower_state(
            {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")})
        llava, processor, llava_losses = world_llava.train_describer(llava_spec, vision, show_progress)
        numerics = fingerprint()
    clip_dir, llava_dir = folder / "world-clip", folder / "world-llava"
    clip_dir.mkdir()
    save_file(state, str(clip_dir / world_clip.WEIGHTS_FILE), metadata={"format": "pt"})
    config = {"model_cfg": world_clip.MODEL_CFG, "preprocess_cfg": world_clip.PREPROCESS_CFG}
    (clip_dir / world_clip.CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    llava.save_pretrained(llava_dir, safe_serialization=True)
    processor.save_pretrained(llava_dir)
    for weights in folder.rglob("*.safetensors"):
        _store_half(weights)
    return {
        "storage_dtype": STORAGE_DTYPE,
        "fingerprint": numerics,
        "training": {"world-clip": _plain(clip_spec), "world-llava": _plain(llava_spec)},
        "losses": {"world-clip": clip_losses, "world-llava": llava_losses},
        "files": {p.relative_to(folder).as_posix(): sha256_file(p)
                  for p in sorted(folder.rglob("*")) if p.is_file()},
    }


def _plain(spec) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(spec), default=str))


def retrain(out: Path, show_progress: bool = True) -> dict:
    """Train both models and replace `out` with them (and SHIPPED.json) only once both are done."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        manifest = _train_into(tmp, show_progress)
        (tmp / SHIPPED_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def read_manifest(folder: Path = SHIPPED_DIR) -> dict:
    return json.loads((Path(folder) / SHIPPED_MANIFEST).read_text())


def differences(reference: dict, candidate: dict) -> list[str]:
    """Files whose bytes differ between two manifests (or that only one of them has)."""
    a, b = reference["files"], candidate["files"]
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m judgefree_hub.demo.retrain",
        description=f"Retrain the shipped demo models ({', '.join(SHIPPED)}) from the committed "
                    "training settings (about 15 minutes on two cores).")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR,
                        help=f"folder to write (default: the shipped weights, {SHIPPED_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="train into a temporary folder and compare with the shipped weights "
                             "instead of replacing them; exit 1 if any file differs")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = retrain(Path(tmp) / "weights")
        shipped = read_manifest()
        changed = differences(shipped, manifest)
        same_numerics = manifest["fingerprint"] == shipped["fingerprint"]
        print(f"numerics {'match' if same_numerics else 'differ from'} the shipped training's "
              f"({json.dumps(shipped['fingerprint'])})")
        print("every file reproduced byte for byte" if not changed else f"{len(changed)} file(s) differ: "
              + ", ".join(changed))
        return 1 if changed else 0
    manifest = retrain(args.out)
    print(f"wrote {len(manifest['files'])} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
