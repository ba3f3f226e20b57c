"""The recipe schema, assembled from the skeleton and each extension's own fragment.

`recipe/schema/recipe.schema.json` holds the fields every recipe has. Each extension family
keeps one fragment per registered name next to its class (`strategies/mix.schema.json`,
`verifiers/clip.schema.json`, ...), plus, where every kind shares fields, `<family>/base.json`.
Fragments are read as package data, never by importing the family (which may import torch),
so `jfhub validate` stays light; a test checks fragment names equal registry names.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Optional

SUFFIX = ".schema.json"


@dataclass(frozen=True)
class Family:
    """An extension point as the recipe sees it."""

    folder: str
    """Package folder holding the classes and their fragments (sources, strategies, ...)."""
    tag: str
    """Field that names the kind in the recipe (kind, name)."""
    default: Optional[str] = None
    """Kind taken when the tag is omitted; None = the tag is required."""


SOURCES = Family("sources", "kind")
STRATEGIES = Family("strategies", "name", default="mix")
VERIFIERS = Family("verifiers", "kind", default="clip")
BACKENDS = Family("backends", "backend")


def _read(*parts: str) -> dict:
    return json.loads(resources.files("judgefree_hub").joinpath(*parts).read_text(encoding="utf-8"))


def fragments(folder: str) -> dict[str, dict]:
    """name -> options schema of every fragment in a family's folder."""
    root = resources.files("judgefree_hub").joinpath(folder)
    names = sorted(e.name[: -len(SUFFIX)] for e in root.iterdir() if e.name.endswith(SUFFIX))
    return {name: _read(folder, name + SUFFIX) for name in names}


def shared_fields(folder: str) -> dict:
    """The fields every kind of a family has (`<family>/base.json`), or none."""
    if not resources.files("judgefree_hub").joinpath(folder, "base.json").is_file():
        return {}
    return _read(folder, "base.json")["properties"]


def tagged_union(family: Family, description: str) -> dict:
    """One object schema for 'any kind of this family': the tag picks the kind's fragment."""
    frags = fragments(family.folder)
    shared = shared_fields(family.folder)
    branches = []
    for name, frag in frags.items():
        then = copy.deepcopy(frag)
        then["type"] = "object"
        then["additionalProperties"] = False
        then["properties"] = {family.tag: {"const": name}, **copy.deepcopy(shared), **frag.get("properties", {})}
        cond: dict = {"properties": {family.tag: {"const": name}}}
        if name != family.default:
            cond["required"] = [family.tag]
        branches.append({"if": cond, "then": then})
    tag = {"type": "string", "enum": list(frags), "description": description}
    if family.default:
        tag["default"] = family.default
    return {
        "type": "object",
        "required": [] if family.default else [family.tag],
        # The shared fields are listed here too (each branch still checks them), so the field
        # table documents them once.
        "properties": {family.tag: tag, **copy.deepcopy(shared)},
        "allOf": branches,
    }


def _backend_rules(model: dict) -> None:
    """model.backend: auto or a backend name; model.backend_options: that backend's fragment."""
    frags = fragments(BACKENDS.folder)
    model["properties"]["backend"]["enum"] = ["auto", *frags]
    model["allOf"] = []
    for name, frag in frags.items():
        options = {**frag, "type": "object", "additionalProperties": False,
                   "description": f"Options of the {name} backend" + ("." if frag.get("properties") else ": none.")}
        model["allOf"].append({"if": {"properties": {"backend": {"const": name}}, "required": ["backend"]},
                               "then": {"description": frag.get("description", ""),
                                        "properties": {"backend_options": options}}})


@functools.lru_cache(maxsize=1)
def _recipe_schema() -> str:
    schema = _read("recipe", "schema", "recipe.schema.json")
    defs = schema.setdefault("$defs", {})
    defs["source"] = tagged_union(SOURCES, "Source kind.")
    defs["strategy"] = tagged_union(STRATEGIES, "Strategy name.")
    defs["verifier"] = tagged_union(VERIFIERS, "Verifier kind.")
    _backend_rules(schema["properties"]["model"])
    return json.dumps(schema)


def recipe_schema() -> dict:
    """The whole recipe schema (a fresh copy: callers may modify it)."""
    return json.loads(_recipe_schema())


def fragment(folder: str, name: str) -> dict:
    """One kind's options schema, as the recipe checks it (shared fields included)."""
    frag = copy.deepcopy(fragments(folder)[name])
    frag["properties"] = {**shared_fields(folder), **frag.get("properties", {})}
    return {**frag, "type": "object", "additionalProperties": False}
