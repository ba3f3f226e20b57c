"""The layout of one built version, OUT/<name>/<version>/, and its life cycle.

recipe.json (resolved) is written once the models have loaded and passed their self-check,
before the first shard, and pins the folder to one recipe: running another recipe under the
same name and version is refused. manifest.json is written LAST, atomically:
a folder without it is an unfinished build, whatever else it holds.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..errors import BuildError
from ..recipe import Recipe
from .shards import ShardRecord, ShardStore, sha256_file, write_atomic

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuildResult:
    root: Path
    stats: dict
    shards_built: int
    shards_resumed: int
    seconds: float
    final: bool = True
    """False in a process of a launch other than rank 0: it built shards (`shards_built` are its
    own), rank 0 finished the version; `stats` is then empty."""


class BuildFolder:
    def __init__(self, out_root: Path, recipe: Recipe):
        self.recipe = recipe
        self.root = Path(out_root) / recipe.name / recipe.version
        self.shards = ShardStore(self.root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest_shards(self) -> list[dict[str, Any]]:
        return json.loads(self.manifest_path.read_text())["shards"]

    def is_complete(self) -> bool:
        return self.manifest_path.is_file()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this version's lock (`OUT/<name>/.<version>.lock`) for a whole build; a second
        build of the same version at the same time is refused, not run twice over. In a launch
        of many processes, rank 0 holds it for all of them."""
        from filelock import FileLock, Timeout

        self.root.parent.mkdir(parents=True, exist_ok=True)
        path = self.root.parent / f".{self.recipe.version}.lock"
        try:
            with FileLock(path, timeout=0):
                yield
        except Timeout:
            raise BuildError(f"{self.root}: another jfhub build of this version is running (it holds {path}); "
                             f"wait for it to finish or stop it") from None

    def drop_markers(self) -> None:
        """Remove the per-shard markers once the manifest is written (they only serve resuming)."""
        shutil.rmtree(self.shards.progress_dir, ignore_errors=True)

    def check_owner(self) -> None:
        """Refuse (before any work) a folder that holds this version built from another recipe.
        Reads only: a build that fails later has written nothing."""
        path = self.root / "recipe.json"
        if path.is_file() and path.read_text() != self.recipe.resolved_json():
            raise BuildError(
                f"{self.root} holds version {self.recipe.version} built from a different recipe; "
                f"bump 'version' in the recipe (or remove that folder)"
            )

    def claim(self) -> None:
        """Create the folder for this recipe (its recipe.json), or check that it belongs to it."""
        self.check_owner()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "recipe.json"
        if not path.is_file():
            write_atomic(path, self.recipe.resolved_json().encode())

    def check_complete(self) -> None:
        """A complete build must still match its manifest; a changed shard is an error, not
        something to rebuild silently over."""
        for shard in self.manifest_shards():
            path = self.root / shard["file"]
            if not path.is_file() or sha256_file(path) != shard["sha256"]:
                raise BuildError(
                    f"{path}: missing or its sha256 differs from manifest.json; this version was "
                    f"complete and has been modified (remove {self.root} to rebuild it)"
                )

    def manifest(self, records: Sequence[ShardRecord]) -> dict[str, Any]:
        return {
            "name": self.recipe.name,
            "version": self.recipe.version,
            "rows": sum(r.rows for r in records),
            "shards": [
                {"file": r.file, "rows": r.rows, "bytes": r.bytes, "sha256": r.sha256}
                for r in sorted(records, key=lambda r: r.index)
            ],
        }

    def finish(self, manifest: dict[str, Any], stats: dict[str, Any], card: str,
               extra_files: dict[str, bytes]) -> None:
        """Write the extras (plots, example thumbnails) first, so the card never links a file that
        is not there yet; then stats and card; then the manifest (the completion marker); then
        drop the progress markers. Each file is written atomically: a build killed in between
        is unfinished (no manifest) and its rerun writes all of them again."""
        for name, data in extra_files.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.root / name, data)
        write_atomic(self.root / "stats.json", (json.dumps(stats, indent=2, sort_keys=True) + "\n").encode())
        write_atomic(self.root / "README.md", card.encode())
        write_atomic(self.manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        self.drop_markers()

    def result(self, built: int, resumed: int, t0: float) -> BuildResult:
        stats = json.loads((self.root / "stats.json").read_text())
        return BuildResult(self.root, stats, built, resumed, time.perf_counter() - t0)
