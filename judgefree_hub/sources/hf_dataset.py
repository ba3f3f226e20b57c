"""A `datasets` dataset (Hub id or local path), read by columns."""

from __future__ import annotations

import io
from typing import Any, Iterator, Mapping

from PIL import Image

from ..errors import SourceError
from .base import SOURCES, Row, Source, SourceContext, open_rgb


def _decode(value: Any) -> Image.Image:
    """Images stay undecoded in the dataset so that a corrupt one fails per sample, here."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, dict) and value.get("bytes"):
        return open_rgb(io.BytesIO(value["bytes"]))
    if isinstance(value, dict) and value.get("path"):
        return open_rgb(value["path"])
    if isinstance(value, str):
        return open_rgb(value)
    raise OSError(f"not an image: {type(value).__name__}")


@SOURCES.register("hf_dataset")
class HfDatasetSource(Source):
    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        super().__init__(options, ctx)
        self.options = options

    def _load(self):
        import datasets

        o = self.options
        try:
            ds = datasets.load_dataset(o["dataset"], o["config"], split=o["split"], revision=o["revision"])
        except Exception as e:  # datasets raises many types; report one line and the cause
            raise SourceError(f"source {self.name!r}: cannot load dataset {o['dataset']!r}: {e}") from e
        needed = [c for c in (o["image_column"], o["prompt_column"], o["id_column"]) if c]
        missing = [c for c in needed if c not in ds.column_names]
        if missing:
            raise SourceError(
                f"source {self.name!r}: dataset {o['dataset']!r} has no column(s) {missing}; "
                f"columns: {ds.column_names}"
            )
        if isinstance(ds.features[o["image_column"]], datasets.Image):
            ds = ds.cast_column(o["image_column"], datasets.Image(decode=False))
        return ds

    def rows(self) -> Iterator[Row]:
        o = self.options
        ds = self._load()
        ids = ds[o["id_column"]] if o["id_column"] else range(len(ds))
        prompts = ds[o["prompt_column"]] if o["prompt_column"] else [None] * len(ds)
        images = ds.select_columns([o["image_column"]])  # read one image when it is needed
        for i, (row_id, prompt) in enumerate(zip(ids, prompts)):
            yield Row(id=str(row_id), prompt=prompt or None,
                      load_image=lambda i=i: _decode(images[i][o["image_column"]]))
