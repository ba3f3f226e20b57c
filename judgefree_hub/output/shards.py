"""Deterministic, atomic WebDataset shards with per-shard completion markers (resume).

A shard is written to a temporary name with fixed tar metadata (mtime 0, fixed owner and mode),
fsynced and renamed; only then is its marker written (atomically), holding rows, bytes, sha256,
the range of source samples it covers and that range's statistics. On resume a shard counts as
finished only if its marker exists AND the file's sha256 matches, so a shard cut short by a kill
is never taken for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

from ..errors import BuildError

SHARD_NAME = "train-{:06d}.tar"
TAR_MTIME = 0


@dataclass(frozen=True)
class ShardRecord:
    index: int
    file: str
    """Path relative to the build folder, e.g. data/train-000000.tar."""
    rows: int
    bytes: int
    sha256: str
    first_sample: int
    num_samples: int
    stats: Mapping[str, Any] = field(default_factory=dict)
    """The builder's statistics of this shard (JSON: counts and summaries)."""
    format: int = 1
    """MARKER_FORMAT of the jfhub that wrote it (markers without one are format 1)."""


MARKER_FORMAT = 3
"""2: `stats` holds mergeable summaries (output/summary.py); 3: also the score gap as chosen -
rejected, the h of dropped samples and the candidate example pairs. A marker of another format
is dropped on resume and its shard rebuilt (same bytes), since finish merges the summaries."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_mode() -> int:
    """What open() would give a new file: 0o666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A new file written in place of `path` all at once: a uniquely named temporary sibling,
    created exclusively (never through a planted symlink, never shared by two writers), fsynced,
    then renamed over `path`. Readers see the old file or the whole new one; on error the
    temporary file is removed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes it private; outputs get the usual mode
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """`data` as the new content of `path`, all at once (see atomic_file)."""
    with atomic_file(path) as f:
        f.write(data)


class ShardStore:
    """The shards and markers of one build folder: `data/` and `.progress/`."""

    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data"
        self.progress_dir = root / ".progress"

    def finished(self) -> dict[int, ShardRecord]:
        """Shards whose marker exists and whose bytes match it; anything else is removed."""
        done: dict[int, ShardRecord] = {}
        if self.progress_dir.is_dir():
            for marker in sorted(self.progress_dir.glob("*.json")):
                rec = ShardRecord(**json.loads(marker.read_text()))
                path = self.root / rec.file
                if rec.format == MARKER_FORMAT and path.is_file() and path.stat().st_size == rec.bytes and sha256_file(path) == rec.sha256:
                    done[rec.index] = rec
                else:
                    marker.unlink()
        if self.data_dir.is_dir():
            for path in self.data_dir.iterdir():  # half-written or unmarked shards
                index = _shard_index(path.name)
                if index is None or index not in done:
                    path.unlink()
        return done

    def records(self, n: int) -> list[ShardRecord]:
        """The markers of shards 0..n-1, each written after its shard's bytes (by whichever
        process built it); a missing one is an error, not a gap in the dataset."""
        out = []
        for index in range(n):
            marker = self.progress_dir / f"{Path(SHARD_NAME.format(index)).stem}.json"
            try:
                out.append(ShardRecord(**json.loads(marker.read_text())))
            except FileNotFoundError:
                raise BuildError(f"{marker}: missing; shard {index} was not written (was the output folder "
                                 f"shared by every process?)") from None
        return out

    def write(self, index: int, samples: Iterable[Mapping[str, bytes]], first_sample: int,
              num_samples: int, stats: Mapping[str, Any]) -> ShardRecord:
        """Write one shard (members: '__key__' plus extension -> bytes) and then its marker."""
        from webdataset import TarWriter  # imported here: it takes a second; readers never need it

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.progress_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / SHARD_NAME.format(index)
        rows = 0
        with atomic_file(path) as f:
            with TarWriter(f, user="jfhub", group="jfhub", mode=0o444, encoder=False, mtime=TAR_MTIME) as tw:
                for sample in samples:
                    tw.write(dict(sample))
                    rows += 1
        rec = ShardRecord(index=index, file=f"data/{path.name}", rows=rows, bytes=path.stat().st_size,
                          sha256=sha256_file(path), first_sample=first_sample,
                          num_samples=num_samples, stats=dict(sorted(stats.items())),
                          format=MARKER_FORMAT)
        write_atomic(self.progress_dir / f"{path.stem}.json", json.dumps(asdict(rec), sort_keys=True).encode())
        return rec


def read_member(path: Path, name: str) -> bytes:
    """One member of a shard, read by streaming through the tar until it is found (a bounded
    read: nothing else is kept); a BuildError when the shard does not hold it."""
    import tarfile

    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            if member.name == name:
                return tar.extractfile(member).read()
    raise BuildError(f"{path}: no member {name!r}")


def _shard_index(name: str) -> int | None:
    if name.startswith("train-") and name.endswith(".tar") and name[6:-4].isdigit():
        return int(name[6:-4])
    return None
