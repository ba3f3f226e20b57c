"""The procedural world's scene model and its sampler, with a co-occurrence knob.

Object hallucination in captioning models comes from co-occurrence bias in the training
captions: when circles nearly always come with squares, a model learns to say "square" on
seeing a circle. The train split plants exactly that bias (`WorldConfig.bias` over `pairs`);
the eval split samples every object independently, so it holds many images with only one
member of a pair, where a biased describer names the absent partner. Ground truth is exact.

Scene i of a split is drawn from its own generator, seeded by (seed, split, i), so it is the
same however many scenes are generated and in whatever order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..seeding import rng as named_rng

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
# "orange" is a COCO object in the shipped vocabulary (an "orange circle" would score as a
# hallucinated fruit), so pink stands in for it.
COLORS = ("red", "green", "blue", "yellow", "purple", "pink", "white", "black")
SIZES = ("small", "large")
BACKGROUNDS = ("gray", "beige", "stripes", "dots", "gradient")
SPLITS = ("train", "eval")
GRID = 3
_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "center", "right")


@dataclass(frozen=True)
class Obj:
    """One shape in cell (x, y) of the 3x3 grid; x is the column (0 = left), y the row (0 = top)."""

    shape: str
    color: str
    size: str
    x: int
    y: int

    @property
    def position(self) -> str:
        """Where the object is in words: "top left", "center", "bottom right", ..."""
        if (self.x, self.y) == (1, 1):
            return "center"
        if self.x == 1:
            return _ROWS[self.y]
        if self.y == 1:
            return _COLS[self.x]
        return f"{_ROWS[self.y]} {_COLS[self.x]}"


@dataclass(frozen=True)
class Scene:
    """Objects in reading order (top-left to bottom-right), at most one per cell."""

    objects: tuple[Obj, ...]
    background: str


@dataclass(frozen=True)
class WorldConfig:
    """How a split is sampled; `bias` is P(partner added | one member of a pair present), train only."""

    seed: int
    image_size: int = 64
    max_objects: int = 4
    pairs: tuple[tuple[str, str], ...] = (("circle", "square"), ("triangle", "star"))
    bias: float = 0.8

    def __post_init__(self):
        problems = []
        if not 1 <= self.max_objects <= GRID * GRID:
            problems.append(("max_objects", f"must be 1..{GRID * GRID}, got {self.max_objects}"))
        if not 0.0 <= self.bias <= 1.0:
            problems.append(("bias", f"must be in [0, 1], got {self.bias}"))
        if self.image_size < 24:
            problems.append(("image_size", f"must be >= 24 so shapes stay visible, got {self.image_size}"))
        for i, pair in enumerate(self.pairs):
            bad = [s for s in pair if s not in SHAPES]
            if len(pair) != 2 or bad or pair[0] == pair[1]:
                problems.append((f"pairs[{i}]", f"must be two different shapes of {', '.join(SHAPES)}, got {pair!r}"))
        if problems:
            raise ConfigError("WorldConfig", problems)


def _pick(gen: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(gen.integers(len(options)))]


def _plant_pairs(gen: np.random.Generator, shapes: list[str], config: WorldConfig) -> None:
    """Add the missing partner of each pair with probability `bias`; when the scene is full it
    replaces an object that is in no pair present, so the knob holds for crowded scenes too."""
    for a, b in config.pairs:
        draw = gen.random()  # drawn for every pair so later draws do not depend on the outcome
        if (a in shapes) == (b in shapes) or draw >= config.bias:
            continue
        partner = b if a in shapes else a
        if len(shapes) < config.max_objects:
            shapes.append(partner)
            continue
        paired = {s for p in config.pairs for s in p if p[0] in shapes or p[1] in shapes}
        free = [i for i, s in enumerate(shapes) if s not in paired]
        if free:
            shapes[free[int(gen.integers(len(free)))]] = partner


def sample_scene(gen: np.random.Generator, config: WorldConfig, split: str) -> Scene:
    """A scene of 1..max_objects shapes drawn from `gen`; train plants the pairs, eval does not."""
    if split not in SPLITS:
        raise ConfigError("sample_scene", [("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")])
    n = int(gen.integers(1, config.max_objects + 1))
    shapes = [_pick(gen, SHAPES) for _ in range(n)]
    if split == "train":
        _plant_pairs(gen, shapes, config)
    # cells in random order, so a planted partner is not always the last cell in reading order
    cells = [int(c) for c in gen.choice(GRID * GRID, size=len(shapes), replace=False)]
    objects = [Obj(s, _pick(gen, COLORS), _pick(gen, SIZES), c % GRID, c // GRID)
               for s, c in zip(shapes, cells)]
    return Scene(tuple(sorted(objects, key=lambda o: (o.y, o.x))), _pick(gen, BACKGROUNDS))


def scene_at(config: WorldConfig, split: str, index: int) -> Scene:
    """Scene `index` of `split`, from a generator named by (seed, "world", split, index)."""
    return sample_scene(named_rng(config.seed, "world", split, str(index)), config, split)
