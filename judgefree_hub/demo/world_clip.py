"""world-clip: a small open_clip model trained contrastively here on the procedural world.

Like a real CLIP, it is pretrained on broad data, not on the describer's captions: scenes of
the unbiased eval distribution under another world seed (1), so it never sees the IC set
(seed 0) nor the planted co-occurrences. world-llava takes its vision tower (as LLaVA takes
CLIP's), and the verifier uses the whole model. Each batch also holds one hard negative
caption per image (an absent shape added, a shape swapped, a colour or a size changed): with random
in-batch captions only, a contrastive model learns "which scene" and not "is every named shape
there", and the latter is what verifying a caption needs. Shipped as a `local-dir:` folder
(judgefree_hub.demo.retrain writes it), loaded by `open_clip.create_model_and_transforms` like a real checkpoint; the text tower keeps
CLIP's 49408-token BPE so open_clip's bundled tokenizer fits (context 40: captions are <= 32).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from judgefree_hub.demo.training import fit
from judgefree_hub.seeding import derive_seed
from judgefree_hub.seeding import rng as named_rng
from judgefree_hub.world import COLORS, SHAPES, SIZES, Obj, Scene, WorldConfig, describe, render, scene_at
from judgefree_hub.world.scene import GRID

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
IMAGE_SIZE = 96
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
MODEL_CFG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 3, "width": 128, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 40, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
PREPROCESS_CFG = {"size": IMAGE_SIZE, "mean": list(MEAN), "std": list(STD), "interpolation": "bicubic",
                  "resize_mode": "shortest"}


@dataclass(frozen=True)
class ClipTraining:
    seed: int = 0
    steps: int = 1400
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    world: WorldConfig = field(default_factory=lambda: WorldConfig(seed=1, image_size=IMAGE_SIZE))
    split: str = "eval"


def hard_negative(scene: Scene, gen: np.random.Generator) -> Scene:
    """The scene with one thing made false: an absent shape added, a shape replaced by an
    absent one, or one object's colour or size changed."""
    present = {o.shape for o in scene.objects}
    absent = [s for s in SHAPES if s not in present]
    objs = list(scene.objects)
    kind = int(gen.integers(4)) if absent else 2 + int(gen.integers(2))
    if kind == 0 and len(objs) < GRID * GRID:
        used = {(o.x, o.y) for o in objs}
        free = [(x, y) for y in range(GRID) for x in range(GRID) if (x, y) not in used]
        x, y = free[int(gen.integers(len(free)))]
        objs.append(Obj(absent[int(gen.integers(len(absent)))], COLORS[int(gen.integers(len(COLORS)))],
                        SIZES[int(gen.integers(len(SIZES)))], x, y))
    elif kind in (0, 1):
        i = int(gen.integers(len(objs)))
        new = absent[int(gen.integers(len(absent)))]
        objs = [dataclasses.replace(o, shape=new) if o.shape == objs[i].shape else o for o in objs]
    elif kind == 2:
        i = int(gen.integers(len(objs)))
        others = [c for c in COLORS if c != objs[i].color]
        objs[i] = dataclasses.replace(objs[i], color=others[int(gen.integers(len(others)))])
    else:
        i = int(gen.integers(len(objs)))
        objs[i] = dataclasses.replace(objs[i], size=next(z for z in SIZES if z != objs[i].size))
    return Scene(tuple(sorted(objs, key=lambda o: (o.y, o.x))), scene.background)


def _pixels(images) -> torch.Tensor:
    x = torch.as_tensor(np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])).permute(0, 3, 1, 2)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _batch(spec: ClipTraining, tokenizer, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images, captions, negatives = [], [], []
    for j in range(spec.batch_size):
        index = step * spec.batch_size + j
        scene = scene_at(spec.world, spec.split, index)
        gen = named_rng(spec.seed, "world-clip", str(index))
        images.append(render(scene, IMAGE_SIZE))
        captions.append(describe(scene, gen))
        negatives.append(describe(hard_negative(scene, gen), gen))
    return _pixels(images), tokenizer(captions), tokenizer(negatives)


def train_clip(spec: ClipTraining, show_progress: bool = True, log_every: int = 100):
    """Train from scratch; returns the model and the mean loss every `log_every` steps."""
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=MODEL_CFG["text_cfg"]["context_length"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, "world-clip-init") % 2**31)
        model = open_clip.CLIP(**MODEL_CFG)
        model.train()

        def loss_at(step: int) -> torch.Tensor:
            """Image->text over captions and hard negatives, text->image over captions."""
            pixels, pos, neg = _batch(spec, tokenizer, step)
            img = F.normalize(model.encode_image(pixels), dim=-1)
            txt = F.normalize(model.encode_text(torch.cat([pos, neg])), dim=-1)
            logits = model.logit_scale.exp() * img @ txt.T
            target = torch.arange(len(pixels))
            return (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, :len(pixels)].T, target)) / 2

        @torch.no_grad()
        def clamp_scale() -> None:
            model.logit_scale.clamp_(0, np.log(100))

        losses = fit(model.parameters(), loss_at, steps=spec.steps, learning_rate=spec.learning_rate,
                     warmup_steps=spec.warmup_steps, weight_decay=0.1, desc="training demo:world-clip",
                     show_progress=show_progress, log_every=log_every, after_step=clamp_scale)
    return model.eval(), losses

