"""Recipes: JSON -> jsonschema (every problem, sorted by path) -> defaults -> frozen dataclasses.

This is the only module that reads raw recipe JSON. After `load_recipe()` the pipeline works on
typed specs; per-kind options (a source's fields, a strategy's parameters) are handed as a
read-only mapping to the registered class, which turns them into its own Params dataclass.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

import jsonschema

from ..errors import RecipeError


def load_schema(name: str = "recipe") -> dict:
    """A JSON Schema shipped with the package: recipe (recipe/schema/) or train (train/)."""
    folder = "train" if name == "train" else "recipe/schema"
    text = resources.files("judgefree_hub").joinpath(folder, f"{name}.schema.json").read_text()
    return json.loads(text)


@dataclass(frozen=True)
class GenerationSpec:
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_k: int
    top_p: float


@dataclass(frozen=True)
class ModelSpec:
    id: str
    revision: Optional[str]
    dtype: str
    device: str
    batch_size: int
    generation: GenerationSpec


@dataclass(frozen=True)
class ComponentSpec:
    """A registry entry chosen by the recipe: its name and its options (defaults filled in)."""

    name: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class HubSpec:
    repo: Optional[str]
    private: bool


@dataclass(frozen=True)
class ICSpec:
    manifest: Path
    """Absolute path of the annotated-image manifest (JSONL)."""
    caption_prompt: str


@dataclass(frozen=True)
class OutputSpec:
    samples_per_shard: int
    image_format: str
    jpeg_quality: int


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    description: str
    builder: str
    seed: int
    license: str
    pretty_name: str
    hub: HubSpec
    model: Optional[ModelSpec]
    """The generating model (preference builder); None for an IC set."""
    sources: tuple[ComponentSpec, ...]
    strategy: ComponentSpec
    verifier: ComponentSpec
    ic: Optional[ICSpec]
    output: OutputSpec
    base_dir: Path
    """Folder that relative paths in the recipe are relative to (the recipe file's folder)."""
    resolved: Mapping[str, Any]
    """The whole recipe with defaults filled in, as written to the build's recipe.json."""

    def resolved_json(self) -> str:
        return json.dumps(_thaw(self.resolved), indent=2, sort_keys=True) + "\n"


def load_recipe(path: str | Path) -> Recipe:
    """Read, validate and resolve a recipe file; raise RecipeError listing every problem."""
    path = Path(path)
    label = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(label, [("$", "no such file")]) from None
    except json.JSONDecodeError as e:
        raise RecipeError(label, [("$", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]) from None
    return recipe_from_dict(raw, base_dir=path.resolve().parent, label=label)


def recipe_from_dict(raw: Any, base_dir: Path, label: str = "<recipe>", check_paths: bool = True) -> Recipe:
    """Validate and resolve a recipe object. `check_paths=False` is for the resolved copy kept
    in a build folder, whose relative paths point next to the original recipe file."""
    schema = load_schema()
    problems = schema_problems(raw, schema)
    if problems:
        raise RecipeError(label, problems)
    resolved = fill_defaults(raw, schema)
    problems = semantic_problems(resolved, base_dir if check_paths else None)
    if problems:
        raise RecipeError(label, problems)
    return _build(resolved, base_dir)


def schema_problems(raw: Any, schema: dict) -> list[tuple[str, str]]:
    validator = jsonschema.Draft202012Validator(schema)
    out = set()
    for err in validator.iter_errors(raw):
        for leaf in _leaves(err):
            out.add(_describe(leaf, schema))
    return sorted(out)


def _leaves(err: jsonschema.ValidationError):
    """The most specific errors: an if/then failure is reported by its own sub-errors."""
    if err.context:
        for sub in err.context:
            yield from _leaves(sub)
    else:
        yield err


def _json_path(parts) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _describe(err: jsonschema.ValidationError, schema: dict) -> tuple[str, str]:
    path = _json_path(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    if v == "required":
        missing = err.message.split("'")[1]
        return _json_path([*err.absolute_path, missing]), "is required"
    if v == "additionalProperties":
        known = sorted(sch.get("properties", {}))
        extra = sorted(set(inst) - set(known))
        msgs = []
        for name in extra:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msgs.append(f"unknown field {name!r} ({hint}known: {', '.join(known)})")
        return path, "; ".join(msgs)
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return path, f"must be {want}, got {_show(inst)}"
    if v in ("enum", "const"):
        choices = err.validator_value if v == "enum" else [err.validator_value]
        close = difflib.get_close_matches(str(inst), [str(c) for c in choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close and close[0] != str(inst) else ""
        return path, f"must be one of {', '.join(map(repr, choices))}, got {_show(inst)}{hint}"
    bounds = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if v in bounds:
        return path, f"must be {bounds[v]} {err.validator_value}, got {_show(inst)}"
    if v == "pattern":
        return path, f"must be {sch.get('x-expect', 'matching ' + sch['pattern'])}, got {_show(inst)}"
    if v == "minItems":
        return path, f"must have at least {err.validator_value} item(s), got {len(inst)}"
    if v == "minLength":
        return path, "must not be empty"
    return path, err.message


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fill_defaults(instance: Any, schema: dict, root: dict | None = None) -> Any:
    """Return a copy of a VALID instance with every omitted field set to its schema default."""
    root = root or schema
    schema = _deref(schema, root)
    out = copy.deepcopy(instance)
    if isinstance(out, dict):
        for name, sub in schema.get("properties", {}).items():
            sub_d = _deref(sub, root)
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            elif name not in out and "default" in sub_d:
                out[name] = copy.deepcopy(sub_d["default"])
            if name in out:
                out[name] = fill_defaults(out[name], sub, root)
        for branch in schema.get("allOf", []):
            cond = branch.get("if")
            if cond and jsonschema.Draft202012Validator(cond).is_valid(out):
                out = fill_defaults(out, branch["then"], root)
    elif isinstance(out, list) and "items" in schema:
        out = [fill_defaults(item, schema["items"], root) for item in out]
    return out


def _deref(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if not ref:
        return schema
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    merged = {**_deref(target, root), **{k: v for k, v in schema.items() if k != "$ref"}}
    return merged


def semantic_problems(resolved: dict, base_dir: Optional[Path]) -> list[tuple[str, str]]:
    """Checks that JSON Schema cannot express: ranges between fields, files that must exist."""
    problems = []
    neg = resolved.get("strategy", {}).get("negative_ratio")
    if isinstance(neg, dict) and neg.get("distribution") == "gaussian" and neg["min"] > neg["max"]:
        problems.append(("$.strategy.negative_ratio.min", f"must be <= max ({neg['max']}), got {neg['min']}"))
    problems += licence_problems(resolved)
    ic = resolved.get("ic")
    if base_dir is not None and ic and not (base_dir / ic["manifest"]).is_file():
        problems.append(("$.ic.manifest", f"no such file: {base_dir / ic['manifest']}"))
    names = set()
    for i, src in enumerate(resolved.get("sources", [])):
        name = src.get("name", src["kind"])
        if name in names:
            problems.append((f"$.sources[{i}].name", f"source names must be unique; {name!r} is used twice (set 'name')"))
        names.add(name)
        if base_dir is not None and src["kind"] in ("folder", "jsonl") and not src.get("package"):
            target = base_dir / src["path"]
            ok = target.is_dir() if src["kind"] == "folder" else target.is_file()
            if not ok:
                what = "folder" if src["kind"] == "folder" else "file"
                problems.append((f"$.sources[{i}].path", f"no such {what}: {target}"))
        if src["kind"] in ("folder", "world") and not src["prompts"]:
            problems.append((f"$.sources[{i}].prompts", f"a {src['kind']} source needs at least one prompt"))
    return sorted(problems)


def is_non_commercial(licence: str) -> bool:
    """cc-by-nc-*, and any other id with an 'nc' part (e.g. cc-by-nc-sa-4.0, other-nc)."""
    return "nc" in licence.split("-")


def licence_problems(resolved: dict) -> list[tuple[str, str]]:
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


def _build(r: dict, base_dir: Path) -> Recipe:
    m = r.get("model")
    model = m and ModelSpec(
        id=m["id"], revision=m["revision"], dtype=m["dtype"], device=m["device"],
        batch_size=m["batch_size"], generation=GenerationSpec(**m["generation"]),
    )
    sources = tuple(
        ComponentSpec(name=s["kind"], options=_freeze({"name": s["kind"], **s})) for s in r.get("sources", [])
    )
    ic = r.get("ic") and ICSpec(manifest=(base_dir / r["ic"]["manifest"]).resolve(),
                                caption_prompt=r["ic"]["caption_prompt"])
    return Recipe(
        name=r["name"], version=r["version"], description=r["description"], builder=r["builder"],
        seed=r["seed"], license=r["license"], pretty_name=r["pretty_name"] or r["name"],
        hub=HubSpec(**r["hub"]), model=model or None, sources=sources,
        strategy=ComponentSpec(r["strategy"]["name"], _freeze(r["strategy"])),
        verifier=ComponentSpec(r["verifier"]["name"], _freeze(r["verifier"])),
        ic=ic or None, output=OutputSpec(**r["output"]), base_dir=base_dir, resolved=_freeze(r),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
