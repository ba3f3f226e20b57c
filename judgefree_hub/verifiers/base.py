"""The verifier extension point (VERIFIERS) and its model-free rules.

A verifier turns generated `Pair`s into `VerifiedPair`s (chosen/rejected final) or `Dropped`s.
The rules live in pure functions so they can be tested without loading a model, and so every
verifier kind applies the same reversal and drop policy (method.md, section 2); their options
(reverse, reverse_margin, min_gap) are in base.json, shared by every kind's fragment.
"""

from __future__ import annotations

import abc
from typing import Any, Mapping, Optional, Sequence, Union

from judgefree_hub.records import Dropped, DropReason, Pair, VerifiedPair
from judgefree_hub.registry import Registry

Judgement = Union[VerifiedPair, Dropped]

# Scores are rounded before comparing and recording, so the rules and the written JSON agree
# and a rebuild writes the same digits.
SCORE_DECIMALS = 6


class Verifier(abc.ABC):
    """Scores both answers of each pair against its image and decides chosen/rejected."""

    @classmethod
    @abc.abstractmethod
    def from_options(cls, options: Mapping[str, Any]) -> Verifier:
        """Build from the recipe's `verifier` object (defaults filled), so the builder needs
        only `VERIFIERS.get(name).from_options(options)`."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the dataset card: what scores the answers (model and weights)."""

    @abc.abstractmethod
    def describe_id(self) -> str:
        """Short id of the verifier and its weights, written to every row as `verifier_id`."""

    @abc.abstractmethod
    def judge(self, pairs: Sequence[Pair]) -> list[Judgement]:
        """One judgement per pair, in input order."""


VERIFIERS: Registry[type[Verifier]] = Registry("verifier")


def normalize_whitespace(text: str) -> str:
    return " ".join(text.split())


def text_drop(pair: Pair) -> Optional[Dropped]:
    """The drops that need no model: decided first so no score is spent on them."""
    key = pair.sample.sample.key
    empty = [name for name, text in (("positive", pair.positive), ("negative", pair.negative))
             if not text.strip()]
    if empty:
        return Dropped(key, DropReason.EMPTY_ANSWER, f"{' and '.join(empty)} answer is empty")
    if normalize_whitespace(pair.positive) == normalize_whitespace(pair.negative):
        return Dropped(key, DropReason.IDENTICAL_ANSWERS, "answers equal after whitespace "
                       "normalisation")
    return None


def decide(
    pair: Pair, pos_score: float, neg_score: float, reverse_margin: float, min_gap: float,
    reverse: bool = True,
) -> Judgement:
    """Apply the verifier rules to one scored pair.

    Text-only drops come first; then the pair is reversed when the negative outscores the
    positive by more than `reverse_margin` (the generation label is only a prior), and dropped
    when the score gap is below `min_gap` (0 keeps all). `reverse=False` keeps the generation
    label whatever the scores say (an ablation of the verifier's main job). Scores are rounded to SCORE_DECIMALS
    before comparing, so "exactly at the margin" means the recorded digits.
    """
    dropped = text_drop(pair)
    if dropped is not None:
        return dropped
    pos = round(float(pos_score), SCORE_DECIMALS)
    neg = round(float(neg_score), SCORE_DECIMALS)
    gap = round(neg - pos, SCORE_DECIMALS)
    if abs(gap) < min_gap:
        return Dropped(pair.sample.sample.key, DropReason.BELOW_MIN_GAP,
                       f"|{pos:.6f} - {neg:.6f}| < min_gap {min_gap}")
    if reverse and gap > reverse_margin:
        return VerifiedPair(pair, pair.negative, pair.positive, neg, pos,
                            pair.negative_ratio, pair.positive_ratio, reversed=True)
    return VerifiedPair(pair, pair.positive, pair.negative, pos, neg,
                        pair.positive_ratio, pair.negative_ratio, reversed=False)
