"""JSON Schema checks with one-line messages by JSON path, defaults, and the project's keywords.

Shared by recipes and train configs. Besides JSON Schema, fragments may use two keywords of
ours, checked on the instance once it is valid and has its defaults:
- `"x-path": "file" | "dir"` on a string: a path (relative to the config's folder, or inside
  the installed package named by a sibling `package` field) that must exist;
- `"x-order": ["a", "b"]` on an object: field a must be <= field b.
`x-expect` words the message of a failed `pattern`.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import json
import math
import re
from pathlib import Path
from typing import Any, Iterator, Optional

import jsonschema

Problem = tuple[str, str]
"""(JSON path such as $.sources[0].path, message)."""


def _is_integer(checker, value) -> bool:
    """An integer is written as one: 8.0 is not (jsonschema alone accepts it, and code that
    then uses it as a count or a size fails an hour later)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    """A finite number: NaN and Infinity are not JSON numbers (Python reads them anyway)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)  # an int of any size is finite


def _pattern(validator, pattern: str, instance, schema):
    """`pattern` whose `$` also refuses a trailing newline (Python's `$` matches before one, so
    "1.0.0\n" passed a version pattern and named a folder with a newline)."""
    if not validator.is_type(instance, "string"):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if not re.search(anchored, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, validators={"pattern": _pattern},
                                         type_checker=_TYPES)
"""JSON Schema 2020-12 with the stricter integer, number and pattern rules above."""


def schema_problems(raw: Any, schema: dict) -> list[Problem]:
    """Every problem of `raw` against `schema`, sorted by path."""
    validator = Validator(schema)
    out = set()
    for err in validator.iter_errors(raw):
        for leaf in _leaves(err):
            out.add(_describe(leaf))
    return sorted(out)


def _leaves(err: jsonschema.ValidationError):
    """The most specific errors: an if/then failure is reported by its own sub-errors."""
    if err.context:
        for sub in err.context:
            yield from _leaves(sub)
    else:
        yield err


def json_path(parts) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _describe(err: jsonschema.ValidationError) -> Problem:
    path = json_path(err.absolute_path)
    v, inst, sch = err.validator, err.instance, err.schema
    if v == "required":
        missing = err.message.split("'")[1]
        return json_path([*err.absolute_path, missing]), "is required"
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
    text = json.dumps(value)  # NaN and Infinity print as such
    return text if len(text) <= 60 else text[:57] + "..."


def deref(schema: dict, root: dict) -> dict:
    """`schema` with a local `$ref` (#/...) replaced by its target, sibling keywords kept."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**deref(target, root), **{k: v for k, v in schema.items() if k != "$ref"}}


def _branches(schema: dict, instance: Any) -> Iterator[dict]:
    """The conditional sub-schemas (allOf if/then/else) that apply to `instance`."""
    for branch in schema.get("allOf", []):
        cond = branch.get("if")
        if cond is None:
            yield branch
        elif Validator(cond).is_valid(instance):
            if "then" in branch:
                yield branch["then"]
        elif "else" in branch:
            yield branch["else"]


def fill_defaults(instance: Any, schema: dict, root: dict | None = None) -> Any:
    """Return a copy of a VALID instance with every omitted field set to its schema default."""
    root = root or schema
    schema = deref(schema, root)
    out = copy.deepcopy(instance)
    if isinstance(out, dict):
        for name, sub in schema.get("properties", {}).items():
            sub_d = deref(sub, root)
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            elif name not in out and "default" in sub_d:
                out[name] = copy.deepcopy(sub_d["default"])
            if name in out:
                out[name] = fill_defaults(out[name], sub, root)
        for branch in list(_branches(schema, out)):
            out = fill_defaults(out, branch, root)
    elif isinstance(out, list) and "items" in schema:
        out = [fill_defaults(item, schema["items"], root) for item in out]
    return out


def walk(instance: Any, schema: dict, root: dict, path: list) -> Iterator[tuple[list, dict, Any]]:
    """(path, sub-schema, value) for every value of a valid instance, conditional branches too."""
    schema = deref(schema, root)
    yield path, schema, instance
    if isinstance(instance, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in instance:
                yield from walk(instance[name], sub, root, [*path, name])
        for branch in _branches(schema, instance):
            yield from walk(instance, branch, root, path)
    elif isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            yield from walk(item, schema["items"], root, [*path, i])


def keyword_problems(resolved: Any, schema: dict, base_dir: Optional[Path]) -> list[Problem]:
    """Problems found by our keywords (x-order always; x-path only when `base_dir` is given)."""
    problems: set[Problem] = set()
    for path, sub, value in walk(resolved, schema, schema, []):
        if isinstance(value, dict) and "x-order" in sub:
            low, high = sub["x-order"]
            if isinstance(value.get(low), (int, float)) and isinstance(value.get(high), (int, float)) \
                    and value[low] > value[high]:
                problems.add((json_path([*path, low]), f"must be <= {high} ({value[high]}), got {value[low]}"))
        if isinstance(value, dict) and base_dir is not None:
            for name, field_schema in sub.get("properties", {}).items():
                kind = deref(field_schema, schema).get("x-path")
                if kind and isinstance(value.get(name), str):
                    problem = _path_problem(value[name], kind, value.get("package"), base_dir)
                    if problem:
                        problems.add((json_path([*path, name]), problem))
    return sorted(problems)


def _path_problem(rel: str, kind: str, package: Optional[str], base_dir: Path) -> Optional[str]:
    if package:
        if not package.isidentifier():
            return None  # a dotted name: finding it would import its parents; checked when read
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return f"package {package!r} (from 'package') is not installed"
        base_dir = Path(list(spec.submodule_search_locations)[0])
    target = base_dir / rel
    ok = target.is_dir() if kind == "dir" else target.is_file()
    return None if ok else f"no such {'folder' if kind == 'dir' else 'file'}: {target}"
