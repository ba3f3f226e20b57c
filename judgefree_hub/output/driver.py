"""The one build driver: every builder's claim / resume / write / finish sequence.

A builder hands it the items to build from (samples, annotated images) and a `BuildSteps`
object that says how to turn one shard's items into tar members and what to finish with. The
driver owns the order that makes builds resumable and honest: refuse an empty build, hold the version's
lock (a second build of it at the same time is refused), refuse a folder of another recipe, cut
the items into shards (`output.samples_per_shard` each, never depending on what was built
before), skip shards whose markers and bytes match, load and self-check models only if a shard
is missing, then claim the folder, write each shard atomically with its marker, and write the
manifest (the completion marker) last.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Mapping, Sequence, TypeVar

from ..errors import BuildError
from ..recipe import Recipe
from .folder import BuildFolder, BuildResult
from .progress import BuildProgress
from .shards import ShardRecord

T = TypeVar("T")


@dataclass(frozen=True)
class ShardContent:
    """One shard as a builder made it: tar members ('__key__' + extension -> bytes) and counts
    (samples, pairs, drops per reason) kept in the shard's marker for the final statistics."""

    members: list[dict[str, Any]]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Finish:
    """What completes a version besides its shards: statistics, card, extra files (plots)."""

    stats: dict[str, Any]
    card: str
    files: Mapping[str, bytes] = field(default_factory=dict)


class BuildSteps(abc.ABC, Generic[T]):
    """A builder's own stages; everything else is the driver's."""

    def open(self, items: Sequence[T]) -> None:
        """Load what shards need (models, verifiers) and check them on real input (`items`: those
        of the shards still to build, in order); called only when some shard is missing, and
        before anything is written, so a model that fails to load or to check leaves nothing."""

    @abc.abstractmethod
    def shard(self, items: Sequence[T], progress: BuildProgress) -> ShardContent:
        """Build one shard from its items; advance `progress` as items are done."""

    @abc.abstractmethod
    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        """Statistics, card and extra files of the complete version, from every shard's record
        (and the shards in `root`); `shards` are the manifest's entries, in order."""


@dataclass(frozen=True)
class ShardPlan:
    index: int
    first: int
    """Index of the shard's first item."""
    count: int


def shard_plans(n_items: int, per_shard: int) -> list[ShardPlan]:
    """Consecutive runs of `per_shard` items: shard i always covers the same items."""
    return [ShardPlan(i, first, min(per_shard, n_items - first))
            for i, first in enumerate(range(0, n_items, per_shard))]


def run_build(recipe: Recipe, out_root: Path, items: Sequence[T], steps: BuildSteps[T],
              show_progress: bool = True) -> BuildResult:
    """Build (or resume, or confirm) the version of `recipe` under `out_root` from `items`."""
    t0 = time.perf_counter()
    if not items:
        raise BuildError(f"{recipe.name} {recipe.version}: the recipe's inputs give no samples (an empty "
                         f"manifest, folder or dataset?); an empty version is not built")
    folder = BuildFolder(out_root, recipe)
    with folder.lock():
        folder.check_owner()
        plans = shard_plans(len(items), recipe.output.samples_per_shard)
        if folder.is_complete():
            folder.check_complete()
            folder.drop_markers()  # left by a build killed just after its manifest was written
            return folder.result(0, len(plans), t0)
        done = folder.shards.finished()
        todo = [p for p in plans if p.index not in done]
        if todo:
            steps.open([item for p in todo for item in items[p.first:p.first + p.count]])
        folder.claim()
        with BuildProgress(sum(p.count for p in todo), enabled=show_progress) as progress:
            for p in todo:
                content = steps.shard(items[p.first:p.first + p.count], progress)
                done[p.index] = folder.shards.write(p.index, content.members, p.first, p.count, content.counts)
        records = [done[p.index] for p in plans]
        manifest = folder.manifest(records)
        end = steps.finish(folder.root, records, manifest["shards"])
        folder.finish(manifest, end.stats, end.card, dict(end.files))
        return folder.result(len(todo), len(plans) - len(todo), t0)
