"""Build statistics, tallied per shard while building and kept in the shard's marker: counts
(samples, pairs, drops per reason, ratio bins) plus mergeable summaries of the scores, so the
final stats.json and plots are merged from the markers, never from every row held in memory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from ..records import DropReason
from .summary import Histogram, Moments

RATIO_BINS = 20  # histogram bins of h over [0, 1]
GAP_BIN = 1e-3  # score-gap histogram bin: CLIP gaps span ~0.01-1, so a plot re-bins to ~30 bars
MOMENTS = ("chosen_score", "rejected_score", "score_gap", "negative_ratio")
GAP_SPLITS = ("not_reversed", "reversed")


def _ratio_bin(h: float) -> int:
    return min(int(h * RATIO_BINS), RATIO_BINS - 1)


def tally_drawn_ratio(counts: Counter, h: float | None) -> None:
    """Count one drawn negative ratio into a shard's counts (kept or dropped alike), so the card
    can show the distribution that was drawn, not only what survived the verifier."""
    if h is None:
        return
    counts[f"h_drawn_{_ratio_bin(h):02d}"] += 1
    counts["h_drawn_n"] += 1
    counts["h_drawn_sum_micro"] += round(h * 1_000_000)


@dataclass
class PairStats:
    """One shard's statistics (its marker's `stats`), or a whole build's once merged.

    `counts` are integers summed across shards; `moments` summarise the scores, the score gap
    (chosen - rejected) and the kept negative's ratio; `gaps` bin the plotted gap, positive -
    negative (< 0: reversed), split by reversal so a plot can colour the reversed pairs."""

    counts: Counter = field(default_factory=Counter)
    moments: dict[str, Moments] = field(default_factory=lambda: {k: Moments() for k in MOMENTS})
    gaps: dict[str, Histogram] = field(
        default_factory=lambda: {k: Histogram(GAP_BIN) for k in GAP_SPLITS})

    def add_pair(self, row: Mapping[str, Any]) -> None:
        """One kept pair, from its row (rows.pair_row): exactly what the shard holds."""
        rev = row["reversed"]
        gap = row["chosen_score"] - row["rejected_score"]
        h: Optional[float] = row["chosen_ratio"] if rev else row["rejected_ratio"]
        self.counts["pairs"] += 1
        self.counts["reversed"] += int(rev)
        values = (row["chosen_score"], row["rejected_score"], gap, h)
        for name, x in zip(MOMENTS, values, strict=True):
            if x is not None:
                self.moments[name].add(x)
        if h is not None:
            self.counts[f"h_kept_{_ratio_bin(h):02d}"] += 1
        self.gaps["reversed" if rev else "not_reversed"].add(-gap if rev else gap)

    def add_drop(self, reason: DropReason) -> None:
        self.counts[f"dropped_{reason.value}"] += 1

    def merge(self, other: PairStats) -> None:
        self.counts.update(other.counts)
        for k, m in other.moments.items():
            self.moments[k].merge(m)
        for k, h in other.gaps.items():
            self.gaps[k].merge(h)

    def to_json(self) -> dict[str, Any]:
        """Flat counts (as markers held before) plus the summaries under "summary"."""
        summary = {k: m.to_json() for k, m in self.moments.items()}
        summary["score_gap_hist"] = {k: h.to_json() for k, h in self.gaps.items()}
        return {**dict(sorted(self.counts.items())), "summary": summary}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PairStats:
        """KeyError "summary" for a marker written before summaries were kept."""
        s = d["summary"]
        return cls(Counter({k: v for k, v in d.items() if k != "summary"}),
                   {k: Moments.from_json(s[k]) for k in MOMENTS},
                   {k: Histogram.from_json(s["score_gap_hist"][k]) for k in GAP_SPLITS})

    @classmethod
    def merged(cls, shard_stats: Iterable[Mapping[str, Any]]) -> PairStats:
        """The shards' statistics merged in the order given (shard order: reproducible floats)."""
        out = cls()
        for s in shard_stats:
            out.merge(cls.from_json(s))
        return out

    def stats(self) -> dict[str, Any]:
        """stats.json."""
        c, m = self.counts, self.moments
        drawn_mean = c["h_drawn_sum_micro"] / 1_000_000 / c["h_drawn_n"] if c["h_drawn_n"] else None
        return {
            "samples": c["samples"],
            "pairs": c["pairs"],
            "reversed": c["reversed"],
            "reversal_rate": round(c["reversed"] / c["pairs"], 6) if c["pairs"] else 0.0,
            "dropped": {reason.value: c[f"dropped_{reason.value}"] for reason in DropReason},
            **{k: m[k].summary() for k in MOMENTS},
            "negative_ratio_bins": {
                "drawn": [c[f"h_drawn_{i:02d}"] for i in range(RATIO_BINS)],
                "kept": [c[f"h_kept_{i:02d}"] for i in range(RATIO_BINS)],
            },
            "negative_ratio_drawn_mean": None if drawn_mean is None else round(drawn_mean, 6),
        }


def build_stats(shard_stats: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """stats.json from the shards' markers' statistics, in shard order."""
    return PairStats.merged(shard_stats).stats()
