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
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

from judgefree_hub.card import render_build_card
from judgefree_hub.ic import ICRow, read_manifest
from judgefree_hub.output import (
    BuildProgress, BuildResult, BuildSteps, Finish, ShardContent, ShardRecord, encode_image,
    run_build,
)
from judgefree_hub.recipe import Recipe
from judgefree_hub.sources import open_rgb

from . import BUILDERS

if TYPE_CHECKING:
    from judgefree_hub.distributed import Ranks


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


_TALLIES = ("elements_by_kind", "images_by_domain", "sources")


def ic_counts(rows: Sequence[ICRow]) -> dict[str, Any]:
    """One shard's statistics, for its marker: images, and counts by element kind, domain and
    source; summed over the markers, they give stats.json without the manifest in memory.
    Plain sorted dicts: a marker is JSON (and dataclasses.asdict cannot copy a Counter)."""
    tallies = (Counter(e.kind for r in rows for e in r.truth.elements),
               Counter(r.truth.domain for r in rows), Counter(r.source or "unknown" for r in rows))
    return {"samples": len(rows),
            **{k: dict(sorted(c.items())) for k, c in zip(_TALLIES, tallies, strict=True)}}


def merge_ic_stats(shard_stats: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """stats.json from the shards' statistics (ic_counts), in shard order."""
    images, tallies = 0, {k: Counter() for k in _TALLIES}
    for s in shard_stats:
        images += s["samples"]
        for k in _TALLIES:
            tallies[k].update(s[k])
    return {
        "images": images,
        "elements": sum(tallies["elements_by_kind"].values()),
        **{k: dict(sorted(c.items())) for k, c in tallies.items()},
    }


def ic_stats(rows: Sequence[ICRow]) -> dict[str, Any]:
    """stats.json of these rows, as one shard."""
    return merge_ic_stats([ic_counts(rows)])


class ICSteps(BuildSteps[ICRow]):
    """Annotated rows -> image + JSON members; statistics merged from the shards' markers."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe

    def shard(self, rows: Sequence[ICRow], progress: BuildProgress) -> ShardContent:
        out = self.recipe.output
        members = []
        for row in rows:
            image = encode_image(open_rgb(row.image_path), out.image_format, out.jpeg_quality)
            text = json.dumps(ic_record(row, self.recipe.ic.caption_prompt), sort_keys=True, ensure_ascii=False)
            members.append({"__key__": row.truth.id, out.image_format: image, "json": text.encode()})
            progress.update(1)
        return ShardContent(members, ic_counts(rows))

    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        stats = merge_ic_stats(r.stats for r in records)
        return Finish(stats, render_build_card(self.recipe, stats, shards))


@BUILDERS.register("ic")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True, ranks: Optional["Ranks"] = None) -> BuildResult:
    rows = read_manifest(recipe.ic.manifest)  # every problem, with line numbers, before writing
    return run_build(recipe, out_root, rows, ICSteps(recipe), show_progress, len(rows), ranks)


def summary(recipe: Recipe) -> str:
    """What `jfhub validate` says the build will use: the manifest (its lines are checked by the
    build) and the caption prompt."""
    path = recipe.ic.manifest
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.is_file() else 0
    return f"manifest {shown}, {lines} image(s), caption prompt {recipe.ic.caption_prompt!r}"


build.summary = summary
