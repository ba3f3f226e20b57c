"""Recipes that used to validate and then break a build, or crash: each class generated over
every field of the schema that it can hit, from fully resolved real recipes."""

import copy
import json
import math
import os
from pathlib import Path

import pytest

from judgefree_hub.errors import RecipeError
from judgefree_hub.recipe import load_recipe, recipe_from_dict, recipe_schema
from judgefree_hub.recipe.specs import thaw
from judgefree_hub.recipe.validate import json_path, walk

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"


def resolved(name: str, **changes) -> dict:
    raw = {**json.loads((RECIPES / name).read_text()), **changes}
    return thaw(recipe_from_dict(raw, base_dir=RECIPES).resolved)


def bases() -> dict[str, dict]:
    """Resolved recipes that together hold every kind, strategy and ratio distribution."""
    smoke = json.loads((RECIPES / "smoke.json").read_text())
    return {
        "smoke": resolved("smoke.json"),
        "world": resolved("demo.json"),
        "ic": resolved("ic-starter.json"),
        "noise": resolved("smoke.json", strategy={"name": "noise_image"}),
        "fixed": resolved("smoke.json", strategy={"name": "mix", "negative_ratio": {"distribution": "fixed", "value": 0.5}}),
        "sources": resolved("smoke.json", model={**smoke["model"], "backend": "idefics3",
                                                 "backend_options": {"do_image_splitting": True}},
                            sources=[{"kind": "jsonl", "path": "ic-starter/manifest.jsonl"},
                                     {"kind": "hf_dataset", "dataset": "org/data", "limit": 5}]),
    }


def mutations():
    """(case id, base name, JSON path parts, bad value, expected message) for every field."""
    schema = recipe_schema()
    out = []
    for base, recipe in bases().items():
        for path, sub, value in walk(recipe, schema, schema, []):
            types = sub.get("type", [])
            types = [types] if isinstance(types, str) else types
            where = json_path(path)
            if "integer" in types and isinstance(value, int) and not isinstance(value, bool):
                out.append((f"{base}:{where}=float", base, path, float(value), "must be integer"))
            if "number" in types and isinstance(value, (int, float)) and not isinstance(value, bool):
                for bad in (math.nan, math.inf, -math.inf):
                    out.append((f"{base}:{where}={bad}", base, path, bad, "must be number"))
            if isinstance(value, str) and sub.get("pattern", "").endswith("$"):
                out.append((f"{base}:{where}+newline", base, path, value + "\n", "must be"))
    return out


MUTATIONS = mutations()
BASES = bases()


def test_the_generator_reaches_every_kind_of_field():
    ids = " ".join(m[0] for m in MUTATIONS)
    for field in ("$.seed=float", "$.model.batch_size=float", "$.sources[0].count=float", "$.strategy.noise_step=float",
                  "$.strategy.negative_ratio.mean=nan", "$.strategy.negative_ratio.value=inf", "$.verifier.min_gap=-inf",
                  "$.name+newline", "$.version+newline", "$.output.jpeg_quality=float", "$.sources[1].limit=float"):
        assert field in ids, field
    assert len(MUTATIONS) > 100


def set_at(obj, path, value):
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


@pytest.mark.parametrize("case,base,path,bad,message", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_bad_value_is_refused_at_its_path(case, base, path, bad, message):
    recipe = copy.deepcopy(BASES[base])
    set_at(recipe, path, bad)
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(recipe, base_dir=RECIPES, label="r.json")
    lines = info.value.lines()
    assert any(line.startswith(f"r.json: {json_path(path)}: {message}") for line in lines), lines


FILES = {
    "duplicate key": (b'{"name": "a", "version": "1.0.0", "version": "2.0.0"}', "duplicate key 'version'"),
    "nested duplicate": (b'{"name": "a", "version": "1.0.0", "hub": {"repo": "a/b", "repo": "c/d"}}', "duplicate key 'repo'"),
    "NaN": (b'{"name": "a", "version": "1.0.0", "seed": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"name": "a", "version": "1.0.0", "seed": -Infinity}', "-Infinity is not a JSON number"),
    "UTF-16": ('{"name": "a", "version": "1.0.0"}'.encode("utf-16"), "is UTF-16; save it as UTF-8"),
    "Latin-1": ('{"name": "caf\xe9", "version": "1.0.0"}'.encode("latin-1"), "is not UTF-8 (byte 0xe9"),
    "deep": (b'{"name": ' + b"[" * 50000 + b"]" * 50000 + b"}", "nested too deeply"),
    "not JSON": (b"name: a", "invalid JSON at line 1 column 1"),
    "overflowing float": (b'{"name": "a", "version": "1.0.0", "builder": "ic", "ic": {"manifest": "m"}, "seed": 1e400}',
                          "$.seed: must be integer, got Infinity"),
    "huge": (b'{"description": "' + b"x" * (2 << 20) + b'"}', "bytes; a config is at most"),
}


@pytest.mark.parametrize("case", list(FILES))
def test_a_file_that_is_no_recipe_is_one_line(tmp_path, case):
    data, message = FILES[case]
    path = tmp_path / "r.json"
    path.write_bytes(data)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert len(info.value.lines()) == 1 and message in info.value.lines()[0], info.value.lines()


def test_a_utf8_bom_is_fine(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b"\xef\xbb\xbf" + (RECIPES / "smoke.json").read_bytes())  # no relative paths
    assert load_recipe(path).name == "jfhub-smoke"


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink loop", "missing", "dangling link"])
def test_a_path_that_is_no_file_is_one_line_and_never_blocks(tmp_path, kind):
    path = tmp_path / "r.json"
    if kind == "fifo":
        os.mkfifo(path)  # a plain read would wait for a writer forever
    elif kind == "folder":
        path.mkdir()
    elif kind == "symlink loop":
        os.symlink(tmp_path / "other", path)
        os.symlink(path, tmp_path / "other")
    elif kind == "dangling link":
        os.symlink(tmp_path / "nowhere", path)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert len(info.value.lines()) == 1 and info.value.lines()[0].startswith(f"{path}: $: ")


def test_huge_integers_are_numbers_not_crashes():
    """An integer literal of any size is a finite number (math.isfinite would overflow on it)."""
    raw = {**BASES["smoke"], "seed": 10 ** 400}
    raw["model"] = {**raw["model"], "generation": {**raw["model"]["generation"], "temperature": 10 ** 400}}
    assert recipe_from_dict(raw, base_dir=RECIPES).seed == 10 ** 400
