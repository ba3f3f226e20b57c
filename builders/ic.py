"""The IC builder: an annotated image set -> versioned WebDataset shards + card.

The paper's IC dataset is hard images from many domains whose captions are scored for precision
and recall of their elements. This builder turns any annotated manifest (ic_manifest.py) into a
dataset that `jfhub eval` (and anyone with `datasets`) can load by version. Shards, resume,
manifest and push work exactly as for preference datasets.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from judgefree_hub.output.folder import BuildFolder, BuildResult
from judgefree_hub.card.render import render_build_card
from judgefree_hub.ic.manifest import ICRow, read_manifest
from judgefree_hub.output.rows import encode_image
from judgefree_hub.recipe.load import Recipe
from judgefree_hub.sources.base import open_rgb

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


def _members(recipe: Recipe, rows: Sequence[ICRow]) -> list[dict]:
    out = recipe.output
    members = []
    for row in rows:
        image = encode_image(open_rgb(row.image_path), out.image_format, out.jpeg_quality)
        text = json.dumps(ic_record(row, recipe.ic.caption_prompt), sort_keys=True, ensure_ascii=False)
        members.append({"__key__": row.truth.id, out.image_format: image, "json": text.encode()})
    return members


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


@BUILDERS.register("ic")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True) -> BuildResult:
    t0 = time.perf_counter()
    rows = read_manifest(recipe.ic.manifest)  # every problem, with line numbers, before writing
    folder = BuildFolder(out_root, recipe)
    folder.claim()
    per = recipe.output.samples_per_shard
    chunks = [(i, rows[s:s + per]) for i, s in enumerate(range(0, len(rows), per))]
    if folder.is_complete():
        folder.check_complete()
        return folder.result(0, len(chunks), t0)
    done = folder.shards.finished()
    todo = [(i, chunk) for i, chunk in chunks if i not in done]
    for index, chunk in todo:
        done[index] = folder.shards.write(index, _members(recipe, chunk), index * per, len(chunk),
                                          {"samples": len(chunk)})
    manifest = folder.manifest([done[i] for i, _ in chunks])
    stats = ic_stats(rows)
    card = render_build_card(recipe, stats, manifest["shards"])
    folder.finish(manifest, stats, card, extra_files={})
    return folder.result(len(todo), len(chunks) - len(todo), t0)
