"""The paper's controlled hallucination: mix image-conditioned and image-free scores.

Per sample three rows share one batched forward: positive-cond, negative-cond, negative-uncond
(plus positive-uncond when the positive's ratio is above 0). The negative's ratio h is drawn
from (recipe seed, sample key), so a resumed or re-batched build draws the same h.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from PIL import Image

from ..backends.base import AnswerPlan, Branch
from ..records import LoadedSample
from ..seeding import derive_seed, rng
from .base import STRATEGIES, Strategy
from .noise_image import diffusion_noise


@dataclass(frozen=True)
class RatioDistribution:
    distribution: str
    mean: float = 0.5
    std: float = 0.2
    min: float = 0.1
    max: float = 1.0
    value: Optional[float] = None

    def draw(self, seed: int, key: str) -> float:
        if self.distribution == "fixed":
            return float(self.value)
        h = rng(seed, "negative_ratio", key).normal(self.mean, self.std)
        return round(float(min(max(h, self.min), self.max)), 6)

    def describe(self) -> str:
        if self.distribution == "fixed":
            return f"fixed h = {self.value}"
        return f"h ~ N({self.mean}, {self.std}^2) clipped to [{self.min}, {self.max}]"


@STRATEGIES.register("mix")
class MixStrategy(Strategy):
    name = "mix"

    def __init__(self, options: Mapping[str, Any], seed: int):
        super().__init__(options, seed)
        o = self.options
        self.space = o["space"]
        self.positive_ratio = float(o["positive_ratio"])
        self.negative_ratio = RatioDistribution(**o["negative_ratio"])
        self.unconditional = o["unconditional"]
        self.noise_step = int(o["noise_step"])

    def _unconditional_image(self, image: Image.Image, key: str) -> Optional[Image.Image]:
        if self.unconditional == "blank_image":
            return Image.new("RGB", image.size, (128, 128, 128))
        if self.unconditional == "noised_image":
            return diffusion_noise(image, self.noise_step, self.seed, key)
        return None

    def plan(self, batch: Sequence[LoadedSample]):
        rows: list[Branch] = []
        answers: list[AnswerPlan] = []
        ratios = []
        for s in batch:
            key = s.sample.key
            h_neg = self.negative_ratio.draw(self.seed, key)
            for role, h in (("positive", self.positive_ratio), ("negative", h_neg)):
                seed = derive_seed(self.seed, "decode", key, role)
                if h == 1:  # only the unconditional scores count: decode that row alone
                    answers.append(AnswerPlan(len(rows), None, 0.0, seed))
                    rows.append(Branch(s.sample.prompt, self._unconditional_image(s.image, key)))
                    continue
                cond = len(rows)
                rows.append(Branch(s.sample.prompt, s.image))
                uncond = None
                if h > 0:
                    uncond = len(rows)
                    rows.append(Branch(s.sample.prompt, self._unconditional_image(s.image, key)))
                answers.append(AnswerPlan(cond, uncond, h, seed))
            ratios.append((self.positive_ratio, h_neg))
        return rows, answers, ratios

    def describe(self) -> str:
        removed = {"no_image": "image removed", "blank_image": "blank image",
                   "noised_image": f"image noised at t = {self.noise_step}/1000"}[self.unconditional]
        return (f"mix in {self.space} space: z = (1-h) z_cond + h z_uncond ({removed}); "
                f"positive h = {self.positive_ratio}; negative {self.negative_ratio.describe()}")
