"""The one build driver: every builder's claim / resume / write / finish sequence.

A builder hands it the items to build from (samples, annotated images) and a `BuildSteps`
object that says how to turn one shard's items into tar members and what to finish with. The
driver owns the order that makes builds resumable and honest: refuse an empty build, hold the version's
lock (a second build of it at the same time is refused), refuse a folder of another recipe, cut
the items into shards (`output.samples_per_shard` each, never depending on what was built
before), skip shards whose markers and bytes match, load and self-check models only if a shard
is missing, then claim the folder, write each shard atomically with its marker, and write the
manifest (the completion marker) last. The items are read as they go, never held.

Many processes (distributed.py) run the same sequence on the same items: rank 0 does the checks
and the finishing, and each process builds the missing shards it claims; shards depend only on
their items, so any number of processes writes the same bytes.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar

from ..distributed import Coordinator, Ranks, SoloCoordinator
from ..errors import BuildError
from ..recipe import Recipe
from .folder import BuildFolder, BuildResult
from .progress import BuildProgress
from .shards import ShardRecord

T = TypeVar("T")


@dataclass(frozen=True)
class ShardContent:
    """One shard as a builder made it: tar members ('__key__' + extension -> bytes) and its
    statistics (counts and mergeable summaries, JSON-able), kept in the shard's marker so the
    final statistics merge the markers instead of reading every row back."""

    members: list[dict[str, Any]]
    counts: Mapping[str, Any]


@dataclass(frozen=True)
class Finish:
    """What completes a version besides its shards: statistics, card, extra files (plots)."""

    stats: dict[str, Any]
    card: str
    files: Mapping[str, bytes] = field(default_factory=dict)


class BuildSteps(abc.ABC, Generic[T]):
    """A builder's own stages; everything else is the driver's."""

    def open(self, items: Sequence[T]) -> None:
        """Load what shards need (models, verifiers) and check them on real input (`items`: the
        first shard this process builds); called only when this process has a shard to build,
        and before it writes anything, so a model that fails to load or to check leaves nothing."""

    @abc.abstractmethod
    def shard(self, items: Sequence[T], progress: BuildProgress) -> ShardContent:
        """Build one shard from its items; advance `progress` as items are done."""

    @abc.abstractmethod
    def finish(self, root: Path, records: Sequence[ShardRecord], shards: Sequence[Mapping[str, Any]]) -> Finish:
        """Statistics, card and extra files of the complete version, merged from every shard's
        record (its `stats`), not from the rows, so memory does not grow with the dataset;
        `shards` are the manifest's entries, in order."""


_END = object()


def chunks(items: Iterable[T], per_shard: int) -> Iterator[list[T]]:
    """Consecutive runs of `per_shard` items, read as they go: shard i always covers items
    [i * per_shard, (i + 1) * per_shard), whoever builds it and whatever was built before."""
    it = iter(items)
    while chunk := list(itertools.islice(it, per_shard)):
        yield chunk


def run_build(recipe: Recipe, out_root: Path, items: Iterable[T], steps: BuildSteps[T],
              show_progress: bool = True, total: Optional[int] = None, ranks: Optional[Ranks] = None,
              coordinator: Optional[Coordinator] = None) -> BuildResult:
    """Build (or resume, or confirm) the version of `recipe` under `out_root` from `items`.

    `items` are read once, lazily (a stream need not fit in memory); `total`, when known, only
    sizes the progress bar. With `ranks` of a launch (torchrun, srun...), every process reads
    the same items and takes the missing shards one at a time from a shared counter; rank 0
    checks the folder first and finishes the version once every shard is written.
    `coordinator` replaces the launch's store (tests run ranks as threads on one store)."""
    t0 = time.perf_counter()
    items = iter(items)
    first = next(items, _END)
    if first is _END:
        raise BuildError(f"{recipe.name} {recipe.version}: the recipe's inputs give no samples (an empty "
                         f"manifest, folder or dataset?); an empty version is not built")
    items = itertools.chain([first], items)
    ranks = coordinator.ranks if coordinator else ranks or Ranks()
    coord = coordinator or (SoloCoordinator() if ranks.world == 1 else
                            Coordinator.connect(ranks, recipe.name, recipe.version))
    folder = BuildFolder(out_root, recipe)
    if not ranks.is_main:
        return _follow(folder, coord, items, steps, t0)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder.lock())
            setup = _inspect(folder)
        except BaseException as e:
            coord.publish_setup({"error": str(e) or type(e).__name__})
            raise
        coord.publish_setup(setup)
        if setup["complete"]:
            return folder.result(0, setup["shards"], t0)
        done = frozenset(setup["done"])
        left = None if total is None or ranks.world > 1 else max(total - setup["done_samples"], 0)
        with _reporting(coord), BuildProgress(left, enabled=show_progress) as progress:
            _build_missing(folder, coord, items, steps, done, progress)
            n = coord.wait_built(done)
        records = folder.shards.records(n)
        manifest = folder.manifest(records)
        end = steps.finish(folder.root, records, manifest["shards"])
        folder.finish(manifest, end.stats, end.card, dict(end.files))
        resumed = sum(1 for i in done if i < n)
        return folder.result(n - resumed, resumed, t0)


def _inspect(folder: BuildFolder) -> dict[str, Any]:
    """Rank 0's look at the folder before anyone writes: whose it is, whether it is complete,
    which shards are finished (anything half-written is removed here, while no one writes)."""
    folder.check_owner()
    if folder.is_complete():
        folder.check_complete()
        folder.drop_markers()  # left by a build killed just after its manifest was written
        return {"complete": True, "shards": len(folder.manifest_shards())}
    done = folder.shards.finished()
    return {"complete": False, "done": sorted(done), "done_samples": sum(r.num_samples for r in done.values())}


def _follow(folder: BuildFolder, coord: Coordinator, items: Iterable[T], steps: BuildSteps[T],
            t0: float) -> BuildResult:
    """A rank other than 0: wait for rank 0's verdict on the folder, then take shards."""
    setup = coord.read_setup()
    if "error" in setup:
        raise BuildError(f"stopped: rank 0: {setup['error']}")
    if setup["complete"]:
        return folder.result(0, setup["shards"], t0)
    with _reporting(coord), BuildProgress(None, enabled=False) as progress:
        built = _build_missing(folder, coord, items, steps, frozenset(setup["done"]), progress)
    return BuildResult(folder.root, {}, built, 0, time.perf_counter() - t0, final=False)


@contextlib.contextmanager
def _reporting(coord: Coordinator | SoloCoordinator) -> Iterator[None]:
    """Any failure in this process stops the others at their next shard."""
    try:
        yield
    except BaseException as e:
        with contextlib.suppress(Exception):  # the store may be gone with the process that held it
            coord.fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise


def _build_missing(folder: BuildFolder, coord: Coordinator | SoloCoordinator, items: Iterable[T],
                   steps: BuildSteps[T], done: frozenset[int], progress: BuildProgress) -> int:
    """Read the items to their end; build each missing shard this process claims. Claims are
    positions in the list of missing shards, handed out in increasing order, so each process
    reads forward only and skips other processes' shards without loading their images."""
    recipe = folder.recipe
    per_shard = recipe.output.samples_per_shard
    target, position, built, index, opened = coord.claim(), 0, 0, -1, False
    for index, chunk in enumerate(chunks(items, per_shard)):
        if index in done:
            continue
        position += 1
        if position - 1 != target:
            continue
        if not opened:
            steps.open(chunk)  # models load and self-check before this process writes anything
            folder.claim()
            opened = True
        content = steps.shard(chunk, progress)
        folder.shards.write(index, content.members, index * per_shard, len(chunk), content.counts)
        coord.built_one()
        built += 1
        target = coord.claim()
    coord.set_shard_count(index + 1)
    coord.leave()
    return built
