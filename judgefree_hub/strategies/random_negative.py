"""Ablation baseline: the rejected answer is the model's own answer to another image.

Each sample's positive is plain decoding; its negative is the positive of the next sample in
the batch (the last takes the first's), so the rejected text is fluent and on-topic for the
world but unrelated to this image. It tells how much of the gain needs *controlled*
hallucinations rather than any wrong caption. A batch of one sample has no other image, so its
answers are identical and the verifier drops the pair.
"""

from __future__ import annotations

from typing import Sequence

from ..backends.base import AnswerPlan, Backend, Branch
from ..recipe import GenerationSpec
from ..records import LoadedSample, Pair
from ..seeding import derive_seed
from .base import STRATEGIES, Strategy


@STRATEGIES.register("random_negative")
class RandomNegativeStrategy(Strategy):
    name = "random_negative"

    def plan(self, batch: Sequence[LoadedSample]):
        rows = [Branch(s.sample.prompt, s.image) for s in batch]
        answers = [AnswerPlan(i, None, 0.0, derive_seed(self.seed, "decode", s.sample.key, "positive"))
                   for i, s in enumerate(batch)]
        return rows, answers, [(None, None)] * len(batch)

    def generate(self, batch: Sequence[LoadedSample], backend: Backend, gen: GenerationSpec) -> list[Pair]:
        rows, answers, _ = self.plan(batch)
        texts = backend.decode(rows, answers, gen, self.space)
        return [Pair(sample=s, positive=texts[i], negative=texts[(i + 1) % len(batch)],
                     positive_ratio=None, negative_ratio=None)
                for i, s in enumerate(batch)]

    def describe(self) -> str:
        return "random_negative: the rejected answer is the model's answer to another image of the batch"
