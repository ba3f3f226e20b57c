"""Every image file of a folder, optionally inside an installed package (offline photos)."""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import SourceError
from .base import SOURCES, Row, Source, SourceContext, open_rgb


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(
            f"package {package!r} is not installed (pip install it, e.g. the 'demo' extra)")
    return Path(list(spec.submodule_search_locations)[0])


@SOURCES.register("folder")
class FolderSource(Source):
    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        super().__init__(options, ctx)
        root = package_dir(options["package"]) if options["package"] else ctx.base_dir
        self.root = root / options["path"]
        self.include = tuple(options["include"])
        self.recursive = options["recursive"]

    def rows(self) -> Iterator[Row]:
        if not self.root.is_dir():
            raise SourceError(f"source {self.name!r}: no such folder: {self.root}")
        found = False
        for rel in self._walk(self.root, ""):
            found = True
            yield Row(id=rel, load_image=functools.partial(open_rgb, self.root / rel))
        if not found:
            raise SourceError(
                f"source {self.name!r}: no file in {self.root} matches {list(self.include)}")

    def _walk(self, folder: Path, prefix: str) -> Iterator[str]:
        """Matching files as relative posix paths, listing one folder at a time (memory holds the
        names of the open folders, not of the whole tree), in the order of sorting the full
        paths: a folder's entries sort by name with '/' after folder names ("a-b" < "a/" < "ab")."""
        def key(p: Path) -> str:  # symlinked folders are not entered, as rglob does not
            return p.name + "/" if p.is_dir() and not p.is_symlink() else p.name

        for name, path in sorted((key(p), p) for p in folder.iterdir()):
            if name.endswith("/"):
                if self.recursive:
                    yield from self._walk(path, prefix + name)
            elif path.is_file() and any(fnmatch.fnmatch(name, pat) for pat in self.include):
                yield prefix + name
