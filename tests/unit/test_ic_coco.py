"""The COCO reader: a tiny COCO-format set made here -> IC manifest -> read_manifest -> the IC
builder -> load_ic -> CHAIR; and bad input named in one line."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from judgefree_hub.errors import SourceError
from judgefree_hub.ic import load_ic, read_manifest, score_all
from judgefree_hub.ic.coco import coco_rows, main

CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 17, "name": "cat", "supercategory": "animal"},
              {"id": 18, "name": "dog", "supercategory": "animal"},
              {"id": 62, "name": "chair", "supercategory": "furniture"},
              {"id": 67, "name": "dining table", "supercategory": "furniture"}]


@pytest.fixture()
def coco(tmp_path):
    images = tmp_path / "val"
    images.mkdir()
    for i, colour in ((1, "red"), (2, "green"), (3, "blue"), (4, "white")):
        Image.new("RGB", (8, 6), colour).save(images / f"COCO_val_{i:012d}.jpg")
    instances = {
        "images": [{"id": i, "file_name": f"COCO_val_{i:012d}.jpg"} for i in (1, 2, 3, 4)],
        "categories": CATEGORIES,
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18}, {"id": 11, "image_id": 1, "category_id": 18},
            {"id": 12, "image_id": 1, "category_id": 1},
            {"id": 13, "image_id": 2, "category_id": 67}, {"id": 14, "image_id": 2, "category_id": 62},
            {"id": 15, "image_id": 2, "category_id": 62},
        ],
    }
    captions = {"annotations": [
        {"id": 101, "image_id": 1, "caption": "Two dogs and a man in a park."},
        {"id": 100, "image_id": 1, "caption": "A man walks his puppies next to a bench."},
        {"id": 102, "image_id": 2, "caption": "A dining room with chairs."},
        {"id": 103, "image_id": 3, "caption": "A kitten sleeping."},  # image 3: captions only
        {"id": 104, "image_id": 4, "caption": "A blank white wall."},  # no COCO object at all
        {"id": 105, "image_id": 999, "caption": "Another split's image."},  # ignored
    ]}
    (tmp_path / "instances_val.json").write_text(json.dumps(instances))
    (tmp_path / "captions_val.json").write_text(json.dumps(captions))
    return tmp_path, images


def test_rows_hold_chair_ground_truth(coco):
    root, images = coco
    rows, left_out = coco_rows(root / "instances_val.json", images, root / "captions_val.json",
                               domain="supercategory", relative_to=root)
    assert left_out == 1 and [r["id"] for r in rows] == ["coco-1", "coco-2", "coco-3"]
    one = rows[0]
    assert one["image"] == "val/COCO_val_000000000001.jpg" and one["source"] == "coco"
    assert one["domain"] == "animal" and one["coco_image_id"] == 1
    assert one["reference_caption"] == "A man walks his puppies next to a bench."  # lowest id
    # instances first (most labelled first), then caption-only objects; `from` says which
    assert [(e["name"], e["from"]) for e in one["elements"]] == [
        ("dog", ["instances", "captions"]), ("person", ["instances", "captions"]), ("bench", ["captions"])]
    assert "puppy" in one["elements"][0]["synonyms"] and one["elements"][0]["kind"] == "object"
    assert rows[1]["domain"] == "furniture"
    assert [(e["name"], e["from"]) for e in rows[2]["elements"]] == [("cat", ["captions"])]
    assert rows[2]["domain"] == "animal"  # no instance: its caption objects' supercategory
    without = coco_rows(root / "instances_val.json", images, relative_to=root)[0]
    assert [r["id"] for r in without] == ["coco-1", "coco-2"]  # no captions: instances only
    assert without[0]["reference_caption"] is None and without[0]["domain"] == "coco"


def test_sample_and_ids(coco):
    root, images = coco
    args = (root / "instances_val.json", images, root / "captions_val.json")
    a = [r["id"] for r in coco_rows(*args, sample=2, seed=3)[0]]
    assert a == [r["id"] for r in coco_rows(*args, sample=2, seed=3)[0]] and len(a) == 2
    assert a == sorted(a, key=lambda x: int(x.split("-")[1]))
    assert [r["id"] for r in coco_rows(*args, ids=[3, 2])[0]] == ["coco-2", "coco-3"]
    with pytest.raises(SourceError, match=r"image id\(s\) \[7\] asked for are not in 'images'"):
        coco_rows(*args, ids=[7])


def bad(root, images, change):
    data = json.loads((root / "instances_val.json").read_text())
    change(data)
    (root / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SourceError) as e:
        coco_rows(root / "bad.json", images)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_input_is_one_line_naming_file_and_problem(coco):
    root, images = coco
    assert bad(root, images, lambda d: d.pop("annotations")).endswith(
        "bad.json: not COCO instances JSON (needs the lists 'images', 'annotations', 'categories')")
    assert bad(root, images, lambda d: d["annotations"].append({"id": 9, "image_id": 5, "category_id": 1})
               ).endswith("bad.json: annotation 9 has image_id 5, which is not in 'images'")
    assert bad(root, images, lambda d: d["annotations"].append({"id": 9, "image_id": 1, "category_id": 99})
               ).endswith("bad.json: annotation 9 has category_id 99, which is not in 'categories'")
    assert "category 'lamp' (id 200) is not one of the 80 COCO categories" in bad(
        root, images, lambda d: d["categories"].append({"id": 200, "name": "lamp"}))
    (images / "COCO_val_000000000002.jpg").unlink()
    with pytest.raises(SourceError, match=r"COCO_val_000000000002\.jpg: image file of COCO image 2 not found"):
        coco_rows(root / "instances_val.json", images)
    (root / "x.json").write_text("[1, 2")
    with pytest.raises(SourceError, match=r"x\.json: not JSON"):
        coco_rows(root / "x.json", images)


def test_cli_errors_in_one_line(coco, capsys):
    root, images = coco
    (root / "x.json").write_text("{}")
    assert main([str(root / "x.json"), str(images), "--out", str(root / "m.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "x.json: not COCO instances JSON" in err


def test_manifest_builds_and_scores_with_chair(coco, capsys):
    from judgefree_hub.builders.ic import build

    from judgefree_hub.recipe import load_recipe

    root, images = coco
    out = root / "coco-chair" / "manifest.jsonl"
    recipe_path = root / "coco-chair" / "recipe.json"
    assert main([str(root / "instances_val.json"), str(images), "--captions", str(root / "captions_val.json"),
                 "--out", str(out), "--recipe", str(recipe_path), "--name", "coco-toy"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote 3 image(s) to {out} (1 image(s) without any COCO object left out)")
    rows = read_manifest(out)
    assert [r.truth.id for r in rows] == ["coco-1", "coco-2", "coco-3"]
    assert [e.name for e in rows[0].truth.elements] == ["dog", "person", "bench"]

    recipe = load_recipe(recipe_path)
    assert recipe.builder == "ic" and recipe.ic.manifest == out.resolve()
    result = build(recipe, root / "out", show_progress=False)
    assert result.stats["images"] == 3
    items = load_ic(str(result.root))
    assert [it.truth.id for it in items] == ["coco-1", "coco-2", "coco-3"]
    captions = {"coco-1": "Two dogs and a cat on a bench.",  # dog, cat, bench: cat hallucinated
                "coco-2": "A table and chairs.",  # dining table, chair
                "coco-3": "A kitten."}  # cat
    scores, summary = score_all(items, captions, vocabulary="coco")
    assert summary["vocabulary"] == "coco" and scores[0].hallucinated == ("cat",)
    assert summary["overall"]["chair_i"] == round(1 / 6, 4)  # 1 of 3 + 2 + 1 mentions
    assert summary["overall"]["chair_s"] == round(1 / 3, 4)
