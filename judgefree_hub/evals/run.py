"""One evaluation end to end, as `jfhub eval --bench NAME` (and `jfhub loop`, every round) runs it:
load the IC dataset, run the benchmark, and write summary.json (with "bench" and "meta") and the
per-unit JSONL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from .base import BENCHMARKS, Benchmark, EvalOptions, Responses, write_jsonl

if TYPE_CHECKING:
    from ..ic import ICItem


@dataclass
class Report:
    bench: Benchmark
    summary: dict
    """What summary.json holds: the benchmark's summary, "bench" and "meta"."""
    records: list[dict]

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """(records file, summary.json) written in `out_dir` (created if needed)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        records = out_dir / self.bench.records_file
        write_jsonl(records, self.records)
        summary = out_dir / "summary.json"
        summary.write_text(json.dumps(self.summary, indent=2, sort_keys=True) + "\n")
        return records, summary

    def table(self) -> str:
        return self.bench.format_table(self.summary)


def dataset_commit(source: str, revision: Optional[str]) -> Optional[str]:
    """What pins the dataset: "sha256:<manifest.json>" for a build folder, the commit of
    `revision` for a Hub repo (None when the Hub cannot be asked, e.g. offline from a cache)."""
    local = Path(source)
    if local.is_dir():
        from ..output import sha256_file

        manifest = local / "manifest.json"
        return "sha256:" + sha256_file(manifest) if manifest.is_file() else None
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(source, revision=revision).sha
    except Exception:  # noqa: BLE001  (offline, gated: the data already loaded; only the pin is missing)
        return None


def evaluate(bench: str, ic: str, revision: Optional[str], responses: Responses,
             options: Optional[EvalOptions] = None, items: Optional[Sequence["ICItem"]] = None) -> Report:
    """Run benchmark `bench` on the IC dataset `ic` (a build folder, or a Hub repo at `revision`);
    `items`: that dataset already loaded (`jfhub loop` loads it once for all its rounds)."""
    from ..ic import load_ic

    options = options or EvalOptions()
    benchmark = BENCHMARKS.get(bench)()
    items = load_ic(ic, revision) if items is None else items
    result = benchmark.run(items, responses, options)
    model = responses.model
    meta = {
        "bench": benchmark.name, "ic": ic, "revision": revision, "commit": dataset_commit(ic, revision),
        "model": model.id if model else None, "model_revision": model.revision if model else None,
        "backend": model.backend if model else None, benchmark.responses: str(responses.file) if responses.file else None,
        "seed": options.seed, **result.meta,
    }
    return Report(benchmark, {**result.summary, "bench": benchmark.name, "meta": meta}, result.records)


__all__ = ["Report", "dataset_commit", "evaluate"]
