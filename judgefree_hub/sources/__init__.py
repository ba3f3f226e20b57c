"""Image and prompt sources (registry SOURCES): one module per kind, each with its options
fragment `<kind>.schema.json`; the fields every kind has are in base.json."""

from __future__ import annotations

from typing import Iterator

from ..errors import SourceError
from ..recipe import Recipe
from ..records import Sample
from . import folder, hf_dataset, jsonl, world  # noqa: F401  (register the kinds)
from .base import SOURCES, Row, Source, SourceContext, open_rgb
from .folder import package_dir

__all__ = ["SOURCES", "Row", "Source", "SourceContext", "collect_samples", "is_streaming",
           "iter_samples", "open_rgb", "package_dir"]


def iter_samples(recipe: Recipe) -> Iterator[Sample]:
    """All samples of all sources, in recipe order, read lazily (a source may not fit in memory
    or on disk); a key seen before stops the iteration with a SourceError."""
    ctx = SourceContext(base_dir=recipe.base_dir, seed=recipe.seed)
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
            yield sample


def collect_samples(recipe: Recipe) -> list[Sample]:
    """All samples as a list, for callers that need the count or random access."""
    return list(iter_samples(recipe))


def is_streaming(recipe: Recipe) -> bool:
    """True when a source streams (its rows are read as they come and cannot be listed first)."""
    return any(bool(spec.options.get("streaming")) for spec in recipe.sources)
