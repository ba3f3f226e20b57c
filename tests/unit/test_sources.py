import json

import pytest
from PIL import Image

from judgefree_hub.errors import SourceError
from judgefree_hub.recipe import recipe_from_dict
from judgefree_hub.sources import collect_samples


def recipe(tmp_path, sources, seed=0):
    raw = {"name": "t", "version": "0.1.0", "seed": seed, "model": {"id": "m"}, "sources": sources}
    return recipe_from_dict(raw, base_dir=tmp_path)


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for name, color in (("b.png", "red"), ("a.jpg", "blue"), ("c d.png", "green")):
        Image.new("RGB", (8, 8), color).save(d / name)
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_source_sorted_with_all_prompts(tmp_path, images):
    r = recipe(tmp_path, [{"kind": "folder", "path": "imgs", "prompts": ["P1", "P2"]}])
    samples = collect_samples(r)
    assert [s.source_id for s in samples[::2]] == ["folder:a.jpg", "folder:b.png", "folder:c d.png"]
    assert [s.prompt for s in samples[:2]] == ["P1", "P2"]
    assert all("." not in s.key and " " not in s.key for s in samples)
    assert len({s.key for s in samples}) == 6
    r_, _, b_ = samples[0].load_image().getpixel((0, 0))  # a.jpg is blue
    assert b_ > 200 and r_ < 50


def test_prompt_mode_one_is_seeded(tmp_path, images):
    """One prompt per image, drawn from (recipe seed, image): the same seed draws it again, other
    seeds draw others, every prompt gets drawn, and the key names the prompt that was drawn."""
    prompts = ["P1", "P2", "P3"]
    src = [{"kind": "folder", "path": "imgs", "prompts": prompts, "prompt_mode": "one"}]
    def draw(seed):
        samples = collect_samples(recipe(tmp_path, src, seed=seed))
        return [(s.source_id, s.key, s.prompt) for s in samples]

    draws = {seed: draw(seed) for seed in range(12)}
    assert draws[1] == draw(1)
    for drawn in draws.values():
        assert [i for i, _, _ in drawn] == ["folder:a.jpg", "folder:b.png", "folder:c d.png"]
        assert all(p in prompts and k.endswith(f"-p{prompts.index(p)}") for _, k, p in drawn)
    choices = {seed: tuple(p for _, _, p in drawn) for seed, drawn in draws.items()}
    assert len(set(choices.values())) > 3  # the seed decides (3^3 combinations possible)
    assert {p for c in choices.values() for p in c} == set(prompts)
    assert any(len(set(c)) > 1 for c in choices.values())  # images draw independently


def test_jsonl_source_row_prompts_and_limit(tmp_path, images):
    rows = [{"id": "x1", "image": "imgs/a.jpg", "prompt": "own prompt"}, {"id": "x2", "image": "imgs/b.png"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    src = [{"kind": "jsonl", "name": "man", "path": "m.jsonl", "prompts": ["default"]}]
    samples = collect_samples(recipe(tmp_path, src))
    assert [(s.key, s.prompt) for s in samples] == [("man-x1-p0", "own prompt"), ("man-x2-p0", "default")]
    src[0]["limit"] = 1
    assert len(collect_samples(recipe(tmp_path, src))) == 1


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"id": "a", "image": "x.png"}\n{"id": "b"}\n')
    with pytest.raises(SourceError, match=r"m\.jsonl:2: field 'image'"):
        collect_samples(recipe(tmp_path, [{"kind": "jsonl", "path": "m.jsonl", "prompts": ["p"]}]))


def test_duplicate_keys_are_refused(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"id": "a", "image": "x.png"}\n{"id": "a", "image": "y.png"}\n')
    with pytest.raises(SourceError, match="duplicate sample key"):
        collect_samples(recipe(tmp_path, [{"kind": "jsonl", "path": "m.jsonl", "prompts": ["p"]}]))


def test_hf_dataset_source(tmp_path, monkeypatch):
    import datasets

    ds = datasets.Dataset.from_dict({
        "img": [Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")],
        "q": ["what?", "where?"], "uid": [10, 11],
    }).cast_column("img", datasets.Image())
    ds.to_parquet(str(tmp_path / "ds.parquet"))
    orig = datasets.load_dataset
    calls = []

    def fake_load(name, config, split, revision):  # a local parquet stands in for a Hub id
        calls.append((name, config, split, revision))
        return orig("parquet", data_files=str(tmp_path / "ds.parquet"), split="train")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    src = [{"kind": "hf_dataset", "dataset": "org/set", "name": "hf", "image_column": "img",
            "prompt_column": "q", "id_column": "uid", "split": "validation", "revision": "v1"}]
    samples = collect_samples(recipe(tmp_path, src))
    assert calls == [("org/set", None, "validation", "v1")]
    assert [(s.key, s.prompt) for s in samples] == [("hf-10-p0", "what?"), ("hf-11-p0", "where?")]
    assert samples[1].load_image().getpixel((0, 0))[2] > 200


def test_hf_dataset_missing_column_lists_columns(tmp_path, monkeypatch):
    import datasets

    ds = datasets.Dataset.from_dict({"picture": ["x"], "q": ["y"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: ds)
    src = [{"kind": "hf_dataset", "dataset": "org/set", "prompts": ["p"]}]
    with pytest.raises(SourceError, match=r"no column\(s\) \['image'\]; columns: \['picture', 'q'\]"):
        collect_samples(recipe(tmp_path, src))


def test_world_source_renders_the_indexed_scenes(tmp_path):
    from judgefree_hub.world import WorldConfig, render, scene_at

    raw = {"name": "w", "version": "1.0.0", "model": {"id": "m"},
           "sources": [{"kind": "world", "split": "eval", "start": 500, "count": 3, "seed": 2, "image_size": 48,
                        "prompts": ["Describe the image."]}]}
    samples = collect_samples(recipe_from_dict(raw, base_dir=tmp_path))
    assert [s.key for s in samples] == ["world-eval-00500-p0", "world-eval-00501-p0", "world-eval-00502-p0"]
    want = render(scene_at(WorldConfig(seed=2, image_size=48), "eval", 501), 48)
    assert samples[1].load_image().tobytes() == want.tobytes() and want.size == (48, 48)
