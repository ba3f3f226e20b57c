"""Build statistics: counts tallied per shard while building, score and ratio summaries read
back from the finished shards (so a resumed build reports exactly what it contains)."""

from __future__ import annotations

import json
import statistics
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..records import DropReason


def iter_shard_rows(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    yield json.loads(tar.extractfile(member).read())


def _summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "mean": round(statistics.fmean(values), 6),
        "std": round(statistics.pstdev(values), 6),
        "min": round(min(values), 6),
        "max": round(max(values), 6),
    }


RATIO_BINS = 20  # histogram bins of h over [0, 1]


def tally_drawn_ratio(counts: Counter, h: float | None) -> None:
    """Count one drawn negative ratio into a shard's counts (kept or dropped alike), so the card
    can show the distribution that was drawn, not only what survived the verifier."""
    if h is None:
        return
    counts[f"h_drawn_{min(int(h * RATIO_BINS), RATIO_BINS - 1):02d}"] += 1
    counts["h_drawn_n"] += 1
    counts["h_drawn_sum_micro"] += round(h * 1_000_000)


def _ratio_bins(values: Iterable[float]) -> list[int]:
    bins = [0] * RATIO_BINS
    for h in values:
        bins[min(int(h * RATIO_BINS), RATIO_BINS - 1)] += 1
    return bins


def build_stats(shard_counts: Iterable[Mapping[str, int]], rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    counts: Counter = Counter()
    for c in shard_counts:
        counts.update(c)
    rows = list(rows)
    gaps = [r["chosen_score"] - r["rejected_score"] for r in rows]
    neg_ratios = [r["rejected_ratio"] if not r["reversed"] else r["chosen_ratio"] for r in rows]
    n_rev = sum(r["reversed"] for r in rows)
    return {
        "samples": counts["samples"],
        "pairs": len(rows),
        "reversed": n_rev,
        "reversal_rate": round(n_rev / len(rows), 6) if rows else 0.0,
        "dropped": {reason.value: counts[f"dropped_{reason.value}"] for reason in DropReason},
        "chosen_score": _summary([r["chosen_score"] for r in rows]),
        "rejected_score": _summary([r["rejected_score"] for r in rows]),
        "score_gap": _summary(gaps),
        "negative_ratio": _summary([h for h in neg_ratios if h is not None]),
        "negative_ratio_bins": {
            "drawn": [counts[f"h_drawn_{i:02d}"] for i in range(RATIO_BINS)],
            "kept": _ratio_bins(h for h in neg_ratios if h is not None),
        },
        "negative_ratio_drawn_mean": (round(counts["h_drawn_sum_micro"] / 1_000_000 / counts["h_drawn_n"], 6)
                                      if counts["h_drawn_n"] else None),
    }
