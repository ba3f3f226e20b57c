"""tiny-clip: a randomly initialised open_clip model saved as a `local-dir:` folder.

The verifiers load CLIP through `open_clip.create_model_and_transforms("local-dir:" + folder)`,
the same call that serves real checkpoints, so the demo and tests cover that path offline. The
text tower keeps CLIP's 49408-token vocabulary and 77-token context, so open_clip's bundled BPE
tokenizer (no download) is the one `open_clip.get_tokenizer("local-dir:" + folder)` returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

SEED = 4321
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"  # first in open_clip's local-dir lookup order

MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}
# OpenAI CLIP normalisation, as real checkpoints ship it; size must match vision image_size.
PREPROCESS_CFG = {
    "size": 32,
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def build(folder: str | Path, cache_dir: str | Path | None = None) -> None:
    """Write open_clip_config.json and safetensors weights (seeded init) into `folder`."""
    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = open_clip.CLIP(**MODEL_CFG)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
