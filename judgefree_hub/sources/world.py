"""Images of the procedural shape world (judgefree_hub.world), rendered on demand.

Unlabelled images for self-improvement need no files on disk: scene i of a split is a pure
function of (world seed, split, i). Keep `start` clear of the indices of the IC evaluation set
(eval scenes 0..n-1), so pairs are never built on the images they are scored on.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Mapping

from ..world import WorldConfig, render, scene_at
from .base import SOURCES, Row, Source, SourceContext


def _image(config: WorldConfig, split: str, index: int):
    return render(scene_at(config, split, index), config.image_size)


@SOURCES.register("world")
class WorldSource(Source):
    def __init__(self, options: Mapping[str, Any], ctx: SourceContext):
        super().__init__(options, ctx)
        self.config = WorldConfig(seed=options["seed"], image_size=options["image_size"],
                                  max_objects=options["max_objects"], bias=options["bias"])
        self.split = options["split"]
        self.start = options["start"]
        self.count = options["count"]

    def rows(self) -> Iterator[Row]:
        for i in range(self.start, self.start + self.count):
            yield Row(id=f"{self.split}-{i:05d}", load_image=functools.partial(_image, self.config, self.split, i))
