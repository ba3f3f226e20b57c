"""The judge-free preference-pair builder (arXiv 2411.17760).

For each shard of source samples: decode positive and negative answers for a batch in one
batched forward per step (strategy + backend), score both with the verifier and reverse or drop
(verifier rules), write the shard's members. The build driver (output/driver.py) does the rest:
resume, atomic shards with markers, and the card, plots and manifest once every shard is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from judgefree_hub.card import render_build_card
from judgefree_hub.output import (
    BuildProgress, BuildResult, BuildSteps, Finish, PairStats, ShardContent, ShardRecord,
    encode_image, pair_row, plot_files, read_member, run_build, shard_members, tally_drawn_ratio,
    thumbnail_jpeg,
)
from judgefree_hub.errors import SourceError
from judgefree_hub.recipe import Recipe
from judgefree_hub.records import Dropped, DropReason, LoadedSample, Sample, VerifiedPair
from judgefree_hub.sources import collect_samples, is_streaming, iter_samples

from . import BUILDERS

if TYPE_CHECKING:
    from judgefree_hub.backends import Backend
    from judgefree_hub.distributed import Ranks
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

    def __init__(self, recipe: Recipe, pool: Optional[Sequence[Sample]] = None):
        """`pool`: every sample of the build, for a strategy that needs them (needs_pool)."""
        self.recipe = recipe
        self.pool = pool
        self.pipe: Optional[_Pipeline] = None

    def open(self, samples: Sequence[Sample]) -> None:
        """Load the pipeline, then the backend's self-check on the first readable sample: the
        batched loop must write what the model's own generate() writes (backends/check.py)."""
        from judgefree_hub.backends import Branch, self_check

        self.pipe = _load_pipeline(self.recipe)
        if self.pool is not None:
            self.pipe.strategy.bind(self.pool)
        for sample in samples[:CHECK_ATTEMPTS]:
            loaded, _ = _load_images([sample])
            if loaded:
                row = Branch(sample.prompt, loaded[0].image)
                self_check(self.pipe.backend, row, self.recipe.model.id)
                return

    def shard(self, samples: Sequence[Sample], progress: BuildProgress) -> ShardContent:
        """The shard's members and its statistics (PairStats, for its marker), tallied from
        each row as it is written."""
        members, stats = [], PairStats()
        stats.counts["samples"] = len(samples)
        bs = self.recipe.model.batch_size
        for start in range(0, len(samples), bs):
            batch = samples[start:start + bs]
            loaded, dropped = _load_images(batch)
            judged = list(dropped)
            ratios = {}  # the negative's drawn h, by sample key, for the drops' statistics
            if loaded:
                pairs = self.pipe.strategy.generate(loaded, self.pipe.backend, self.recipe.model.generation)
                judged += self.pipe.verifier.judge(pairs)
                for pair in pairs:
                    tally_drawn_ratio(stats.counts, pair.negative_ratio)
                    ratios[pair.sample.sample.key] = pair.negative_ratio
            for item in judged:
                if isinstance(item, Dropped):
                    stats.add_drop(item.reason, ratios.get(item.key))
                else:
                    members.append(self._members(item, stats))
            progress.update(len(batch), judged)
        return ShardContent(members, stats.to_json())

    def _members(self, vp: VerifiedPair, stats: PairStats) -> dict[str, Any]:
        """The pair's tar members; its row is also tallied into `stats`."""
        r = self.recipe
        key = vp.pair.sample.sample.key
        row = pair_row(vp, r.strategy.kind, r.model.id, self.pipe.verifier.describe_id())
        stats.add_pair(row, key)
        image = encode_image(vp.pair.sample.image, r.output.image_format, r.output.jpeg_quality)
        return shard_members(key, image, r.output.image_format, row)

    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        """stats.json and plots merged from the markers' statistics in shard order: no row is
        read back, so memory does not grow with the number of pairs. The only read is bounded:
        the images of the card's few example pairs, each from the one shard that holds it."""
        merged = PairStats.merged(r.stats for r in records)
        stats = merged.stats()
        card = render_build_card(self.recipe, stats, shards)
        files = plot_files(merged, stats, self._ratio_distribution())
        files.update(self._thumbnails(root, records, stats["examples"]))
        return Finish(stats, card, files)

    def _ratio_distribution(self) -> Optional[Mapping[str, Any]]:
        """The recipe's distribution of the negative's h, for the plot (mix only)."""
        opts = self.recipe.strategy.options
        return opts.get("negative_ratio") if self.recipe.strategy.kind == "mix" else None

    def _thumbnails(self, root: Path, records: Sequence[ShardRecord],
                    examples: Sequence[Mapping[str, Any]]) -> dict[str, bytes]:
        """examples/<key>.jpg of each example pair, from the shard whose marker holds it."""
        fmt, out = self.recipe.output.image_format, {}
        for e in examples:
            record = next(r for r in records
                          if any(c["key"] == e["key"] for kind in r.stats["summary"]["examples"].values()
                                 for c in kind))
            out[e["thumbnail"]] = thumbnail_jpeg(read_member(root / record.file, f"{e['key']}.{fmt}"))
        return out


@BUILDERS.register("preference")
def build(recipe: Recipe, out_root: Path, show_progress: bool = True, ranks: Optional["Ranks"] = None) -> BuildResult:
    """Samples are read as the build goes. A source that is not streamed is read once first, so
    that a bad source fails before anything is written (and to size the progress bar)."""
    from judgefree_hub.strategies import STRATEGIES

    if STRATEGIES.get(recipe.strategy.kind).needs_pool:
        if is_streaming(recipe):
            raise SourceError(f"strategy {recipe.strategy.kind!r} draws partners from every sample of the build; "
                              f"it cannot read a streaming source (set streaming: false)")
        pool = collect_samples(recipe)
        return run_build(recipe, out_root, pool, PreferenceSteps(recipe, pool), show_progress, len(pool), ranks)
    total = None if is_streaming(recipe) else sum(1 for _ in iter_samples(recipe))
    return run_build(recipe, out_root, iter_samples(recipe), PreferenceSteps(recipe), show_progress, total, ranks)


def summary(recipe: Recipe) -> str:
    """What `jfhub validate` says the build will use."""
    return (f"{len(recipe.sources)} source(s), strategy {recipe.strategy.kind}, "
            f"verifier {recipe.verifier.kind}")


build.summary = summary
