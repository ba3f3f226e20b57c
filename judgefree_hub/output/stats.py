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
    }
