"""Mergeable, JSON-serialisable summaries of a stream of numbers.

Each shard keeps these in its marker; the build's statistics and plots merge them (in shard
order) instead of reading every row back, so memory does not grow with the number of samples.
Floats survive the JSON round trip exactly (json writes repr), so a resumed build merges the
same numbers as one built in a single run.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass
class Moments:
    """Count, mean, sum of squared deviations (M2), min and max: Welford per value, Chan et al.'s
    parallel formula per merge, both numerically stable where a running sum of squares is not."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: Optional[float] = None
    max: Optional[float] = None

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)
        self.min = x if self.min is None else min(self.min, x)
        self.max = x if self.max is None else max(self.max, x)

    def merge(self, other: Moments) -> None:
        if not other.n:
            return
        if not self.n:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            self.min, self.max = other.min, other.max
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n, self.min, self.max = n, min(self.min, other.min), max(self.max, other.max)

    @property
    def std(self) -> float:
        """Population standard deviation (statistics.pstdev's)."""
        return math.sqrt(max(self.m2, 0.0) / self.n) if self.n else 0.0

    def summary(self) -> Optional[dict[str, float]]:
        """stats.json's form: mean, population std, min, max to 6 decimals; None when empty."""
        if not self.n:
            return None
        return {"mean": round(self.mean, 6), "std": round(self.std, 6),
                "min": round(self.min, 6), "max": round(self.max, 6)}

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "m2": self.m2, "min": self.min, "max": self.max}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Moments:
        return cls(d["n"], d["mean"], d["m2"], d["min"], d["max"])


@dataclass
class Histogram:
    """Counts per bin [k * width, (k + 1) * width), sparse: only bins that were hit. The width is
    fixed, so shards bin alike and merge by adding counts; a plot re-bins to fewer bars."""

    width: float
    bins: Counter = field(default_factory=Counter)

    def add(self, x: float) -> None:
        """Into bin k with k * width <= x < (k + 1) * width as floats, the plot's own edges
        (x / width alone can disagree with them on an edge: floor(0.009 / 0.001) is 9, but
        9 * 0.001 > 0.009)."""
        k = math.floor(x / self.width)
        k += (x >= (k + 1) * self.width) - (x < k * self.width)
        self.bins[k] += 1

    def merge(self, other: Histogram) -> None:
        if other.width != self.width:
            raise ValueError(f"bin widths {self.width} and {other.width} do not merge")
        self.bins.update(other.bins)

    def rebin(self, bars: int) -> tuple[list[float], list[int]]:
        """At most `bars` equal bars, each a whole number of bins, from the lowest bin hit to
        the highest: (edges, counts), len(edges) == len(counts) + 1; empty lists when empty."""
        if not self.bins:
            return [], []
        lo, hi = min(self.bins), max(self.bins)
        group = -(-(hi - lo + 1) // bars)
        counts = [0] * -(-(hi - lo + 1) // group)
        for k, c in self.bins.items():
            counts[(k - lo) // group] += c
        return [(lo + i * group) * self.width for i in range(len(counts) + 1)], counts

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "bins": {str(k): c for k, c in sorted(self.bins.items())}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Histogram:
        return cls(d["width"], Counter({int(k): c for k, c in d["bins"].items()}))
