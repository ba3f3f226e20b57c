"""Recipes: JSON -> jsonschema (every problem, sorted by path) -> defaults -> frozen specs.

This is the only module that reads raw recipe JSON. After `load_recipe()` the pipeline works on
typed specs (specs.py). Nothing is read but the file itself: the schema is assembled from
package data (schema.py), so validating a recipe imports no model code.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Optional

from ..errors import RecipeError
from .jsonfile import read_json_file
from .schema import recipe_schema
from .specs import ComponentSpec, GenerationSpec, HubSpec, ICSpec, ModelSpec, OutputSpec, Recipe
from .validate import Problem, fill_defaults, keyword_problems, schema_problems


def load_recipe(path: str | Path) -> Recipe:
    """Read, validate and resolve a recipe file; raise RecipeError listing every problem."""
    path = Path(path)
    raw = read_json_file(path, RecipeError)
    return recipe_from_dict(raw, base_dir=path.resolve().parent, label=str(path))


def recipe_from_dict(raw: Any, base_dir: Path, label: str = "<recipe>", check_paths: bool = True) -> Recipe:
    """Validate and resolve a recipe object. `check_paths=False` is for the resolved copy kept
    in a build folder, whose relative paths point next to the original recipe file."""
    schema = recipe_schema()
    problems = schema_problems(raw, schema)
    if problems:
        raise RecipeError(label, problems)
    resolved = fill_defaults(raw, schema)
    problems = keyword_problems(resolved, schema, base_dir if check_paths else None)
    problems += recipe_problems(resolved)
    if problems:
        raise RecipeError(label, sorted(problems))
    return _build(resolved, base_dir)


def recipe_problems(resolved: dict) -> list[Problem]:
    """Rules across fields that no fragment can state: unique source names, licences."""
    problems = licence_problems(resolved)
    names: set[str] = set()
    for i, src in enumerate(resolved.get("sources", [])):
        name = src.get("name", src["kind"])
        if name in names:
            problems.append((f"$.sources[{i}].name",
                             f"source names must be unique; {name!r} is used twice (set 'name')"))
        names.add(name)
    return problems


def is_non_commercial(licence: str) -> bool:
    """cc-by-nc-*, and any other id with an 'nc' part (e.g. cc-by-nc-sa-4.0, other-nc)."""
    return "nc" in licence.split("-")


def licence_problems(resolved: dict) -> list[Problem]:
    """The output may not be labelled less restrictively than a non-commercial source."""
    out = resolved.get("license", "other")
    if is_non_commercial(out):
        return []
    return [
        ("$.license", f"must be a non-commercial licence (e.g. cc-by-nc-4.0) because "
                      f"$.sources[{i}].license is {src['license']!r}; got {out!r}")
        for i, src in enumerate(resolved.get("sources", []))
        if src.get("license") and is_non_commercial(src["license"])
    ]


def _model(m: Optional[dict]) -> Optional[ModelSpec]:
    if not m:
        return None
    return ModelSpec(
        id=m["id"], revision=m["revision"], dtype=m["dtype"], device=m["device"],
        batch_size=m["batch_size"], generation=GenerationSpec(**m["generation"]),
        backend=m["backend"], backend_options=_freeze(m["backend_options"]), cache=m["cache"],
    )


def _build(r: dict, base_dir: Path) -> Recipe:
    sources = tuple(
        ComponentSpec(kind=s["kind"], options=_freeze({"name": s["kind"], **s})) for s in r.get("sources", [])
    )
    ic = r.get("ic") and ICSpec(manifest=(base_dir / r["ic"]["manifest"]).resolve(),
                                caption_prompt=r["ic"]["caption_prompt"])
    return Recipe(
        name=r["name"], version=r["version"], description=r["description"], builder=r["builder"],
        seed=r["seed"], license=r["license"], pretty_name=r["pretty_name"] or r["name"],
        hub=HubSpec(**r["hub"]), model=_model(r.get("model")), sources=sources,
        strategy=ComponentSpec(r["strategy"]["name"], _freeze(r["strategy"])),
        verifier=ComponentSpec(r["verifier"]["kind"], _freeze(r["verifier"])),
        ic=ic or None, output=OutputSpec(**r["output"]), base_dir=base_dir, resolved=_freeze(r),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
