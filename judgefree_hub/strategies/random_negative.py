"""Ablation baseline: the rejected answer is the model's own answer, to the same prompt, about
another image.

It tells how much of the gain needs *controlled* hallucinations rather than any wrong caption.
The partner image is drawn from (recipe seed, sample key) among the build's samples of OTHER
images (several prompts of one image never partner each other), so the pairing does not depend
on batch size or shard boundaries. The partner's answer is decoded in the same batch: one row
with this sample's image, one with the partner's image, same prompt. A build whose samples all
show one image (or whose drawn partner cannot be read) gets identical answers, which the
verifier drops.
"""

from __future__ import annotations

from typing import Optional, Sequence

from PIL import Image

from ..backends.base import AnswerPlan, Branch
from ..records import LoadedSample, Sample
from ..seeding import derive_seed, rng
from .base import STRATEGIES, Strategy

DRAWS = 64  # random draws before falling back to the next other image in build order


@STRATEGIES.register("random_negative")
class RandomNegativeStrategy(Strategy):
    name = "random_negative"
    needs_pool = True

    def __init__(self, options, seed: int):
        super().__init__(options, seed)
        self.pool: Sequence[Sample] = ()

    def bind(self, samples: Sequence[Sample]) -> None:
        self.pool = list(samples)

    def partner(self, sample: Sample) -> Optional[Sample]:
        """Another image's sample, drawn from (seed, key); None when every sample shows this image."""
        if not self.pool:
            return None
        draws = rng(self.seed, "random_negative", sample.key)
        for _ in range(DRAWS):
            other = self.pool[int(draws.integers(len(self.pool)))]
            if other.source_id != sample.source_id:
                return other
        start = int(draws.integers(len(self.pool)))
        ring = list(self.pool[start:]) + list(self.pool[:start])
        return next((o for o in ring if o.source_id != sample.source_id), None)

    def _partner_image(self, s: LoadedSample) -> Image.Image:
        other = self.partner(s.sample)
        if other is not None:
            try:
                return other.load_image()
            except Exception:  # noqa: BLE001  (an unreadable partner: the pair comes out identical and is dropped)
                pass
        return s.image

    def plan(self, batch: Sequence[LoadedSample]):
        rows: list[Branch] = []
        answers: list[AnswerPlan] = []
        for s in batch:
            for role, image in (("positive", s.image), ("negative", self._partner_image(s))):
                answers.append(AnswerPlan(len(rows), None, 0.0, derive_seed(self.seed, "decode", s.sample.key, role)))
                rows.append(Branch(s.sample.prompt, image))
        return rows, answers, [(None, None)] * len(batch)

    def describe(self) -> str:
        return ("random_negative: the rejected answer is the model's answer to the same prompt about another "
                "image, drawn from (seed, key)")
