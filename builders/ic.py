"""The IC builder: an annotated image set -> versioned WebDataset shards + card.

The paper's IC dataset is hard images from many domains whose captions are scored for precision
and recall of their elements. This builder turns any annotated manifest (ic/manifest.py) into a
dataset that `jfhub eval` (and anyone with `datasets`) can load by version. Shards, resume,
manifest and push work exactly as for preference datasets (the same build driver).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from judgefree_hub.card import render_build_card
from judgefree_hub.ic import ICRow, read_manifest
from judgefree_hub.output import (
    BuildProgress, BuildResult, BuildSteps, Finish, ShardContent, ShardRecord, encode_image,
    run_build,
)
from judgefree_hub.recipe import Recipe
from judgefree_hub.sources import open_rgb

from . import BUILDERS


def ic_record(row: ICRow, caption_prompt: str) -> dict[str, Any]:
    """The JSON of one IC sample; every field present, `of` null where not given."""
    return {
        "id": row.truth.id,
        "domain": row.truth.domain,
        "elements": [{**asdict(e), "synonyms": list(e.synonyms)} for e in row.truth.elements],
        "reference_caption": row.reference_caption,
        "source": row.source,
        "caption_prompt": caption_prompt,
    }


def ic_stats(rows: Sequence[ICRow]) -> dict[str, Any]:
    kinds = Counter(e.kind for r in rows for e in r.truth.elements)
    domains = Counter(r.truth.domain for r in rows)
    return {
        "images": len(rows),
        "elements": sum(kinds.values()),
        "elements_by_kind": dict(sorted(kinds.items())),
        "images_by_domain": dict(sorted(domains.items())),
        "sources": dict(sorted(Counter(r.source or "unknown" for r in rows).items())),
    }


class ICSteps(BuildSteps[ICRow]):
    """Annotated rows -> image + JSON members; statistics from the manifest itself."""

    def __init__(self, recipe: Recipe, rows: Sequence[ICRow]):
        self.recipe = recipe
        self.rows = rows

    def shard(self, rows: Sequence[ICRow], progress: BuildProgress) -> ShardContent:
        out = self.recipe.output
        members = []
        for row in rows:
            image = encode_image(open_rgb(row.image_path), out.image_format, out.jpeg_quality)
            text = json.dumps(ic_record(row, self.recipe.ic.caption_prompt), sort_keys=True, ensure_ascii=False)
            members.append({"__key__": row.truth.id, out.image_format: image, "json": text.encode()})
            progress.update(1)
        return ShardContent(members, {"samples": len(rows)})

    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        stats = ic_stats(self.rows)
        return Finish(stats, render_build_card(self.recipe, stats, shards))


@BUILDERS.register("ic")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True) -> BuildResult:
    rows = read_manifest(recipe.ic.manifest)  # every problem, with line numbers, before writing
    return run_build(recipe, out_root, rows, ICSteps(recipe, rows), show_progress)
