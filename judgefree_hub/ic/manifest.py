"""The IC builder's input: a JSONL manifest of images annotated with their elements.

Every problem is reported with its line number, all at once (an evaluation set is curated by
hand, so a typo should be fixed, not skipped): an unreadable image, a row without elements, a
bad kind, a duplicate id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError
from ..sources import open_rgb
from .score import Element, ImageTruth

KINDS = ("object", "attribute", "text", "count")
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ICRow:
    truth: ImageTruth
    image_path: Path
    reference_caption: Optional[str]
    source: Optional[str]
    line: int


def _element(obj: Any, where: str, problems: list) -> Optional[Element]:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"].strip():
        problems.append((where, "each element needs a non-empty 'name'"))
        return None
    kind = obj.get("kind", "object")
    if kind not in KINDS:
        problems.append((where, f"kind must be one of {', '.join(KINDS)}, got {kind!r}"))
        return None
    synonyms = obj.get("synonyms", [])
    if not isinstance(synonyms, list) or not all(isinstance(x, str) for x in synonyms):
        problems.append((where, "synonyms must be a list of strings"))
        return None
    return Element(obj["name"].strip(), tuple(synonyms), kind, obj.get("of"))


def _row(obj: Any, lineno: int, base: Path, problems: list) -> Optional[ICRow]:
    where = f"line {lineno}"
    if not isinstance(obj, dict):
        problems.append((where, "each line must be a JSON object"))
        return None
    row_id, image = obj.get("id"), obj.get("image")
    if not isinstance(row_id, str) or not _ID.match(row_id):
        problems.append((where, f"'id' must be letters, digits, '_' or '-', got {row_id!r}"))
        return None
    elements = obj.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.append((where, f"row {row_id!r} has no elements (need at least one)"))
        return None
    parsed = [_element(e, f"{where} elements[{i}]", problems) for i, e in enumerate(elements)]
    if not isinstance(image, str):
        problems.append((where, f"row {row_id!r}: 'image' must be a path"))
        return None
    path = base / image
    try:
        open_rgb(path)
    except (OSError, ValueError) as e:
        problems.append((where, f"row {row_id!r}: image {image} cannot be read ({type(e).__name__})"))
        return None
    if None in parsed:
        return None
    truth = ImageTruth(row_id, str(obj.get("domain") or "general"), tuple(parsed))
    return ICRow(truth, path, obj.get("reference_caption"), obj.get("source"), lineno)


def read_manifest(path: Path) -> list[ICRow]:
    """All rows of a manifest, or a ConfigError listing every problem with its line number."""
    problems: list[tuple[str, str]] = []
    rows: list[ICRow] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append((f"line {lineno}", f"invalid JSON: {e.msg}"))
            continue
        row = _row(obj, lineno, path.parent, problems)
        if row and row.truth.id in seen:
            problems.append((f"line {lineno}", f"id {row.truth.id!r} already used on line {seen[row.truth.id]}"))
        elif row:
            seen[row.truth.id] = lineno
            rows.append(row)
    if not rows and not problems:
        problems.append(("$", "the manifest has no rows"))
    if problems:
        raise ConfigError(str(path), problems)
    return rows
