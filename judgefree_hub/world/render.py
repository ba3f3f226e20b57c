"""Pixels for a scene: flat colours, no anti-aliasing, drawn with PIL.ImageDraw.

Drawing without anti-aliasing or fonts keeps a render byte-identical across machines, and
keeps the centre pixel of every solid shape exactly the object's colour, which tests use as
ground truth. Backgrounds are greys and beige so every object colour, white and black
included, stands out against them.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from .scene import GRID, Obj, Scene

RGB = {
    "red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 70, 230),
    "yellow": (250, 220, 0), "purple": (140, 40, 180), "pink": (255, 105, 180),
    "white": (255, 255, 255), "black": (0, 0, 0),
}
BACKGROUND_RGB = {"gray": (128, 128, 128), "beige": (215, 200, 160)}
SOLID = ("circle", "square", "triangle", "star", "cross")  # the ring's centre shows the background
_RADIUS = {"small": 0.22, "large": 0.46}  # half-extent as a fraction of the cell side
_LIGHT, _DARK = (150, 150, 150), (105, 105, 105)


def cell_center(obj: Obj, size: int) -> tuple[int, int]:
    """The pixel at the centre of the object's grid cell."""
    return (2 * obj.x + 1) * size // (2 * GRID), (2 * obj.y + 1) * size // (2 * GRID)


def _background(draw: ImageDraw.ImageDraw, name: str, size: int) -> None:
    if name in BACKGROUND_RGB:
        draw.rectangle((0, 0, size, size), fill=BACKGROUND_RGB[name])
    elif name == "stripes":
        draw.rectangle((0, 0, size, size), fill=_LIGHT)
        for x in range(-size, size, 8):
            draw.polygon([(x, size), (x + 4, size), (x + 4 + size, 0), (x + size, 0)], fill=_DARK)
    elif name == "dots":
        draw.rectangle((0, 0, size, size), fill=BACKGROUND_RGB["beige"])
        for y in range(3, size, 7):
            for x in range(3 + (y // 7 % 2) * 3, size, 7):
                draw.rectangle((x - 1, y - 1, x, y), fill=_DARK)
    elif name == "gradient":
        for y in range(size):
            v = 90 + 80 * y // max(size - 1, 1)
            draw.line((0, y, size, y), fill=(v, v, v))
    else:
        raise KeyError(f"unknown background {name!r}; known: gray, beige, stripes, dots, gradient")


def _star(cx: int, cy: int, r: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _shape(draw: ImageDraw.ImageDraw, obj: Obj, size: int) -> None:
    cx, cy = cell_center(obj, size)
    r = max(2.0, _RADIUS[obj.size] * size / GRID)
    fill = RGB[obj.color]
    box = (cx - r, cy - r, cx + r, cy + r)
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill)
    elif obj.shape == "square":
        s = r * 0.85
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
    elif obj.shape == "star":
        draw.polygon(_star(cx, cy, r), fill=fill)
    elif obj.shape == "cross":
        t = max(1.0, r * 0.35)
        draw.rectangle((cx - r, cy - t, cx + r, cy + t), fill=fill)
        draw.rectangle((cx - t, cy - r, cx + t, cy + r), fill=fill)
    elif obj.shape == "ring":
        draw.ellipse(box, outline=fill, width=max(2, round(r * 0.4)))
    else:
        raise KeyError(f"unknown shape {obj.shape!r}; known: {', '.join(SOLID)}, ring")


def render(scene: Scene, size: int = 64) -> Image.Image:
    """The scene as a `size` x `size` RGB image; the same scene always gives the same pixels."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    _background(draw, scene.background, size)
    for obj in scene.objects:
        _shape(draw, obj, size)
    return image
