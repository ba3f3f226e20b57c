"""The caption benchmarks: `ic` (the judge-free IC scores of judgefree_hub.ic, unchanged) and
`chair` (the same scorer with CHAIR's object list: COCO's 80 categories and CHAIR's synonyms,
Rohrbach et al. 2018). Both caption every image (or read captions made elsewhere) and write one
record per image (per_image.jsonl)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

from .base import (
    BENCHMARKS,
    Benchmark,
    BenchResult,
    CompareRow,
    EvalOptions,
    Responses,
    cell,
    delta_rows,
    get_path,
    grid,
)

CAPTION_TOKENS = 128


def captions_for(items: Sequence, responses: Responses, options: EvalOptions) -> dict[str, str]:
    """One caption per image: greedy from the model, or read from the file ({id, caption})."""
    from ..ic import evaluate as ev

    if responses.file is not None:
        return ev.read_captions(Path(responses.file))
    return ev.caption_images(items, responses.model, options.prompt, show_progress=options.show_progress)


@BENCHMARKS.register("ic")
class ICBench(Benchmark):
    """Precision, recall, F1 and CHAIR of captions against each image's annotated elements, with
    the extended vocabulary (COCO's 80 categories, ~70 everyday objects, the dataset's own)."""

    name = "ic"
    responses = "captions"
    records_file = "per_image.jsonl"
    vocabulary: ClassVar[str] = "extended"

    def score(self, items: Sequence, captions: Mapping[str, str]) -> tuple[list, dict]:
        from .. import ic

        return ic.score_all(items, captions, vocabulary=self.vocabulary)

    def run(self, items: Sequence, responses: Responses, options: EvalOptions) -> BenchResult:
        scores, summary = self.score(items, captions_for(items, responses, options))
        meta = {"vocabulary": self.vocabulary, "prompt": options.prompt or items[0].caption_prompt,
                "options": {"max_new_tokens": _tokens(responses, options)}}
        return BenchResult(summary, [s.to_json() for s in scores], meta)

    def format_table(self, summary: Mapping[str, Any]) -> str:
        from ..ic import format_table

        return format_table(summary)

    def compare(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CompareRow]:
        from ..ic import compare

        return compare(a, b)

    def check_summary(self, summary: Any) -> Optional[str]:
        if not isinstance(summary, dict) or not isinstance(summary.get("overall"), dict):
            return "no 'overall' object"
        return None


def _tokens(responses: Responses, options: EvalOptions) -> Optional[int]:
    if responses.model is None:
        return None
    return responses.model.generation.max_new_tokens


@BENCHMARKS.register("chair")
class ChairBench(ICBench):
    """CHAIR-i and CHAIR-s (Rohrbach et al. 2018): the IC scorer restricted to COCO's 80
    categories with CHAIR's synonyms (`score_all(..., vocabulary="coco")`)."""

    name = "chair"
    vocabulary = "coco"

    def format_table(self, summary: Mapping[str, Any]) -> str:
        o = summary["overall"]
        overall = [["metric", "value"], ["CHAIR-s", cell(o["chair_s"])], ["CHAIR-i", cell(o["chair_i"])],
                   ["recall", cell(o["micro"]["recall"])], ["precision", cell(o["micro"]["precision"])]]
        per_domain = [["domain", "captions", "CHAIR-s", "CHAIR-i", "recall"]] + [
            [d, cell(v["captions"]), cell(v["chair_s"]), cell(v["chair_i"]), cell(v["recall"])]
            for d, v in summary["domains"].items()]
        c = summary["counts"]
        footer = (f"{c['captions']} captions of {c['images']} images; objects: COCO's 80 categories with "
                  f"CHAIR's synonyms, every mention counted (recall and precision: micro, over distinct "
                  f"COCO categories; not part of CHAIR)")
        return "\n\n".join([grid(overall), grid(per_domain), footer])

    def compare(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CompareRow]:
        metrics = ["chair_s", "chair_i", "micro.recall", "micro.precision"]
        rows = [(m, get_path(a, f"overall.{m}"), get_path(b, f"overall.{m}")) for m in metrics]
        for d in sorted(set(a.get("domains", {})) | set(b.get("domains", {}))):
            rows.append((f"domains.{d}.chair_i", _domain(a, d), _domain(b, d)))
        return delta_rows(rows)


def _domain(summary: Mapping[str, Any], domain: str) -> Optional[float]:
    value = summary.get("domains", {}).get(domain, {})
    return value.get("chair_i") if isinstance(value, dict) else None


__all__ = ["CAPTION_TOKENS", "ChairBench", "ICBench", "captions_for"]
