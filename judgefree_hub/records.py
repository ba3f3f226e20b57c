"""Typed records that flow between the pipeline's stages.

recipe -> Sample -> (strategy + backend) -> Pair -> (verifier) -> VerifiedPair | Dropped -> shards
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Optional

from PIL import Image


class DropReason(str, enum.Enum):
    """Why a sample produced no pair; tallied in stats.json and shown in the card."""

    UNREADABLE_IMAGE = "unreadable_image"
    EMPTY_ANSWER = "empty_answer"
    IDENTICAL_ANSWERS = "identical_answers"
    BELOW_MIN_GAP = "below_min_gap"


@dataclass(frozen=True)
class Sample:
    """One (image, prompt) to answer. The image is loaded lazily so that skipping is cheap.

    `key` is stable across runs (derived from the source's row id, never from a position) and
    contains no dots, so it can name WebDataset members and seed per-sample randomness.
    """

    key: str
    source_id: str
    prompt: str
    load_image: Callable[[], Image.Image]


@dataclass(frozen=True)
class LoadedSample:
    """A Sample whose image decoded (RGB)."""

    sample: Sample
    image: Image.Image


@dataclass(frozen=True)
class Pair:
    """Two answers from the same model: the positive (little or no hallucination induced) and
    the negative (hallucination induced by the strategy), with the ratios that made them."""

    sample: LoadedSample
    positive: str
    negative: str
    positive_ratio: Optional[float]
    negative_ratio: Optional[float]


@dataclass(frozen=True)
class VerifiedPair:
    """A pair after the verifier: `chosen`/`rejected` are final (reversal already applied)."""

    pair: Pair
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    chosen_ratio: Optional[float]
    rejected_ratio: Optional[float]
    reversed: bool


@dataclass(frozen=True)
class Dropped:
    """A sample that yields no pair, and why."""

    key: str
    reason: DropReason
    detail: str = ""
