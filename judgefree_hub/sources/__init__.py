"""Image and prompt sources (registry SOURCES): one module per kind, each with its options
fragment `<kind>.schema.json`; the fields every kind has are in base.json."""

from __future__ import annotations

from ..errors import SourceError
from ..recipe import Recipe
from ..records import Sample
from . import folder, hf_dataset, jsonl, world  # noqa: F401  (register the kinds)
from .base import SOURCES, Row, Source, SourceContext, open_rgb
from .folder import package_dir

__all__ = ["SOURCES", "Row", "Source", "SourceContext", "collect_samples", "open_rgb", "package_dir"]


def collect_samples(recipe: Recipe) -> list[Sample]:
    """All samples of all sources, in recipe order; keys are checked to be unique."""
    ctx = SourceContext(base_dir=recipe.base_dir, seed=recipe.seed)
    out: list[Sample] = []
    seen: dict[str, str] = {}
    for spec in recipe.sources:
        source = SOURCES.get(spec.kind)(spec.options, ctx)
        for sample in source.samples():
            if sample.key in seen:
                raise SourceError(
                    f"source {source.name!r}: duplicate sample key {sample.key!r} "
                    f"(ids {seen[sample.key]!r} and {sample.source_id!r}); ids must be unique"
                )
            seen[sample.key] = sample.source_id
            out.append(sample)
    return out
