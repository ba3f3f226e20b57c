"""A JSONL manifest: one object per line with an image path, an id and maybe a prompt."""

from __future__ import annotations

import functools
import json
from typing import Any, Iterator, Mapping

from ..errors import SourceError
from .base import SOURCES, Row, Source, SourceContext, open_rgb


@SOURCES.register("jsonl")
class JsonlSource(Source):
    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        super().__init__(options, ctx)
        self.path = ctx.base_dir / options["path"]
        self.image_field = options["image_field"]
        self.id_field = options["id_field"]
        self.prompt_field = options["prompt_field"]

    def rows(self) -> Iterator[Row]:
        """Line by line: a manifest larger than memory is fine."""
        try:
            f = self.path.open("rb")
        except OSError as e:
            raise SourceError(
                f"source {self.name!r}: cannot read {self.path}: {e.strerror}") from None
        with f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise SourceError(f"{self.path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
                if line.strip():
                    yield self._row(line, lineno)

    def _row(self, line: str, lineno: int) -> Row:
        where = f"{self.path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SourceError(f"{where}: invalid JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise SourceError(f"{where}: each line must be a JSON object")
        for field in (self.image_field, self.id_field):
            if not isinstance(obj.get(field), (str, int)) or obj.get(field) == "":
                raise SourceError(f"{where}: field {field!r} is missing or not a string")
        prompt = obj.get(self.prompt_field)
        if prompt is not None and not isinstance(prompt, str):
            raise SourceError(f"{where}: field {self.prompt_field!r} must be a string")
        image = self.path.parent / str(obj[self.image_field])
        return Row(id=str(obj[self.id_field]), load_image=functools.partial(open_rgb, image),
                   prompt=prompt or None)
