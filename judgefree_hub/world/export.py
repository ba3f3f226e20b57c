"""From scenes to words and files: captions, IC ground-truth elements, and the two export sets.

The eval set is an IC manifest (what `jfhub` scores captions against); the train set is
image/caption pairs for the small describer. Shape synonyms are chosen so that no two shapes
share one and none is an object of the shipped vocabulary ("box", "donut" are), so a caption
word always names exactly one shape and naming an absent shape counts as a hallucination.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..seeding import rng as named_rng
from .render import render
from .scene import Obj, Scene, WorldConfig, scene_at

SYNONYMS = {
    "circle": ["disc", "disk"],
    "square": ["block", "tile"],
    "triangle": ["wedge"],
    "star": ["pentagram"],
    "cross": ["plus sign"],
    "ring": ["hoop", "annulus"],
}
COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
BACKGROUND_WORDS = {"gray": "a plain gray", "beige": "a plain beige", "stripes": "a striped",
                    "dots": "a dotted", "gradient": "a gradient"}
_TEMPLATES = ("{objects} on {background} background.", "{objects}, on {background} background.",
              "On {background} background: {objects}.")
SOURCE = "jfhub procedural world"


def vocabulary() -> dict[str, list[str]]:
    """Every shape name -> its synonyms, so a scorer treats each shape as an object word."""
    return {shape: list(forms) for shape, forms in SYNONYMS.items()}


def _groups(scene: Scene) -> dict[str, list[Obj]]:
    """Objects by shape, shapes in order of first appearance in reading order."""
    groups: dict[str, list[Obj]] = {}
    for obj in scene.objects:
        groups.setdefault(obj.shape, []).append(obj)
    return groups


def _phrase(shape: str, objs: list[Obj]) -> str:
    if len(objs) == 1:
        return f"a {objs[0].size} {objs[0].color} {shape}"
    looks = [f"{o.size} {o.color}" for o in objs]
    shape = "crosses" if shape == "cross" else shape + "s"
    count = COUNT_WORDS[len(objs)]
    if len(set(looks)) == 1:
        return f"{count} {looks[0]} {shape}"
    return f"{count} {shape} ({', '.join(f'one {look}' for look in looks)})"


def _join(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe(scene: Scene, gen: Optional[np.random.Generator] = None) -> str:
    """Every object with size, colour and shape, same shapes counted ("two small red circles").

    Without `gen` the caption is canonical (shapes in reading order, one template); with it the
    shape order and the template vary, for a less uniform training set.
    """
    phrases = [_phrase(shape, objs) for shape, objs in _groups(scene).items()]
    template = _TEMPLATES[0]
    if gen is not None:
        phrases = [phrases[int(i)] for i in gen.permutation(len(phrases))]
        template = _TEMPLATES[int(gen.integers(len(_TEMPLATES)))]
    text = template.format(objects=_join(phrases), background=BACKGROUND_WORDS[scene.background])
    return text[0].upper() + text[1:]


def elements(scene: Scene) -> list[dict]:
    """IC manifest elements: one object per distinct shape, its colours and sizes as attributes
    and, when it appears more than once, a count, each linked to the shape by `of`."""
    out: list[dict] = []
    for shape, objs in _groups(scene).items():
        out.append({"name": shape, "synonyms": list(SYNONYMS[shape]), "kind": "object"})
        for value in dict.fromkeys([o.color for o in objs] + [o.size for o in objs]):
            out.append({"name": value, "synonyms": [], "kind": "attribute", "of": shape})
        if len(objs) > 1:
            out.append({"name": COUNT_WORDS[len(objs)], "synonyms": [str(len(objs))], "kind": "count", "of": shape})
    return out


def _write_image(folder: Path, row_id: str, scene: Scene, size: int) -> str:
    relative = f"images/{row_id}.png"
    render(scene, size).save(folder / relative, format="PNG")
    return relative


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Written under a temporary name and renamed, so a present file is a complete one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path


def export_ic_set(folder: Path, config: WorldConfig, n: int, split: str = "eval") -> Path:
    """Scenes 0..n-1 of `split` as images/<id>.png plus manifest.jsonl; returns the manifest.

    The domain is "objects-<count>", so scores can be broken down by scene crowding.
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        row_id, scene = f"{split}-{i:05d}", scene_at(config, split, i)
        rows.append({"id": row_id, "image": _write_image(folder, row_id, scene, config.image_size),
                     "domain": f"objects-{len(scene.objects)}", "elements": elements(scene),
                     "reference_caption": describe(scene), "source": SOURCE})
    return _write_jsonl(folder / "manifest.jsonl", rows)


def export_caption_set(folder: Path, config: WorldConfig, n: int, split: str = "train") -> Path:
    """Scenes 0..n-1 of `split` as images/<id>.png plus captions.jsonl ({id, image, caption});
    each caption's wording is drawn from (seed, "world-caption", split, i)."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        row_id, scene = f"{split}-{i:05d}", scene_at(config, split, i)
        gen = named_rng(config.seed, "world-caption", split, str(i))
        rows.append({"id": row_id, "image": _write_image(folder, row_id, scene, config.image_size),
                     "caption": describe(scene, gen)})
    return _write_jsonl(folder / "captions.jsonl", rows)
