"""Build statistics, tallied per shard while building and kept in the shard's marker: counts
(samples, pairs, drops per reason, ratio bins) plus mergeable summaries of the scores, so the
final stats.json and plots are merged from the markers, never from every row held in memory."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from ..records import DropReason
from .summary import Histogram, Moments

RATIO_BINS = 20  # histogram bins of h over [0, 1]
GAP_BIN = 1e-3  # score-gap histogram bin: CLIP gaps span ~0.01-1, so a plot re-bins to ~30 bars
MOMENTS = ("chosen_score", "rejected_score", "score_gap", "negative_ratio")
GAP_SPLITS = ("not_reversed", "reversed")
EXAMPLES = 4  # example pairs shown in the card
EXAMPLE_TEXT_CHARS = 300  # an answer kept for the card is cut to this many characters
EXAMPLES_DIR = "examples"


def score_gap(row: Mapping[str, Any]) -> float:
    """THE score gap, wherever one is shown (stats.json, the card, the plot): chosen_score -
    rejected_score of the row, the verifier's preference margin that DPO trains on."""
    return row["chosen_score"] - row["rejected_score"]


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# Why a pair is shown, and the order that picks it: each a total order over rows (ties broken by
# key), so the best rows of the whole build are the best of every shard's best, however the build
# was cut into shards or spread over processes.
EXAMPLE_KINDS: tuple[tuple[str, Callable[[Mapping[str, Any]], tuple]], ...] = (
    ("reversed by the verifier, largest gap",
     lambda e: (not e["reversed"], -e["gap"], e["key"])),
    ("kept as generated, largest gap",
     lambda e: (e["reversed"], -e["gap"], e["key"])),
    ("closest call (smallest gap)",
     lambda e: (abs(e["gap"]), e["key"])),
    ("typical (a fixed pseudo-random pick)",
     lambda e: (_key_hash(e["key"]), e["key"])),
)


def thumbnail_path(key: str) -> str:
    """Where the card's thumbnail of sample `key` lives, relative to the version folder."""
    return f"{EXAMPLES_DIR}/{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.jpg"


def _example(key: str, row: Mapping[str, Any], h: Optional[float]) -> dict[str, Any]:
    cut = EXAMPLE_TEXT_CHARS
    return {"key": key, "prompt": row["prompt"][:cut], "chosen": row["chosen"][:cut],
            "rejected": row["rejected"][:cut], "chosen_score": row["chosen_score"],
            "rejected_score": row["rejected_score"], "gap": score_gap(row), "h": h,
            "reversed": row["reversed"]}


def _best(examples: Iterable[Mapping[str, Any]], rank: Callable, only_reversed: Optional[bool]) -> list:
    pool = [e for e in examples if only_reversed is None or e["reversed"] == only_reversed]
    return sorted(pool, key=rank)[:EXAMPLES]


def _kind_filter(kind: str) -> Optional[bool]:
    return {EXAMPLE_KINDS[0][0]: True, EXAMPLE_KINDS[1][0]: False}.get(kind)


def _candidates(examples: Iterable[Mapping[str, Any]]) -> dict[str, list]:
    """Each kind's best EXAMPLES rows: all a merge needs to pick the build's examples."""
    examples = list(examples)
    return {kind: _best(examples, rank, _kind_filter(kind)) for kind, rank in EXAMPLE_KINDS}


def pick_examples(candidates: Mapping[str, list]) -> list[dict[str, Any]]:
    """Up to EXAMPLES pairs: the best of each kind in turn, then more typical ones; a pair is
    shown once. Depends only on the candidates, which depend only on the rows."""
    picked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for kind, _ in EXAMPLE_KINDS:
        for e in candidates.get(kind, []):
            if e["key"] not in seen:
                picked.append({**e, "why": kind, "thumbnail": thumbnail_path(e["key"])})
                seen.add(e["key"])
                break
    typical = EXAMPLE_KINDS[-1][0]
    for e in candidates.get(typical, []):
        if len(picked) >= EXAMPLES:
            break
        if e["key"] not in seen:
            picked.append({**e, "why": typical, "thumbnail": thumbnail_path(e["key"])})
            seen.add(e["key"])
    return picked[:EXAMPLES]


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

    `counts` are integers summed across shards (drops also by reason and binned h);
    `moments` summarise the scores, the score gap (`score_gap`: chosen - rejected) and the kept
    negative's ratio; `gaps` bin that same gap, split by reversal so a plot can colour the
    reversed pairs; `examples` are each example kind's best rows (a bounded number per shard,
    EXAMPLES per kind), from which the card's example pairs are picked."""

    counts: Counter = field(default_factory=Counter)
    moments: dict[str, Moments] = field(default_factory=lambda: {k: Moments() for k in MOMENTS})
    gaps: dict[str, Histogram] = field(
        default_factory=lambda: {k: Histogram(GAP_BIN) for k in GAP_SPLITS})
    examples: dict[str, list] = field(default_factory=dict)

    def add_pair(self, row: Mapping[str, Any], key: Optional[str] = None) -> None:
        """One kept pair, from its row (rows.pair_row): exactly what the shard holds; with the
        sample's `key` it is also a candidate example for the card."""
        rev = row["reversed"]
        gap = score_gap(row)
        h: Optional[float] = row["chosen_ratio"] if rev else row["rejected_ratio"]
        self.counts["pairs"] += 1
        self.counts["reversed"] += int(rev)
        values = (row["chosen_score"], row["rejected_score"], gap, h)
        for name, x in zip(MOMENTS, values, strict=True):
            if x is not None:
                self.moments[name].add(x)
        if h is not None:
            self.counts[f"h_kept_{_ratio_bin(h):02d}"] += 1
        self.gaps["reversed" if rev else "not_reversed"].add(gap)
        if key is not None:
            self.examples = _candidates([*self._flat_examples(), _example(key, row, h)])

    def _flat_examples(self) -> list[dict[str, Any]]:
        unique = {e["key"]: e for kind in sorted(self.examples) for e in self.examples[kind]}
        return [unique[k] for k in sorted(unique)]

    def add_drop(self, reason: DropReason, h: Optional[float] = None) -> None:
        """One dropped sample, with the negative's ratio when one was drawn for it, so the card
        can say at which h each kind of drop happens."""
        self.counts[f"dropped_{reason.value}"] += 1
        if h is not None:
            self.counts[f"h_dropped_{reason.value}_{_ratio_bin(h):02d}"] += 1
            self.counts[f"h_dropped_{reason.value}_sum_micro"] += round(h * 1_000_000)

    def merge(self, other: PairStats) -> None:
        self.counts.update(other.counts)
        for k, m in other.moments.items():
            self.moments[k].merge(m)
        for k, h in other.gaps.items():
            self.gaps[k].merge(h)
        if other.examples:
            self.examples = _candidates([*self._flat_examples(), *other._flat_examples()])

    def to_json(self) -> dict[str, Any]:
        """Flat counts (as markers held before) plus the summaries under "summary"."""
        summary = {k: m.to_json() for k, m in self.moments.items()}
        summary["score_gap_hist"] = {k: h.to_json() for k, h in self.gaps.items()}
        summary["examples"] = {k: self.examples[k] for k in sorted(self.examples)}
        return {**dict(sorted(self.counts.items())), "summary": summary}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PairStats:
        """KeyError "summary" for a marker written before summaries were kept."""
        s = d["summary"]
        return cls(Counter({k: v for k, v in d.items() if k != "summary"}),
                   {k: Moments.from_json(s[k]) for k in MOMENTS},
                   {k: Histogram.from_json(s["score_gap_hist"][k]) for k in GAP_SPLITS},
                   {k: list(v) for k, v in s["examples"].items()})

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
            "negative_ratio_dropped": self._dropped_ratios(),
            "score_gap_definition": "chosen_score - rejected_score",
            "examples": pick_examples(self.examples),
        }

    def _dropped_ratios(self) -> dict[str, Any]:
        """Per drop reason with any drawn h: the h bins and mean of the samples dropped for it."""
        c, out = self.counts, {}
        for reason in DropReason:
            bins = [c[f"h_dropped_{reason.value}_{i:02d}"] for i in range(RATIO_BINS)]
            if sum(bins):
                mean = c[f"h_dropped_{reason.value}_sum_micro"] / 1_000_000 / sum(bins)
                out[reason.value] = {"bins": bins, "mean": round(mean, 6)}
        return out


def build_stats(shard_stats: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """stats.json from the shards' markers' statistics, in shard order."""
    return PairStats.merged(shard_stats).stats()
