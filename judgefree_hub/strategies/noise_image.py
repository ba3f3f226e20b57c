"""POVID-style negatives: the same model answers an image after forward diffusion noise.

x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps on pixels scaled to [-1, 1], with the 1000-step
linear beta schedule (1e-4 .. 0.02) of DDPM; eps is drawn from (recipe seed, sample key).
Both answers are decoded in the same batched forward (two image rows per sample).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from ..backends.base import AnswerPlan, Branch
from ..records import LoadedSample
from ..seeding import derive_seed, rng
from .base import STRATEGIES, Strategy


def diffusion_noise(image: Image.Image, step: int, seed: int, key: str) -> Image.Image:
    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1.0 - betas)[step]
    x0 = np.asarray(image.convert("RGB"), dtype=np.float64) / 127.5 - 1.0
    eps = rng(seed, "noise_image", key).standard_normal(x0.shape)
    xt = np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * eps
    return Image.fromarray(np.clip((xt + 1.0) * 127.5, 0, 255).round().astype(np.uint8))


@STRATEGIES.register("noise_image")
class NoiseImageStrategy(Strategy):
    name = "noise_image"

    def __init__(self, options: Mapping[str, Any], seed: int):
        super().__init__(options, seed)
        self.noise_step = int(self.options["noise_step"])

    def plan(self, batch: Sequence[LoadedSample]):
        rows: list[Branch] = []
        answers: list[AnswerPlan] = []
        for s in batch:
            key = s.sample.key
            noisy = diffusion_noise(s.image, self.noise_step, self.seed, key)
            for role, image in (("positive", s.image), ("negative", noisy)):
                answers.append(AnswerPlan(len(rows), None, 0.0, derive_seed(self.seed, "decode", key, role)))
                rows.append(Branch(s.sample.prompt, image))
        return rows, answers, [(None, None)] * len(batch)

    def describe(self) -> str:
        return f"noise_image: negative answers the image after DDPM forward noise at t = {self.noise_step}/1000"
