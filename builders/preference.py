"""The judge-free preference-pair builder (arXiv 2411.17760).

For each shard of source samples: decode positive and negative answers for a batch in one
batched forward per step (strategy + backend), score both with the verifier and reverse or drop
(verifier rules), write the shard's members. The build driver (output/driver.py) does the rest:
resume, atomic shards with markers, and the card, plots and manifest once every shard is done.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from judgefree_hub.card import render_build_card
from judgefree_hub.output import (
    BuildProgress, BuildResult, BuildSteps, Finish, ShardContent, ShardRecord, build_stats,
    encode_image, iter_shard_rows, pair_row, plot_files, run_build, shard_members, tally_drawn_ratio,
)
from judgefree_hub.recipe import Recipe
from judgefree_hub.records import Dropped, DropReason, LoadedSample, Sample, VerifiedPair
from judgefree_hub.sources import collect_samples

from . import BUILDERS

if TYPE_CHECKING:
    from judgefree_hub.backends import Backend
    from judgefree_hub.strategies import Strategy
    from judgefree_hub.verifiers import Verifier

log = logging.getLogger(__name__)
CHECK_ATTEMPTS = 16  # samples tried for a readable image to self-check the backend on


@dataclass
class _Pipeline:
    """The loaded pieces; created only when some shard still has to be built."""

    backend: "Backend"
    strategy: "Strategy"
    verifier: "Verifier"


def _load_pipeline(recipe: Recipe) -> _Pipeline:
    from judgefree_hub.backends import load_backend
    from judgefree_hub.strategies import STRATEGIES
    from judgefree_hub.verifiers import VERIFIERS

    return _Pipeline(
        backend=load_backend(recipe.model),
        strategy=STRATEGIES.get(recipe.strategy.kind)(recipe.strategy.options, recipe.seed),
        verifier=VERIFIERS.get(recipe.verifier.kind).from_options(recipe.verifier.options),
    )


def _load_images(batch: Sequence[Sample]) -> tuple[list[LoadedSample], list[Dropped]]:
    """An image that cannot be decoded, of whatever cause, is skipped with its reason and the
    build goes on: decoders raise OSError, ValueError, SyntaxError, DecompressionBombError (an
    Exception of its own), MemoryError..., and one bad file must not stop every rerun."""
    loaded, dropped = [], []
    for s in batch:
        try:
            loaded.append(LoadedSample(s, s.load_image()))
        except Exception as e:  # noqa: BLE001  (any decoding failure skips the sample; see above)
            why = f"{type(e).__name__}: {e}"
            dropped.append(Dropped(s.key, DropReason.UNREADABLE_IMAGE, f"{s.source_id}: {why}"))
            log.warning("skipping sample %s: unreadable image (%s)", s.key, why)
    return loaded, dropped


class PreferenceSteps(BuildSteps[Sample]):
    """Samples -> (strategy + backend) -> pairs -> verifier -> shard members."""

    def __init__(self, recipe: Recipe, samples: Sequence[Sample]):
        self.recipe = recipe
        self.samples = samples
        self.pipe: Optional[_Pipeline] = None

    def open(self, samples: Sequence[Sample]) -> None:
        """Load the pipeline, then the backend's self-check on the first readable sample: the
        batched loop must write what the model's own generate() writes (backends/check.py)."""
        from judgefree_hub.backends import Branch, self_check

        self.pipe = _load_pipeline(self.recipe)
        self.pipe.strategy.bind(self.samples)
        for sample in samples[:CHECK_ATTEMPTS]:
            loaded, _ = _load_images([sample])
            if loaded:
                row = Branch(sample.prompt, loaded[0].image)
                self_check(self.pipe.backend, row, self.recipe.model.id)
                return

    def shard(self, samples: Sequence[Sample], progress: BuildProgress) -> ShardContent:
        members, counts = [], Counter(samples=len(samples))
        bs = self.recipe.model.batch_size
        for start in range(0, len(samples), bs):
            batch = samples[start:start + bs]
            loaded, dropped = _load_images(batch)
            judged = list(dropped)
            if loaded:
                pairs = self.pipe.strategy.generate(loaded, self.pipe.backend, self.recipe.model.generation)
                judged += self.pipe.verifier.judge(pairs)
                for pair in pairs:
                    tally_drawn_ratio(counts, pair.negative_ratio)
            for item in judged:
                if isinstance(item, Dropped):
                    counts[f"dropped_{item.reason.value}"] += 1
                    continue
                members.append(self._members(item))
                counts["pairs"] += 1
                counts["reversed"] += int(item.reversed)
            progress.update(len(batch), judged)
        return ShardContent(members, counts)

    def _members(self, vp: VerifiedPair) -> dict[str, Any]:
        r = self.recipe
        row = pair_row(vp, r.strategy.kind, r.model.id, self.pipe.verifier.describe_id())
        image = encode_image(vp.pair.sample.image, r.output.image_format, r.output.jpeg_quality)
        return shard_members(vp.pair.sample.sample.key, image, r.output.image_format, row)

    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        rows = list(iter_shard_rows(root / r.file for r in records))
        stats = build_stats((r.stats for r in records), rows)
        return Finish(stats, render_build_card(self.recipe, stats, shards), plot_files(rows, stats))


@BUILDERS.register("preference")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True) -> BuildResult:
    samples = collect_samples(recipe)  # a bad source fails here, before anything is written
    return run_build(recipe, out_root, samples, PreferenceSteps(recipe, samples), show_progress)
