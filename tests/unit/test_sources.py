import io
import json
import re

import pytest
from PIL import Image

from judgefree_hub.errors import SourceError
from judgefree_hub.recipe import recipe_from_dict
from judgefree_hub.sources import collect_samples, is_streaming, iter_samples


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


@pytest.mark.parametrize("bad", [b"\xff\xfe", b'{"id": "b", "image": "\xe9.png"}', b"\xc3"])
def test_jsonl_line_that_is_not_utf8_names_file_and_line(tmp_path, bad):
    (tmp_path / "m.jsonl").write_bytes(b'{"id": "a", "image": "x.png"}\r\n' + bad + b"\n")
    with pytest.raises(SourceError, match=r"m\.jsonl:2: not UTF-8 \(invalid .* at byte \d+\)$"):
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

    def fake_load(name, config, split, revision, streaming):  # a local parquet for a Hub id
        calls.append((name, config, split, revision, streaming))
        return orig("parquet", data_files=str(tmp_path / "ds.parquet"), split="train")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    src = [{"kind": "hf_dataset", "dataset": "org/set", "name": "hf", "image_column": "img",
            "prompt_column": "q", "id_column": "uid", "split": "validation", "revision": "v1"}]
    samples = collect_samples(recipe(tmp_path, src))
    assert calls == [("org/set", None, "validation", "v1", False)]
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


# --- reading lazily (issue 15: sources that do not fit in memory or on disk) ------------------

def test_jsonl_is_read_line_by_line(tmp_path, images):
    """Samples come before a bad line is reached, and lines appended after the first samples were
    taken are still read: the manifest is never read whole."""
    good = [json.dumps({"id": f"x{i}", "image": "imgs/a.jpg"}) for i in (1, 2)]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(good) + "\n")
    it = iter_samples(recipe(tmp_path, [{"kind": "jsonl", "name": "m", "path": "m.jsonl",
                                         "prompts": ["p"]}]))
    assert [next(it).key, next(it).key] == ["m-x1-p0", "m-x2-p0"]
    with manifest.open("a") as f:
        f.write(json.dumps({"id": "x3", "image": "imgs/b.png"}) + "\n{not json\n")
    assert next(it).key == "m-x3-p0"
    with pytest.raises(SourceError, match=r"m\.jsonl:4: invalid JSON"):
        next(it)


def test_iter_samples_opens_a_source_only_when_the_previous_one_is_done(tmp_path, images,
                                                                        monkeypatch):
    from judgefree_hub.sources.jsonl import JsonlSource

    events = []
    rows = JsonlSource.rows

    def spy(self):
        events.append(f"rows {self.name}")
        return rows(self)

    monkeypatch.setattr(JsonlSource, "rows", spy)
    for name in ("a", "b"):
        lines = [json.dumps({"id": f"{name}{i}", "image": "imgs/a.jpg"}) for i in range(2)]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    r = recipe(tmp_path, [{"kind": "jsonl", "name": n, "path": f"{n}.jsonl", "prompts": ["p"]}
                          for n in ("a", "b")])
    it = iter_samples(r)
    assert events == []  # nothing is listed up front
    for sample in it:
        events.append(sample.key)
    assert events == ["rows a", "a-a0-p0", "a-a1-p0", "rows b", "b-b0-p0", "b-b1-p0"]
    assert [s.key for s in collect_samples(r)] == [e for e in events if "-" in e]
    assert is_streaming(r) is False


def tree_paths(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def random_tree(root, rnd, depth=0):
    """Names that sort differently as names and as paths ('a-b' < 'a/' < 'a.png' < 'ab')."""
    names = ["a", "a.png", "a-b", "ab", "a b", "a0", "B", "_x", "a.b", "z"]
    for name in rnd.sample(names, rnd.randint(1, 6)):
        if (root / name).exists():
            continue
        if depth < 3 and rnd.random() < 0.4:
            (root / name).mkdir()
            random_tree(root / name, rnd, depth + 1)
        else:
            (root / name).write_bytes(b"")


def test_folder_walk_order_is_the_sorted_path_order(tmp_path):
    import random

    for seed in range(30):
        root = tmp_path / f"t{seed}"
        (root / "a").mkdir(parents=True)  # a folder named 'a' next to 'a.png', 'a-b', 'ab'
        for name in ("a/b.png", "a.png", "a-b", "ab"):
            (root / name).write_bytes(b"")
        random_tree(root, random.Random(seed))
        src = [{"kind": "folder", "path": root.name, "prompts": ["p"], "include": ["*"],
                "recursive": True}]
        got = [s.source_id.split(":", 1)[1] for s in iter_samples(recipe(tmp_path, src))]
        assert got == tree_paths(root), seed


def test_folder_lists_each_folder_when_it_is_reached(tmp_path):
    for name in ("a/1.png", "b/2.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    src = [{"kind": "folder", "path": ".", "prompts": ["p"], "recursive": True}]
    it = iter_samples(recipe(tmp_path, src))
    assert next(it).source_id == "folder:a/1.png"
    (tmp_path / "b" / "0.png").write_bytes(b"")  # b/ not listed yet: found
    assert [s.source_id for s in it] == ["folder:b/0.png", "folder:b/2.png"]


def test_folder_without_a_match_is_refused_after_the_walk(tmp_path, images):
    (images / "sub").mkdir()
    (images / "sub" / "x.png").write_bytes(b"")
    src = [{"kind": "folder", "path": "imgs", "prompts": ["p"], "include": ["*.gif"],
            "recursive": True}]
    with pytest.raises(SourceError, match=r"no file in .*imgs matches \['\*\.gif'\]"):
        collect_samples(recipe(tmp_path, src))


# --- hf_dataset: content keys and streaming -------------------------------------------------

def png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG")
    return buf.getvalue()


def parquet_dir(path, rows) -> str:
    """A local dataset folder (train.parquet) of (png bytes, prompt or None) rows."""
    import datasets

    path.mkdir()
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for b, _ in rows], "q": [q for _, q in rows]},
        features=datasets.Features({"image": datasets.Image(), "q": datasets.Value("string")}))
    ds.to_parquet(str(path / "train.parquet"))
    return str(path)


@pytest.fixture
def ds_cache(tmp_path, monkeypatch):
    """datasets' cache in tmp (it reads the environment at import)."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))


def hf_samples(tmp_path, path, streaming=False, **options):
    src = {"kind": "hf_dataset", "name": "hf", "dataset": path, "prompt_column": "q",
           "prompts": ["P"], "streaming": streaming, **options}
    return [(s.key, s.prompt, s.load_image().tobytes())
            for s in iter_samples(recipe(tmp_path, [src]))]


ROWS = [(png("red"), "what?"), (png("blue"), None), (png("green"), "where?"),
        (png("white"), "what?"), (png("black"), None)]


def test_hf_keys_are_content_hashes_not_row_positions(tmp_path, ds_cache):
    import random

    rows = ROWS.copy()
    random.Random(1).shuffle(rows)
    plain = hf_samples(tmp_path, parquet_dir(tmp_path / "a", ROWS))
    shuffled = hf_samples(tmp_path, parquet_dir(tmp_path / "b", rows))
    assert sorted(plain) == sorted(shuffled) and plain != shuffled
    assert all(re.fullmatch(r"hf-[0-9a-f]{16}-p0", key) for key, _, _ in plain)
    assert [p for _, p, _ in plain] == ["what?", "P", "where?", "what?", "P"]
    assert plain[1][2] == Image.new("RGB", (4, 4), "blue").tobytes()


def test_hf_same_image_and_prompt_is_skipped_other_prompt_is_another_sample(tmp_path, ds_cache,
                                                                             caplog):
    rows = [(png("red"), "what?"), (png("blue"), None), (png("red"), "what?"),
            (png("red"), "where?"), (png("blue"), None)]
    samples = hf_samples(tmp_path, parquet_dir(tmp_path / "d", rows))
    assert [p for _, p, _ in samples] == ["what?", "P", "where?"]
    assert len({k for k, _, _ in samples}) == 3  # one image, two questions: two keys
    assert samples[0][2] == samples[2][2]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == ["source 'hf': row 2 has the same image bytes and prompt as row 0; skipped",
                      "source 'hf': row 4 has the same image bytes and prompt as row 1; skipped"]


def test_hf_streaming_gives_the_same_samples_as_loading(tmp_path, ds_cache, caplog,
                                                        monkeypatch):
    import datasets

    kinds, load = [], datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda *a, **k: kinds.append(type(ds := load(*a, **k)).__name__) or ds)
    path = parquet_dir(tmp_path / "d", ROWS + [ROWS[0]])
    loaded, streamed = hf_samples(tmp_path, path), hf_samples(tmp_path, path, streaming=True)
    assert kinds == ["Dataset", "IterableDataset"]
    assert streamed == loaded and len(loaded) == len(ROWS)
    assert "row 5 has the same image bytes and prompt as row 0" in caplog.text
    src = {"kind": "hf_dataset", "dataset": path, "prompts": ["p"], "streaming": True}
    assert is_streaming(recipe(tmp_path, [src]))


def test_hf_streaming_reads_rows_as_they_come(tmp_path, monkeypatch):
    """A stream has no length and no column access: the first sample is there before the
    stream is read further, and a corrupt image fails only its own sample."""
    import datasets

    read = []

    def rows():
        for i, data in enumerate([png("red"), b"not a png", png("blue")]):
            read.append(i)
            yield {"image": {"bytes": data, "path": None}, "uid": f"r{i}"}

    features = datasets.Features({"image": datasets.Image(), "uid": datasets.Value("string")})
    stream = datasets.IterableDataset.from_generator(rows, features=features)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, streaming, **k: stream)
    for id_column in ("uid", None):
        read.clear()
        src = {"kind": "hf_dataset", "dataset": "org/set", "prompts": ["p"], "streaming": True,
               "id_column": id_column}
        it = iter_samples(recipe(tmp_path, [src]))
        first = next(it)
        assert read == [0] and first.load_image().getpixel((0, 0)) == (255, 0, 0)
        bad, last = list(it)
        with pytest.raises(OSError):
            bad.load_image()
        assert last.load_image().getpixel((0, 0)) == (0, 0, 255)
        assert first.load_image().getpixel((0, 0)) == (255, 0, 0)  # loads again


def test_hf_streaming_missing_column_is_one_line(tmp_path, monkeypatch):
    """Known features are checked at load; unknown ones (a generator without features) on the
    first row, with the same message."""
    import datasets

    def rows():
        yield {"picture": "x", "q": "y"}

    for features in (datasets.Features({"picture": datasets.Value("string"),
                                        "q": datasets.Value("string")}), None):
        stream = datasets.IterableDataset.from_generator(rows, features=features)
        assert (stream.column_names is None) == (features is None)
        monkeypatch.setattr(datasets, "load_dataset", lambda *a, streaming, s=stream, **k: s)
        src = [{"kind": "hf_dataset", "dataset": "org/set", "prompts": ["p"], "streaming": True}]
        says = r"no column\(s\) \['image'\]; columns: \['picture', 'q'\]"
        with pytest.raises(SourceError, match=says):
            collect_samples(recipe(tmp_path, src))
