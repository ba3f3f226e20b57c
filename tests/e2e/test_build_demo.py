"""End to end: the real CLI builds the demo; the output loads with datasets, webdataset and
TRL; rebuilds are byte-identical; a killed build resumes to the same bytes."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import own_display_only
from conftest import run_jfhub as jfhub

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recipes" / "smoke.json"
pytestmark = pytest.mark.slow


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(demo_build):
    return demo_build


def test_cli_build_writes_a_complete_version(built):
    root, proc = built
    assert "built" in proc.stdout and "pairs from 16 samples" in proc.stdout
    # --no-progress: no bar at all, the libraries' own ones included (transformers' "Loading weights"),
    # and nothing else on stderr either
    assert proc.stderr == "", proc.stderr[-500:]
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"manifest.json", "stats.json", "README.md", "recipe.json"} <= names
    assert not any(n.startswith(".progress") for n in names)
    manifest = json.loads((root / "manifest.json").read_text())
    assert [s["file"] for s in manifest["shards"]] == [f"data/train-00000{i}.tar" for i in range(3)]
    for s in manifest["shards"]:
        data = (root / s["file"]).read_bytes()
        assert len(data) == s["bytes"] and hashlib.sha256(data).hexdigest() == s["sha256"]
    stats = json.loads((root / "stats.json").read_text())
    assert stats["samples"] == 16
    assert stats["pairs"] + sum(stats["dropped"].values()) == 16
    assert stats["pairs"] == manifest["rows"] > 0
    card = (root / "README.md").read_text()
    assert card.startswith("---\nlicense: cc0-1.0\n") and "random weights" in card
    assert "path: data/train-*.tar" in card and manifest["shards"][0]["sha256"] in card
    assert json.loads((root / "recipe.json").read_text())["verifier"]["long_text"] == "sentence_mean"


def test_output_loads_with_datasets(built):
    import datasets

    root, _ = built
    ds = datasets.load_dataset("webdataset", data_files={"train": str(root / "data" / "train-*.tar")}, split="train")
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(ds) == manifest["rows"]
    assert {"__key__", "jpg", "json"} <= set(ds.column_names)
    from judgefree_hub.output.rows import FIELDS

    assert set(ds.features["json"]) == set(FIELDS)
    row = ds[0]
    assert row["jpg"].mode == "RGB" and row["json"]["strategy"] == "mix"
    assert row["json"]["model_id"] == "demo:tiny-llava"
    assert all(0.1 <= (r["rejected_ratio"] if not r["reversed"] else r["chosen_ratio"]) <= 1.0 for r in ds["json"])


def test_output_loads_with_webdataset(built):
    import webdataset as wds

    root, _ = built
    urls = sorted(str(p) for p in (root / "data").glob("*.tar"))
    rows = list(wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("__key__", "jpg", "json"))
    assert len(rows) == json.loads((root / "manifest.json").read_text())["rows"]
    keys = [k for k, _, _ in rows]
    assert len(set(keys)) == len(keys) and all("." not in k for k in keys)
    assert all(r["chosen"] != r["rejected"] for _, _, r in rows)


def test_rebuild_is_byte_identical(built, tmp_path):
    root, _ = built
    proc = jfhub("build", DEMO, "--out", tmp_path)
    assert tree_hashes(tmp_path / "jfhub-smoke" / "0.1.0") == tree_hashes(root)
    # by default one display, jfhub's "building" bar, and no library's bar, log or warning
    own_display_only(proc.stderr, building=1)
    assert "pairs/s=" in proc.stderr and "16/16" in proc.stderr


def test_killed_build_resumes_to_the_same_bytes(built, tmp_path):
    root, _ = built
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "judgefree_hub.cli", "build", str(DEMO), "--out", str(tmp_path),
                             "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = tmp_path / "jfhub-smoke" / "0.1.0" / ".progress" / "train-000000.json"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    part = tmp_path / "jfhub-smoke" / "0.1.0"
    assert marker.exists() and not (part / "manifest.json").exists()
    resumed = jfhub("build", DEMO, "--out", tmp_path, "--no-progress")
    assert "already done" in resumed.stdout and "0 shard(s) built" not in resumed.stdout
    assert tree_hashes(part) == tree_hashes(root)


def test_bad_recipe_exits_2_with_one_line_per_problem(tmp_path):
    raw = json.loads(DEMO.read_text())
    raw["verifier"]["reverse_margin"] = -1
    raw["model"]["dtype"] = "fp32"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    out = tmp_path / "out"
    proc = jfhub("build", bad, "--out", out, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"Error: {bad}: $.model.dtype: must be one of 'auto', 'float32', 'bfloat16', 'float16', got \"fp32\"",
        f"Error: {bad}: $.verifier.reverse_margin: must be >= 0, got -1",
    ]
    assert not out.exists()
    assert jfhub("validate", bad, check=False).returncode == 2
    assert "ok" in jfhub("validate", DEMO).stdout


def test_dpo_step_with_trl_on_the_built_pairs(built, tmp_path):
    import copy
    import math

    import datasets
    import torch
    import webdataset as wds
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import DPOConfig, DPOTrainer

    from judgefree_hub.demo import resolve
    from judgefree_hub.output.rows import to_trl

    root, _ = built
    urls = sorted(str(p) for p in (root / "data").glob("*.tar"))
    rows = [to_trl(r, im) for im, r in wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("jpg", "json")]
    ds = datasets.Dataset.from_list(rows)
    assert ds[0]["prompt"][0]["content"][0] == {"type": "image", "text": None}
    path = resolve("demo:tiny-llava")
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, bf16=False,
                     activation_checkpointing=False, max_length=None, report_to=[], use_cpu=True,
                     logging_steps=1, save_strategy="no", learning_rate=1e-3)
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=ds,
                         processing_class=processor)
    trainer.train()
    log = trainer.state.log_history[0]
    assert math.isclose(log["loss"], math.log(2), rel_tol=1e-4)  # policy == reference at step 1
    assert log["grad_norm"] > 0
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters())
