"""A `datasets` dataset (Hub id or local path), read row by row, or streamed.

Without an id column a row's id is a hash of its content (image bytes and its own prompt), so
keys do not depend on row order: a shuffled or re-sharded copy of the data keeps its keys, and
a streamed dataset (whose order may differ) gives the same keys as a downloaded one.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from typing import Any, Iterable, Iterator, Mapping, Optional

from PIL import Image

from ..errors import SourceError
from .base import SOURCES, Row, Source, SourceContext, open_rgb

log = logging.getLogger(__name__)


def _image_bytes(value: Any) -> bytes:
    """The image file's bytes; read from its path (local, hf://, URL) when the row holds none,
    as a streamed image folder gives {"path": "hf://...", "bytes": None}."""
    if isinstance(value, Image.Image):
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return buf.getvalue()
    if isinstance(value, dict) and value.get("bytes"):
        return value["bytes"]
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, str) or not path:
        raise OSError(f"not an image: {type(value).__name__}")
    from datasets.utils.file_utils import xopen

    with xopen(path, "rb") as f:
        return f.read()


def _decode(value: Any) -> Image.Image:
    """Images stay undecoded in the dataset so that a corrupt one fails per sample, here."""
    return open_rgb(io.BytesIO(_image_bytes(value)))


def _decode_at(images, column: str, index: int) -> Image.Image:
    return _decode(images[index][column])


def _raise(error: Exception) -> Image.Image:
    raise error


def content_id(image: bytes, prompt: Optional[str]) -> str:
    """16 hex of sha256 over the image bytes and the row's own prompt (one image asked two
    questions is two rows); the image's digest is fixed-length, so the parts cannot run together."""
    h = hashlib.sha256(hashlib.sha256(image).digest())
    if prompt:
        h.update(prompt.encode("utf-8"))
    return h.hexdigest()[:16]


@SOURCES.register("hf_dataset")
class HfDatasetSource(Source):
    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        super().__init__(options, ctx)
        self.options = options
        self.streaming: bool = bool(options.get("streaming", False))

    def _load(self):
        import datasets

        o = self.options
        try:
            ds = datasets.load_dataset(o["dataset"], o["config"], split=o["split"],
                                       revision=o["revision"], streaming=self.streaming)
        except Exception as e:  # datasets raises many types; report one line and the cause
            raise SourceError(
                f"source {self.name!r}: cannot load dataset {o['dataset']!r}: {e}") from e
        if ds.column_names is not None:  # a stream may not know them: checked on its first row
            self._check_columns(ds.column_names)
        if ds.features is not None and isinstance(ds.features[o["image_column"]], datasets.Image):
            # a stream from the Hub decodes in a thread pool that cast_column leaves in place
            ds = ds.decode(False) if self.streaming else ds.cast_column(
                o["image_column"], datasets.Image(decode=False))
        return ds

    def _needed(self) -> list[str]:
        o = self.options
        return [c for c in (o["image_column"], o["prompt_column"], o["id_column"]) if c]

    def _check_columns(self, columns: Iterable[str]) -> None:
        columns = list(columns)
        missing = [c for c in self._needed() if c not in columns]
        if missing:
            raise SourceError(
                f"source {self.name!r}: dataset {self.options['dataset']!r} has no column(s) "
                f"{missing}; columns: {columns}"
            )

    def rows(self) -> Iterator[Row]:
        """Downloaded: ids and prompts are listed, and an image is read again by index when it
        is needed. Streamed: a row's image bytes travel with its Row (no index to go back to)."""
        o = self.options
        image_col, prompt_col, id_col = o["image_column"], o["prompt_column"], o["id_column"]
        ds = self._load()
        images = None if self.streaming else ds.select_columns([image_col])
        if ds.column_names is not None:  # the image too when it is hashed or streamed
            skip = image_col if id_col and not self.streaming else None
            ds = ds.select_columns([c for c in self._needed() if c != skip])
        seen: dict[str, int] = {}
        for i, row in enumerate(ds):
            if i == 0 and ds.column_names is None:
                self._check_columns(row)
            prompt = (row[prompt_col] if prompt_col else None) or None
            data: bytes | Exception | None = None
            if id_col:
                row_id = str(row[id_col])
            else:
                try:
                    data = _image_bytes(row[image_col])
                except Exception as e:  # noqa: BLE001  (fails at load_image, as a corrupt image)
                    data = e
                hashed = data if isinstance(data, bytes) else repr(row[image_col]).encode()
                row_id = content_id(hashed, prompt)
                if row_id in seen:
                    log.warning("source %r: row %d has the same image bytes and prompt as row %d;"
                                " skipped", self.name, i, seen[row_id])
                    continue
                seen[row_id] = i
            if images is not None:
                load = functools.partial(_decode_at, images, image_col, i)
            elif isinstance(data, bytes):
                load = functools.partial(_decode, {"bytes": data})
            elif isinstance(data, Exception):
                load = functools.partial(_raise, data)
            else:
                load = functools.partial(_decode, row[image_col])
            yield Row(id=row_id, prompt=prompt, load_image=load)
