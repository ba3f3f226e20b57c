"""COCO annotations -> an IC manifest, so CHAIR can be measured offline on COCO images:

    python -m judgefree_hub.ic.coco INSTANCES IMAGES --captions CAPTIONS --out coco-chair/manifest.jsonl \\
        [--sample 500 --seed 0 | --ids 139,285,...] [--domain coco|supercategory] [--recipe coco-chair/recipe.json]

INSTANCES is COCO's instances_*.json, CAPTIONS its captions_*.json (optional, but CHAIR's ground
truth needs it), IMAGES the folder holding the images' file_name. One manifest row per image:

- `id` "coco-<image_id>", `image` the file (relative to the manifest), `source` "coco",
  `coco_image_id` (the integer id; read_manifest ignores it);
- `domain` "coco", or with --domain supercategory the supercategory most of the image's
  instances have (ties: alphabetical; an image without instances: that of its caption objects);
- `elements`: one object per COCO category present, named as COCO names it, its CHAIR
  synonyms (coco_objects.json) as synonyms. As in CHAIR, present means labelled in INSTANCES or
  named in one of the image's reference captions (read as chair.py reads a caption); each
  element's `from` lists which ("instances", "captions"). The IC builder keeps name, synonyms
  and kind only, so `from` is in the manifest, not in the shards;
- `reference_caption` the image's first caption (lowest annotation id).

An image with no element (no instance, no COCO word in its captions) cannot be an IC row and is
left out (counted on stderr); --sample draws from the others: a seeded random.sample of the
sorted ids, written in id order, like the 500-image val2014 subsets papers report CHAIR on
(the same size and seed do not give their exact images).

Bad input stops with one line naming the file and the problem (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from ..errors import SourceError
from .chair import load_coco_vocabulary

IC_RECIPE_VERSION = "0.1.0"


def _load(path: Path, kind: str, keys: Sequence[str]) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise SourceError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in keys):
        raise SourceError(f"{path}: not COCO {kind} JSON (needs the lists {', '.join(map(repr, keys))})")
    return data


def _field(path: Path, where: str, obj: Any, key: str, types: tuple) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, types) or isinstance(value, bool):
        raise SourceError(f"{path}: {where} has no valid {key!r}")
    return value


def coco_rows(instances: Path, images: Path, captions: Optional[Path] = None, *,
              sample: Optional[int] = None, seed: int = 0, ids: Optional[Iterable[int]] = None,
              domain: str = "coco", relative_to: Optional[Path] = None) -> tuple[list[dict], int]:
    """The manifest rows (module docstring) and how many images were left out for having no
    element. `ids` keeps those images only (each must be in INSTANCES); `relative_to`: image
    paths relative to this folder (the manifest's), else absolute."""
    if domain not in ("coco", "supercategory"):
        raise ValueError(f"domain must be 'coco' or 'supercategory', got {domain!r}")
    coco = load_coco_vocabulary()
    inst = _load(instances, "instances", ("images", "annotations", "categories"))
    categories: dict[int, tuple[str, str]] = {}
    for i, c in enumerate(inst["categories"]):
        cid = _field(instances, f"categories[{i}]", c, "id", (int,))
        name = _field(instances, f"categories[{i}]", c, "name", (str,))
        if coco.category(name) != name:
            raise SourceError(f"{instances}: category {name!r} (id {cid}) is not one of the 80 COCO categories")
        categories[cid] = (name, c.get("supercategory") if isinstance(c.get("supercategory"), str) else "coco")
    files: dict[int, str] = {}
    for i, im in enumerate(inst["images"]):
        files[_field(instances, f"images[{i}]", im, "id", (int,))] = _field(
            instances, f"images[{i}]", im, "file_name", (str,))
    labelled: dict[int, Counter] = {i: Counter() for i in files}
    for i, a in enumerate(inst["annotations"]):
        aid = a.get("id", i) if isinstance(a, dict) else i
        image_id = _field(instances, f"annotation {aid}", a, "image_id", (int,))
        cid = _field(instances, f"annotation {aid}", a, "category_id", (int,))
        if image_id not in files:
            raise SourceError(f"{instances}: annotation {aid} has image_id {image_id}, which is not in 'images'")
        if cid not in categories:
            raise SourceError(f"{instances}: annotation {aid} has category_id {cid}, which is not in 'categories'")
        labelled[image_id][categories[cid][0]] += 1

    said: dict[int, list[tuple[int, str]]] = {i: [] for i in files}
    if captions is not None:
        caps = _load(captions, "captions", ("annotations",))
        for i, a in enumerate(caps["annotations"]):
            aid = a.get("id", i) if isinstance(a, dict) else i
            image_id = _field(captions, f"annotation {aid}", a, "image_id", (int,))
            text = _field(captions, f"annotation {aid}", a, "caption", (str,))
            if image_id in said:
                said[image_id].append((aid if isinstance(aid, int) else i, text))
        if caps["annotations"] and not any(said.values()):
            raise SourceError(f"{captions}: no caption's image_id is in {instances} (captions of another split?)")

    wanted = sorted(files)
    if ids is not None:
        wanted = sorted(set(ids))
        unknown = [i for i in wanted if i not in files]
        if unknown:
            raise SourceError(f"{instances}: image id(s) {unknown[:5]} asked for are not in 'images'")
    named = {i: {c for _, t in sorted(said[i]) for c in coco.mentions(t)} for i in wanted}
    eligible = [i for i in wanted if labelled[i] or named[i]]
    left_out = len(wanted) - len(eligible)
    if sample is not None:
        if sample < 1:
            raise ValueError("sample must be at least 1")
        eligible = sorted(random.Random(seed).sample(eligible, min(sample, len(eligible))))
    supercategory = {name: sup for name, sup in categories.values()}
    rows = []
    for image_id in eligible:
        path = Path(images) / files[image_id]
        if not path.is_file():
            raise SourceError(f"{path}: image file of COCO image {image_id} not found (in {instances})")
        shown = os.path.relpath(path.resolve(), relative_to.resolve()) if relative_to else str(path.resolve())
        present = sorted(set(labelled[image_id]) | named[image_id],
                         key=lambda c: (-labelled[image_id][c], c))
        elements = [{"name": c, "kind": "object",
                     "synonyms": [f for f in coco.forms(c) if f != c],
                     "from": [s for s, on in (("instances", c in labelled[image_id]),
                                              ("captions", c in named[image_id])) if on]}
                    for c in present]
        if domain == "supercategory":
            votes = labelled[image_id] or Counter(named[image_id])
            tally = Counter()
            for c, n in votes.items():
                tally[supercategory.get(c, "coco")] += n
            dom = min(tally, key=lambda s: (-tally[s], s))
        else:
            dom = "coco"
        first = min(said[image_id])[1].strip() if said[image_id] else None
        rows.append({"id": f"coco-{image_id}", "image": shown, "domain": dom, "elements": elements,
                     "reference_caption": first, "source": "coco", "coco_image_id": image_id})
    return rows, left_out


def write_manifest(rows: Sequence[dict], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def ic_recipe(manifest: Path, recipe: Path, name: str) -> dict:
    """A minimal IC recipe building `manifest` (its path relative to the recipe's folder)."""
    return {
        "name": name, "version": IC_RECIPE_VERSION, "builder": "ic",
        "description": "COCO images with their CHAIR ground truth (COCO instance labels and the objects "
                       "their reference captions name), made by python -m judgefree_hub.ic.coco; score "
                       "captions with vocabulary 'coco' for CHAIR.",
        "license": "other",  # COCO annotations CC BY 4.0; images under their Flickr licences
        "ic": {"manifest": os.path.relpath(manifest.resolve(), recipe.resolve().parent),
               "caption_prompt": "Please describe this image in detail."},
        "output": {"image_format": "jpg", "jpeg_quality": 95},
    }


def _ids(text: str) -> list[int]:
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        return [int(x) for x in raw.replace(",", " ").split()]
    except ValueError:
        raise SourceError(f"--ids {text}: not a list of integer COCO image ids") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m judgefree_hub.ic.coco",
                                description="COCO instances (+ captions) and an image folder -> an IC manifest "
                                            "for CHAIR (jfhub build, then jfhub eval with vocabulary coco).")
    p.add_argument("instances", type=Path, help="COCO instances_*.json")
    p.add_argument("images", type=Path, help="folder with the images (their file_name)")
    p.add_argument("--captions", type=Path, help="COCO captions_*.json: caption objects join the ground truth")
    p.add_argument("--out", type=Path, required=True, help="manifest to write (JSONL)")
    p.add_argument("--sample", type=int, help="a seeded random sample of this many images")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--ids", help="only these image ids: comma-separated, or @FILE with one per line")
    p.add_argument("--domain", choices=("coco", "supercategory"), default="coco",
                   help="each row's domain: 'coco', or the image's majority supercategory")
    p.add_argument("--recipe", type=Path, help="also write an IC recipe for the manifest here")
    p.add_argument("--name", default="coco-chair", help="the recipe's dataset name (default coco-chair)")
    a = p.parse_args(argv)
    try:
        rows, left_out = coco_rows(a.instances, a.images, a.captions, sample=a.sample, seed=a.seed,
                                   ids=_ids(a.ids) if a.ids else None, domain=a.domain,
                                   relative_to=a.out.parent)
        if not rows:
            raise SourceError(f"{a.instances}: no image has a COCO object to score against")
        write_manifest(rows, a.out)
        if a.recipe:
            a.recipe.parent.mkdir(parents=True, exist_ok=True)
            a.recipe.write_text(json.dumps(ic_recipe(a.out, a.recipe, a.name), indent=2) + "\n", encoding="utf-8")
    except (SourceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    note = f" ({left_out} image(s) without any COCO object left out)" if left_out else ""
    print(f"wrote {len(rows)} image(s) to {a.out}{note}" + (f"; recipe {a.recipe}" if a.recipe else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
