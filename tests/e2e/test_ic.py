"""The IC builder and `jfhub eval` end to end: the starter set builds, loads with datasets,
round-trips through the local Hub by tag, and scores captions from the tiny model or a file."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, own_display_only, run_jfhub

pytestmark = pytest.mark.slow
STARTER = ROOT / "recipes" / "ic-starter.json"


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    out = tmp_path_factory.mktemp("ic-out")
    proc = run_jfhub("build", STARTER, "--out", out, "--no-progress")
    return out / "jfhub-ic-starter" / "0.1.0", proc


def test_starter_set_builds_and_loads_with_datasets(starter):
    import datasets

    root, proc = starter
    assert proc.stderr == ""  # --no-progress
    stats = json.loads((root / "stats.json").read_text())
    assert stats["images"] >= 30 and len(stats["images_by_domain"]) >= 5
    assert stats["elements"] >= 3 * stats["images"]
    ds = datasets.load_dataset(str(root), split="test")  # the card's configs and features
    assert len(ds) == stats["images"]
    row = ds[0]["json"]
    assert set(row) == {"id", "domain", "elements", "reference_caption", "source", "caption_prompt"}
    assert {"name", "synonyms", "kind", "of"} == set(row["elements"][0])
    card = (root / "README.md").read_text()
    assert "caer 2.0.8 (MIT)" in card and "scikit-image (CC0)" in card


def test_reference_captions_score_near_perfect(starter, tmp_path):
    """The annotations and the scorer agree: each reference caption mentions its elements."""
    root, _ = starter
    rows = [json.loads(line) for line in (ROOT / "recipes" / "ic-starter" / "manifest.jsonl").read_text().splitlines()]
    caps = tmp_path / "reference.jsonl"
    caps.write_text("".join(json.dumps({"id": r["id"], "caption": r["reference_caption"]}) + "\n" for r in rows))
    # a fresh datasets cache: loading the IC set generates its split (datasets shows a bar for that)
    env = dict(os.environ, HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"))
    proc = run_jfhub("eval", "--ic", root, "--captions", caps, "--out", tmp_path / "ref", env=env)
    assert proc.stderr == ""  # captions from a file: no long step, no display; the libraries' are muted
    verbose_env = dict(os.environ, HF_DATASETS_CACHE=str(tmp_path / "datasets-cache-2"))
    verbose = run_jfhub("eval", "--ic", root, "--captions", caps, "--out", tmp_path / "ref-v", "--verbose",
                        env=verbose_env)
    assert "Generating test split" in verbose.stderr  # --verbose brings the libraries' bars back
    assert verbose.stdout == proc.stdout.replace(str(tmp_path / "ref"), str(tmp_path / "ref-v"))
    summary = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert summary["overall"]["micro"]["recall"] >= 0.9
    assert summary["overall"]["micro"]["precision"] >= 0.9
    per_image = (tmp_path / "ref" / "per_image.jsonl").read_text().splitlines()
    assert len(per_image) == len(rows)


def test_eval_with_the_tiny_model_and_compare(starter, tmp_path):
    root, _ = starter
    proc = run_jfhub("eval", "--ic", root, "--model", "demo:tiny-llava", "--max-new-tokens", "12",
                     "--out", tmp_path / "tiny")
    # one display: the "captioning" bar (images done, with the rate); no library output, no warning
    own_display_only(proc.stderr, captioning=1)
    assert "33/33" in proc.stderr and "image/s]" in proc.stderr
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert summary["meta"]["model"] == "demo:tiny-llava"
    assert 0 <= summary["overall"]["micro"]["recall"] <= 1
    lines = [json.loads(x) for x in (tmp_path / "tiny" / "per_image.jsonl").read_text().splitlines()]
    assert all(isinstance(x["caption"], str) and x["caption"] for x in lines)
    rows = [json.loads(line) for line in (ROOT / "recipes" / "ic-starter" / "manifest.jsonl").read_text().splitlines()]
    caps = tmp_path / "reference.jsonl"
    caps.write_text("".join(json.dumps({"id": r["id"], "caption": r["reference_caption"]}) + "\n" for r in rows))
    run_jfhub("eval", "--ic", root, "--captions", caps, "--out", tmp_path / "ref")
    cmp = run_jfhub("eval", "--compare", tmp_path / "tiny" / "summary.json", tmp_path / "ref" / "summary.json")
    ref = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert len(lines) == len(rows) and summary["counts"]["captions"] == len(rows)
    # the compare table reads both summaries: a = the tiny model, b = the reference captions
    table = {cells[0]: cells[1:] for cells in map(str.split, cmp.stdout.splitlines()) if cells}
    for metric in ("precision", "recall", "f1"):
        a, b = summary["overall"]["micro"][metric], ref["overall"]["micro"][metric]
        delta = "-" if a is None else f"{round(b - a, 4):+.4f}"
        want = ["-" if a is None else f"{a:.4f}", f"{b:.4f}", delta]
        assert table[f"micro.{metric}"] == want, (metric, cmp.stdout)
    # random weights name few of the annotated elements
    assert summary["overall"]["micro"]["recall"] < ref["overall"]["micro"]["recall"]


def test_bad_manifest_lines_are_reported_and_nothing_is_written(tmp_path):
    (tmp_path / "img").mkdir()
    shutil.copy(ROOT / "recipes" / "ic-starter" / "images" / "puppy.jpg", tmp_path / "img" / "ok.jpg")
    (tmp_path / "img" / "broken.jpg").write_bytes(b"not a jpeg")
    rows = [
        {"id": "ok", "image": "img/ok.jpg", "domain": "animals", "elements": [{"name": "dog", "kind": "object"}]},
        {"id": "bad", "image": "img/broken.jpg", "elements": [{"name": "x"}]},
        {"id": "empty", "image": "img/ok.jpg", "elements": []},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "ic.json"
    recipe.write_text(json.dumps({"name": "t", "version": "1.0.0", "builder": "ic", "ic": {"manifest": "m.jsonl"}}))
    proc = run_jfhub("build", recipe, "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'm.jsonl'}: line 2: row 'bad': image img/broken.jpg cannot be read (UnidentifiedImageError)",
        f"Error: {tmp_path / 'm.jsonl'}: line 3: row 'empty' has no elements (need at least one)",
    ]
    assert not (tmp_path / "out").exists()


def test_starter_set_round_trips_through_the_local_hub(starter, tmp_path, monkeypatch, online_to_local_hub):
    from judgefree_hub.hub.publish import publish
    from judgefree_hub.testing.hub import LocalHub

    root, _ = starter
    monkeypatch.setenv("HF_TOKEN", "t")
    with LocalHub(tmp_path / "hub") as url:
        result = publish(root, "demo-org/ic-starter", endpoint=url, wait_s=0.01)
        env = dict(os.environ, HF_ENDPOINT=url, HF_DATASETS_OFFLINE="0", HF_HOME=str(tmp_path / "hf"))
        code = ("from datasets import load_dataset; ds = load_dataset('demo-org/ic-starter', revision='v0.1.0', "
                "split='test'); print(len(ds), ds[0]['json']['id'])")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n, first = proc.stdout.split()
    assert int(n) == json.loads((root / "stats.json").read_text())["images"] and result.tag == "v0.1.0"
    assert first == sorted(json.loads(x)["id"] for x in
                           (ROOT / "recipes" / "ic-starter" / "manifest.jsonl").read_text().splitlines())[0]
