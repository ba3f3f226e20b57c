"""The README's table of recipe fields, generated from the schema's descriptions (one source)."""

from __future__ import annotations

import json
from typing import Iterator

from .schema import recipe_schema
from .validate import deref as _deref

Row = tuple[str, str, str, str, str]


def _type(s: dict) -> str:
    if "enum" in s:
        return " | ".join(f"`{v}`" for v in s["enum"])
    if "const" in s:
        return f"`{s['const']}`"
    t = s.get("type", "object")
    return " | ".join(t) if isinstance(t, list) else t


def _range(s: dict) -> str:
    marks = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("minItems", "items >="))
    return ", ".join(f"{sym} {s[key]}" for key, sym in marks if key in s)


def _object_rows(obj: dict, root: dict, prefix: str, skip: tuple = ()) -> Iterator[Row]:
    required = set(obj.get("required", []))
    for name, sub in obj.get("properties", {}).items():
        if name == "$schema" or name in skip:
            continue
        full = _deref(sub, root)
        path = f"{prefix}.{name}" if prefix else name
        if name in required:
            default = "required"
        elif "default" in sub or "default" in full:
            default = f"`{json.dumps(sub.get('default', full.get('default')))}`"
        else:
            default = ""
        yield (f"`{path}`", _type(full), default, _range(full), sub.get("description", full.get("description", "")))
        yield from _nested_rows(full, root, path)
    for branch in obj.get("allOf", []):
        then = _deref(branch["then"], root)
        if "properties" not in then:  # a cross-field rule (which fields a builder needs), not a variant
            continue
        tag, cond = next(iter(branch["if"]["properties"].items()))
        label = f"{prefix} ({tag} = {cond['const']})"
        yield (f"`{label}`", "object", "", "", then.get("description", ""))
        # Fields the object already listed with the same schema (a family's shared fields).
        same = tuple(k for k, v in then["properties"].items() if obj.get("properties", {}).get(k) == v)
        yield from _object_rows(then, root, prefix, skip=(tag, *same))


def _nested_rows(full: dict, root: dict, path: str) -> Iterator[Row]:
    if "properties" in full:
        yield from _object_rows(full, root, path)
    elif full.get("type") == "array" and "$ref" in full.get("items", {}):
        yield from _object_rows(_deref(full["items"], root), root, f"{path}[]")


def fields_table() -> str:
    schema = recipe_schema()
    lines = ["| field | type | default | range | description |", "|---|---|---|---|---|"]
    for row in _object_rows(schema, schema, ""):
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    return "\n".join(lines)


START, END = "<!-- fields:start -->\n", "\n<!-- fields:end -->"


def with_table(readme: str) -> str:
    """`readme` with the text between the field-table markers replaced by the current table."""
    a, b = readme.index(START) + len(START), readme.index(END)
    return readme[:a] + fields_table() + readme[b:]
