"""Hallucination strategies: how the rejected answer of a pair is made (registry STRATEGIES).

A strategy only plans rows and answers; the backend's one batched decoding loop runs them. So a
new strategy is one class that says which branches each answer reads and with which ratio, plus
its options fragment `<name>.schema.json` next to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

from ..backends.base import AnswerPlan, Backend, Branch
from ..recipe import GenerationSpec, fill_defaults, fragment, thaw
from ..records import LoadedSample, Pair, Sample
from ..registry import Registry

STRATEGIES: Registry[type["Strategy"]] = Registry("strategy")


class Strategy(ABC):
    name: str
    space: str = "logits"
    needs_pool: bool = False
    """True for a strategy that draws from every sample of the build (bind): the build then
    lists all samples first, and cannot read a streaming source."""

    def __init__(self, options: Mapping[str, Any], seed: int):
        """`options`: the recipe's strategy object; omitted fields take their defaults from
        this strategy's fragment (`<name>.schema.json`), the one place they are written."""
        self.seed = seed
        self.options: Mapping[str, Any] = fill_defaults(thaw(options), fragment("strategies", self.name))

    def bind(self, samples: Sequence[Sample]) -> None:
        """Every sample of the build, before any is generated: for a strategy that draws from
        beyond the batch (so its draws do not depend on batching). Most need nothing."""

    @abstractmethod
    def plan(self, batch: Sequence[LoadedSample]) -> tuple[list[Branch], list[AnswerPlan], list[tuple[float | None, float | None]]]:
        """Rows, answers (positive of sample i at 2i, negative at 2i+1) and the recorded
        (positive ratio, negative ratio) per sample."""

    def generate(self, batch: Sequence[LoadedSample], backend: Backend, gen: GenerationSpec) -> list[Pair]:
        rows, answers, ratios = self.plan(batch)
        texts = backend.decode(rows, answers, gen, self.space)
        return [
            Pair(sample=s, positive=texts[2 * i], negative=texts[2 * i + 1],
                 positive_ratio=ratios[i][0], negative_ratio=ratios[i][1])
            for i, s in enumerate(batch)
        ]

    def describe(self) -> str:
        """One line for the dataset card."""
        return self.name
