"""Intervals for the self-improvement experiment: across seeds (Student t) and across the
evaluation scenes of one seed (a paired bootstrap), so a table row says how sure it is.

Pooled (micro) scores are ratios of sums over images, as `jfhub eval` computes them: precision
= recalled / (recalled + hallucinated), recall = recalled / (recalled + missed); POPE's accuracy
of one setting = questions answered right / questions asked. A bootstrap resample draws images
with replacement and recomputes the ratio from the resampled sums, the same draw for both models
(paired), so the interval is that of the difference on these scenes. Images, not questions, are
resampled: an image's questions share its picture and are not independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Protocol, Sequence

import numpy as np

METRICS = ("precision", "recall", "f1", "chair_i", "chair_s")


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: Optional[float]  # None when one value gives no interval
    hi: Optional[float]
    n: int

    def fmt(self, scale: float = 100.0, signed: bool = False) -> str:
        sign = "+" if signed else ""
        if self.lo is None:
            return f"{self.mean * scale:{sign}.1f}"
        return f"{self.mean * scale:{sign}.1f} [{self.lo * scale:{sign}.1f}, {self.hi * scale:{sign}.1f}]"


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean and the two-sided Student-t interval of the mean (seeds are few: 5 gives t = 2.776)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, None, None, 1)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


class Counts(Protocol):
    """Per-image counts of one evaluation, aligned by image id, and its pooled scores."""

    ids: tuple[str, ...]

    def scores(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each score for each row of `weights` (resamples x images: how often each image is drawn)."""
        ...


@dataclass(frozen=True)
class ImageCounts:
    """Per-image counts from `jfhub eval`'s per_image.jsonl, aligned by image id."""

    ids: tuple[str, ...]
    recalled: np.ndarray
    missed: np.ndarray
    hallucinated: np.ndarray
    mentioned: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping], ids: Optional[Sequence[str]] = None) -> "ImageCounts":
        by_id = {r["id"]: r for r in rows}
        ids = tuple(sorted(by_id)) if ids is None else tuple(ids)
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ValueError(f"no row for image(s) {missing[:3]}")
        pick = [by_id[i] for i in ids]
        return cls(ids, *(np.array([len(r[k]) for r in pick], dtype=float) for k in ("recalled", "missed", "hallucinated")),
                   np.array([r["mentioned"] for r in pick], dtype=float))

    def scores(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        return pooled(self, weights)


@dataclass(frozen=True)
class AnswerCounts:
    """Per-image POPE counts of one setting from `jfhub eval --bench pope`'s per_question.jsonl
    (questions asked, answered right), aligned by image id; its score is the accuracy."""

    ids: tuple[str, ...]
    correct: np.ndarray
    asked: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Mapping], setting: str,
                     ids: Optional[Sequence[str]] = None) -> "AnswerCounts":
        asked: dict[str, int] = {}
        correct: dict[str, int] = {}
        for r in records:
            if r["setting"] == setting:
                asked[r["image_id"]] = asked.get(r["image_id"], 0) + 1
                correct[r["image_id"]] = correct.get(r["image_id"], 0) + (r["answer"] == r["label"])
        ids = tuple(sorted(asked)) if ids is None else tuple(ids)
        missing = [i for i in ids if i not in asked]
        if missing:
            raise ValueError(f"no {setting} question for image(s) {missing[:3]}")
        return cls(ids, np.array([correct[i] for i in ids], dtype=float), np.array([asked[i] for i in ids], dtype=float))

    def scores(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        return {"accuracy": (weights @ self.correct) / (weights @ self.asked)}


def pooled(c: ImageCounts, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Micro scores for each row of `weights` (resamples x images: how often each image is drawn)."""
    r, m, h, n = (weights @ a for a in (c.recalled, c.missed, c.hallucinated, c.mentioned))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = r / (r + h)
        recall = r / (r + m)
        f1 = 2 * precision * recall / (precision + recall)
        chair_i = h / n
    chair_s = weights @ (c.hallucinated > 0).astype(float) / weights.sum(axis=1)
    return {"precision": precision, "recall": recall, "f1": f1, "chair_i": chair_i, "chair_s": chair_s}


def paired_bootstrap(before: Counts, after: Counts, resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict[str, Interval]:
    """The change of every pooled score (micro scores of captions, or POPE accuracy) from `before`
    to `after` on the same images: the observed difference and the percentile interval of the
    difference over paired resamples."""
    if before.ids != after.ids:
        raise ValueError("the two evaluations are not on the same images in the same order")
    n = len(before.ids)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)
    ones = np.ones((1, n))
    a, b = before.scores(weights), after.scores(weights)
    a0, b0 = before.scores(ones), after.scores(ones)
    tail = (1 - level) / 2 * 100
    out = {}
    for k in a0:
        diff = b[k] - a[k]
        diff = diff[np.isfinite(diff)]
        lo, hi = np.percentile(diff, [tail, 100 - tail])
        out[k] = Interval(float(b0[k][0] - a0[k][0]), float(lo), float(hi), n)
    return out
