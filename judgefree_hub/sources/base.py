"""Sources turn a recipe's `sources` entries into Samples with stable, dot-free keys."""

from __future__ import annotations

import hashlib
import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Optional

from PIL import Image

from ..errors import SourceError
from ..records import Sample
from ..registry import Registry
from ..seeding import rng

SOURCES: Registry[type["Source"]] = Registry("source")


@dataclass(frozen=True)
class SourceContext:
    """What every source may need besides its own options."""

    base_dir: Path
    seed: int


@dataclass(frozen=True)
class Row:
    """One image as a source lists it: an id unique within the source, a lazy loader, and the
    row's own prompt if it has one."""

    id: str
    load_image: Callable[[], Image.Image]
    prompt: Optional[str] = None


def open_rgb(path: str | Path | IO[bytes]) -> Image.Image:
    """Decode fully now, so a truncated file fails here and not later in the model. An image
    over PIL's pixel limit fails too (a small file can declare 20000 x 20000 pixels): PIL only
    warns up to twice that limit, which would decode gigabytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")


def safe_key(text: str) -> str:
    """A WebDataset-safe key part: letters, digits, '_' and '-' only; when characters had to be
    replaced, a short hash of the original keeps distinct ids distinct."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", text)
    if clean == text:
        return clean
    return f"{clean}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"


class Source(ABC):
    """Lists rows; the base class expands prompts and makes keys the same way for every kind."""

    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        self.name: str = options["name"]
        self.prompts: tuple[str, ...] = tuple(options["prompts"])
        self.prompt_mode: str = options["prompt_mode"]
        self.limit: Optional[int] = options["limit"]
        self.ctx = ctx

    @abstractmethod
    def rows(self) -> Iterator[Row]:
        """The source's rows in a stable order."""

    def samples(self) -> Iterator[Sample]:
        count = 0
        for row in self.rows():
            for i, prompt in self._prompts_for(row):
                if self.limit is not None and count >= self.limit:
                    return
                key = f"{self.name}-{safe_key(row.id)}-p{i}"
                yield Sample(key=key, source_id=f"{self.name}:{row.id}", prompt=prompt,
                             load_image=row.load_image)
                count += 1

    def _prompts_for(self, row: Row) -> list[tuple[int, str]]:
        if row.prompt is not None:
            return [(0, row.prompt)]
        if not self.prompts:
            raise SourceError(
                f"source {self.name!r}: row {row.id!r} has no prompt and the recipe gives no prompts list"
            )
        if self.prompt_mode == "all":
            return list(enumerate(self.prompts))
        i = int(rng(self.ctx.seed, "prompt", self.name, row.id).integers(len(self.prompts)))
        return [(i, self.prompts[i])]
