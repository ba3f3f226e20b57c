"""The benchmark extension point (BENCHMARKS) of `jfhub eval`, and what every benchmark shares.

A benchmark takes the images of an IC dataset (`judgefree_hub.ic.ICItem`: image + annotated
elements), gets responses from a model or from a file made elsewhere (`Responses`), and returns
a summary (written as summary.json) and one record per scored unit (a JSONL next to it). Each
summary says which benchmark made it ("bench"), and its "meta" says with what: the dataset (and
its revision and commit), the model or the file, the seed and the options. This module imports
no torch, so the command line can list the benchmarks for free.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence

from ..registry import Registry

if TYPE_CHECKING:
    from ..ic import ICItem
    from ..recipe import ModelSpec

DIGITS = 4

CompareRow = tuple[str, Optional[float], Optional[float], Optional[float]]
"""(metric, a, b, b - a); None where a side has no value."""


@dataclass(frozen=True)
class Responses:
    """Where the responses come from: a model to run (`model`) or a file made elsewhere (`file`:
    captions for a caption benchmark, answers for POPE). Exactly one of the two."""

    model: Optional["ModelSpec"] = None
    file: Optional[Path] = None

    def __post_init__(self):
        if (self.model is None) == (self.file is None):
            raise ValueError("Responses takes exactly one of model or file")


@dataclass(frozen=True)
class EvalOptions:
    """The run's settings; a benchmark reads the ones it has and records them in its meta."""

    seed: int = 0
    prompt: Optional[str] = None
    """IC / CHAIR: the caption prompt (default: the dataset's). POPE: the question template,
    with `{object}` (default: POPE's "Is there a {object} in the image?")."""
    max_new_tokens: Optional[int] = None
    """Longest caption (default 128) or POPE text answer (default 8)."""
    pope_reader: str = "logits"
    pope_per_image: int = 3
    pope_counts: Optional[str] = None
    """POPE: the IC dataset (build folder or Hub repo) whose annotations give popular its
    frequencies and adversarial its co-occurrences, e.g. the model's training data (default:
    the evaluated set's own)."""
    pope_counts_revision: Optional[str] = None
    show_progress: bool = False


@dataclass
class BenchResult:
    """What `Benchmark.run` returns: the summary (no "bench" or "meta": `evaluate` adds them),
    one JSON-able record per scored unit, and the benchmark's own meta (its mode, options)."""

    summary: dict
    records: list[dict]
    meta: dict = field(default_factory=dict)


class Benchmark(abc.ABC):
    """One evaluation on an IC dataset. Registered by name in BENCHMARKS; instances hold no state.

    `responses`: what a file of responses made elsewhere holds ("captions": {id, caption} per
    line, given with --captions; "answers": {question_id, answer}, given with --answers).
    `records_file`: the name of the per-unit JSONL written next to summary.json."""

    name: ClassVar[str]
    responses: ClassVar[str]
    records_file: ClassVar[str]

    @abc.abstractmethod
    def run(self, items: Sequence["ICItem"], responses: Responses, options: EvalOptions) -> BenchResult:
        """Get the responses (run the model, or read the file) and score them."""

    @abc.abstractmethod
    def format_table(self, summary: Mapping[str, Any]) -> str:
        """A written summary (summary.json's content) as plain-text tables."""

    @abc.abstractmethod
    def compare(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CompareRow]:
        """(metric, a, b, b - a) rows for two summaries of this benchmark."""

    @abc.abstractmethod
    def check_summary(self, summary: Any) -> Optional[str]:
        """None if `summary` looks like one this benchmark wrote, else what is missing."""


BENCHMARKS: Registry[type[Benchmark]] = Registry("benchmark")


def summary_bench(summary: Mapping[str, Any]) -> str:
    """The benchmark a summary was written by; summaries from before --bench are IC's."""
    bench = summary.get("bench", "ic")
    return bench if isinstance(bench, str) else "ic"


def rnd(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, DIGITS)


def delta_rows(rows: Sequence[tuple[str, Optional[float], Optional[float]]]) -> list[CompareRow]:
    return [(m, x, y, None if x is None or y is None else rnd(y - x)) for m, x, y in rows]


def get_path(summary: Mapping[str, Any], path: str) -> Any:
    node: Any = summary
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def cell(x: object, signed: bool = False) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:+.{DIGITS}f}" if signed else f"{x:.{DIGITS}f}"
    return str(x)


def grid(rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned: the first to the left, the others (numbers) to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                  enumerate(zip(r, widths, strict=True))).rstrip() for r in rows)


def format_compare(rows: Sequence[CompareRow]) -> str:
    """Compare rows as an aligned table with signed deltas (any benchmark)."""
    return grid([["metric", "a", "b", "delta"]] + [
        [m, cell(x), cell(y), cell(d, signed=True)] for m, x, y, d in rows])


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")


__all__ = ["BENCHMARKS", "BenchResult", "Benchmark", "CompareRow", "EvalOptions", "Responses", "cell",
           "delta_rows", "format_compare", "get_path", "grid", "rnd", "summary_bench", "write_jsonl"]
