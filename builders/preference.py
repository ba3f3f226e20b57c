"""The judge-free preference-pair builder (arXiv 2411.17760).

For each shard of source samples: decode positive and negative answers for a batch in one
batched forward per step (strategy + backend), score both with CLIP and reverse or drop
(verifier), write the shard atomically with its marker. Finished shards are skipped on resume;
the card and manifest are written only when every shard is done.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from judgefree_hub.output.folder import BuildFolder, BuildResult
from judgefree_hub.card.render import render_build_card
from judgefree_hub.output.plots import plot_files
from judgefree_hub.output.rows import encode_image, pair_row, shard_members
from judgefree_hub.output.progress import BuildProgress
from judgefree_hub.recipe.load import Recipe
from judgefree_hub.records import Dropped, DropReason, LoadedSample, Sample, VerifiedPair
from judgefree_hub.sources import collect_samples
from judgefree_hub.output.stats import build_stats, iter_shard_rows

from . import BUILDERS

if TYPE_CHECKING:
    from judgefree_hub.backends.hf import HFVisionBackend
    from judgefree_hub.strategies import Strategy
    from judgefree_hub.verifiers import Verifier

log = logging.getLogger(__name__)


@dataclass
class _Pipeline:
    """The loaded pieces; created only when some shard still has to be built."""

    backend: "HFVisionBackend"
    strategy: "Strategy"
    verifier: "Verifier"


def _load_pipeline(recipe: Recipe) -> _Pipeline:
    from judgefree_hub.backends.hf import HFVisionBackend
    from judgefree_hub.strategies import STRATEGIES
    from judgefree_hub.verifiers import VERIFIERS

    return _Pipeline(
        backend=HFVisionBackend.load(recipe.model),
        strategy=STRATEGIES.get(recipe.strategy.name)(recipe.strategy.options, recipe.seed),
        verifier=VERIFIERS.get(recipe.verifier.name).from_options(recipe.verifier.options),
    )


def _load_images(batch: Sequence[Sample]) -> tuple[list[LoadedSample], list[Dropped]]:
    """Corrupt or unreadable images are skipped with their reason; the build goes on."""
    loaded, dropped = [], []
    for s in batch:
        try:
            loaded.append(LoadedSample(s, s.load_image()))
        except (OSError, ValueError) as e:  # PIL raises OSError subclasses, ValueError on bad data
            dropped.append(Dropped(s.key, DropReason.UNREADABLE_IMAGE, f"{s.source_id}: {e}"))
            log.warning("skipping sample %s: unreadable image (%s)", s.key, e)
    return loaded, dropped


def _build_shard(recipe: Recipe, pipe: _Pipeline, samples: Sequence[Sample], progress: BuildProgress):
    members, counts = [], Counter(samples=len(samples))
    bs = recipe.model.batch_size
    for start in range(0, len(samples), bs):
        loaded, dropped = _load_images(samples[start:start + bs])
        judged = list(dropped)
        if loaded:
            pairs = pipe.strategy.generate(loaded, pipe.backend, recipe.model.generation)
            judged += pipe.verifier.judge(pairs)
        for item in judged:
            if isinstance(item, Dropped):
                counts[f"dropped_{item.reason.value}"] += 1
                continue
            members.append(_members(recipe, pipe, item))
            counts["pairs"] += 1
            counts["reversed"] += int(item.reversed)
        progress.update(len(samples[start:start + bs]), judged)
    return members, counts


def _members(recipe: Recipe, pipe: _Pipeline, vp: VerifiedPair) -> dict:
    row = pair_row(vp, recipe.strategy.name, recipe.model.id, pipe.verifier.describe_id())
    out = recipe.output
    image = encode_image(vp.pair.sample.image, out.image_format, out.jpeg_quality)
    return shard_members(vp.pair.sample.sample.key, image, out.image_format, row)


@BUILDERS.register("preference")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True) -> BuildResult:
    t0 = time.perf_counter()
    samples = collect_samples(recipe)  # a bad source fails here, before anything is written
    folder = BuildFolder(out_root, recipe)
    folder.claim()
    per = recipe.output.samples_per_shard
    chunks = [(i, samples[s:s + per]) for i, s in enumerate(range(0, len(samples), per))]
    if folder.is_complete():
        folder.check_complete()
        return folder.result(0, len(chunks), t0)
    done = folder.shards.finished()
    todo = [(i, chunk) for i, chunk in chunks if i not in done]
    pipe: Optional[_Pipeline] = _load_pipeline(recipe) if todo else None
    with BuildProgress(sum(len(c) for _, c in todo), enabled=show_progress) as progress:
        for index, chunk in todo:
            members, counts = _build_shard(recipe, pipe, chunk, progress)
            done[index] = folder.shards.write(index, members, index * per, len(chunk), counts)
    records = [done[i] for i, _ in chunks]
    rows = list(iter_shard_rows(folder.root / r.file for r in records))
    stats = build_stats((r.stats for r in records), rows)
    manifest = folder.manifest(records)
    card = render_build_card(recipe, stats, manifest["shards"])
    folder.finish(manifest, stats, card, extra_files=plot_files(rows))
    return folder.result(len(todo), len(chunks) - len(todo), t0)
