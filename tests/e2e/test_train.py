"""jfhub train end to end on the tiny demo model: from the local Hub by tag, a real learning
check, foreign layouts, the one-line layout error, and two processes under accelerate."""

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import ROOT, own_display_only, run_jfhub
from PIL import Image

from judgefree_hub.testing.hub import LocalHub
from judgefree_hub.train.config import load_train_spec
from judgefree_hub.train.trainer import train

pytestmark = pytest.mark.slow
TOKEN = "hf_trainTestToken"


def spec(dataset, out, **over):
    base = {"dataset": str(dataset), "model": "demo:tiny-llava", "output_dir": str(out),
            "dpo": {"max_steps": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1}}
    for key, value in over.items():
        if isinstance(value, dict):
            base[key] = {**base.get(key, {}), **value}
        else:
            base[key] = value
    return load_train_spec(None, base)


def test_train_from_the_local_hub_by_tag(demo_build, tmp_path, monkeypatch, online_to_local_hub):
    from judgefree_hub.hub.publish import publish

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with LocalHub(tmp_path / "hub", tokens=[TOKEN]) as url:
        pushed = publish(demo_build[0], "demo-org/jfhub-smoke", endpoint=url, wait_s=0.01)
        env = dict(os.environ, HF_ENDPOINT=url, HF_HUB_DISABLE_XET="1", HF_DATASETS_OFFLINE="0",
                   HF_HOME=str(tmp_path / "hf-home"))
        out = tmp_path / "trained"
        proc = run_jfhub("train", "demo-org/jfhub-smoke", "--revision", "v0.1.0", "--model", "demo:tiny-llava",
                         "--output", out, "--max-steps", "2", "--batch-size", "2", "--grad-accum", "1", env=env)
    assert "step 2/2  loss" in proc.stdout and f"@ {pushed.commit_oid[:19]}" in proc.stdout
    # train's display is its step lines (stdout), one per step; stderr stays empty: no Hub download
    # bars, no datasets "Generating"/"Map" bars, no "Loading weights", no TRL log, no FutureWarning
    assert proc.stdout.count("step 1/2  loss") == 1 and proc.stdout.count("step 2/2  loss") == 1
    own_display_only(proc.stderr)
    card = (out / "README.md").read_text()
    assert f"`{pushed.commit_oid}`" in card and "revision asked | `v0.1.0`" in card
    assert "`jfhub-smoke` v0.1.0 (model `demo:tiny-llava`, strategy `mix`)" in card
    assert "datasets:\n- \"demo-org/jfhub-smoke\"" in card
    assert "base_model:" not in card  # a demo: ref is no Hub id; the snippet resolves it instead
    assert 'from_pretrained(model_path("demo:tiny-llava"))' in card
    assert {"adapter_config.json", "adapter_model.safetensors", "processor_config.json", "metrics.json"} <= {
        p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2 and math.isfinite(metrics["loss"])
    assert json.loads((out / "train_config.json").read_text())["revision"] == "v0.1.0"


def test_dpo_learns_on_a_fixed_small_set(demo_build, tmp_path):
    """A real learning check: 12 LoRA steps on the 16 demo pairs (fixed seed)."""
    s = spec(demo_build[0], tmp_path / "out", dpo={"max_steps": 12, "per_device_train_batch_size": 4,
                                                   "learning_rate": 5e-4})
    result = train(s)
    m = result.metrics
    assert m["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert m["train_loss"] < math.log(2) - 0.05
    assert m["rewards/margins"] > 0 and m["rewards/accuracies"] > 0.5
    adapter = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert "language_model" in adapter["target_modules"] and "vision" not in adapter["target_modules"]


def foreign(tmp_path, layout):
    import datasets

    imgs = [Image.new("RGB", (24, 24), c) for c in ("red", "blue", "green", "white")]
    answers = dict(chosen=["a red square", "a blue square", "a green square", "a white square"],
                   rejected=["a cat", "a dog on a sofa", "two boats", "a clock tower"])
    prompts = ["What is shown?"] * 4
    if layout == "rlaif_v":
        data = {"question": prompts, "image": imgs, **answers}
    elif layout == "trl":
        msg = lambda role, text: [{"role": role, "content": [{"type": "text", "text": text}]}]
        data = {"images": [[i] for i in imgs],
                "prompt": [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}]
                           for p in prompts],
                "chosen": [msg("assistant", t) for t in answers["chosen"]],
                "rejected": [msg("assistant", t) for t in answers["rejected"]]}
    else:
        data = {"q": prompts, "img": imgs, "good": answers["chosen"], "bad": answers["rejected"]}
    path = tmp_path / layout
    datasets.Dataset.from_dict(data).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("layout,columns", [
    ("trl", None), ("rlaif_v", None),
    ("generic", {"prompt": "q", "image": "img", "chosen": "good", "rejected": "bad"})])
def test_foreign_layouts_train_one_step(tmp_path, layout, columns):
    result = train(spec(foreign(tmp_path, layout), tmp_path / "out", columns=columns))
    assert result.rows == 4 and result.metrics["step"] == 1
    assert result.metrics["first_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert f"| layout | {layout} |" in (tmp_path / "out" / "README.md").read_text()


def test_unmappable_dataset_is_one_line(tmp_path):
    path = foreign(tmp_path, "generic")
    proc = run_jfhub("train", path, "--model", "demo:tiny-llava", "--output", tmp_path / "o", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: dataset columns ['q', 'img', 'good', 'bad'] match no known preference layout")
    assert "--columns" in lines[0]


@pytest.mark.parametrize("launch,world_size", [
    # torchrun-style launcher: two real DDP processes (gloo) on a machine without a GPU
    (["--multi_gpu", "--num_processes", "2"], 2),
    # what the issue names; accelerate 1.15 runs --cpu through its single-process launcher
    (["--num_processes", "2", "--cpu"], None),
])
def test_runs_under_accelerate_launch(demo_build, tmp_path, launch, world_size):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch, "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "judgefree_hub.cli", "train", str(demo_build[0]), "--model", "demo:tiny-llava",
           "--output", str(out), "--max-steps", "2", "--batch-size", "2", "--grad-accum", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step 2/2  loss") == 1  # printed by the main process only
    assert proc.stdout.count("trained on 16 pairs") == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2
    if world_size:
        assert metrics["world_size"] == world_size
