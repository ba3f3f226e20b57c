"""A dataset streamed from the local Hub-compatible server builds the same pairs as the same
dataset downloaded, and two processes (torchrun) streaming it build the same bytes as one:
every process reads the stream and builds only the shards it claims."""

import io
import json
import os
import random
import subprocess
import sys

import pytest
from conftest import ROOT, run_jfhub
from PIL import Image
from test_build_demo import tree_hashes

from judgefree_hub.testing.hub import LocalHub

pytestmark = pytest.mark.slow
REPO = "org/photos"


def photo(seed: int) -> bytes:
    rnd = random.Random(seed)
    image = Image.new("RGB", (48, 48), tuple(rnd.randrange(256) for _ in range(3)))
    for _ in range(6):
        x, y = rnd.randrange(40), rnd.randrange(40)
        image.paste(tuple(rnd.randrange(256) for _ in range(3)), (x, y, x + 8, y + 8))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def recipe(tmp_path, streaming: bool) -> str:
    raw = json.loads((ROOT / "recipes" / "smoke.json").read_text())
    raw["sources"] = [{"kind": "hf_dataset", "name": "hub", "dataset": REPO, "streaming": streaming,
                       "prompts": ["Describe the image in detail.", "What objects are in this picture?"]}]
    raw["output"]["samples_per_shard"] = 4
    path = tmp_path / f"streaming-{streaming}.json"
    path.write_text(json.dumps(raw))
    return str(path)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A parquet dataset of 10 photos (no id column: keys hash the image bytes) on a local Hub."""
    import datasets

    tmp = tmp_path_factory.mktemp("streaming-hub")
    folder = tmp / "repo" / "data"
    folder.mkdir(parents=True)
    features = datasets.Features({"image": datasets.Image()})
    datasets.Dataset.from_dict({"image": [{"bytes": photo(i), "path": None} for i in range(10)]},
                               features=features).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    with LocalHub(tmp / "hub") as url:
        env = {**os.environ, "HF_ENDPOINT": url, "HF_TOKEN": "any", "HF_HUB_DISABLE_XET": "1",
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp / "home"),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.pop("HF_DATASETS_CACHE", None)
        upload = ("from huggingface_hub import HfApi; import sys; "
                  f"HfApi().create_repo('{REPO}', repo_type='dataset'); "
                  f"HfApi().upload_folder(repo_id='{REPO}', folder_path=sys.argv[1], repo_type='dataset')")
        done = subprocess.run([sys.executable, "-c", upload, str(tmp / "repo")], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        yield env


def test_streamed_builds_the_same_pairs_as_downloaded(hub, tmp_path):
    roots = {}
    for streaming in (False, True):
        out = tmp_path / f"out-{streaming}"
        run_jfhub("build", recipe(tmp_path, streaming), "--out", out, "--no-progress", env=hub)
        roots[streaming] = out / "jfhub-smoke" / "0.1.0"
    data = [{k: v for k, v in tree_hashes(r).items() if k.startswith("data/")} for r in roots.values()]
    assert data[0] == data[1] and len(data[0]) == 5  # 20 samples, 4 per shard
    stats = [json.loads((r / "stats.json").read_text()) for r in roots.values()]
    assert stats[0] == stats[1] and stats[0]["samples"] == 20


def test_two_processes_streaming_build_the_bytes_of_one(hub, tmp_path):
    path = recipe(tmp_path, True)
    run_jfhub("build", path, "--out", tmp_path / "one", "--no-progress", env=hub)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "judgefree_hub.cli", "build", path, "--out", str(tmp_path / "two"), "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, env=hub, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 1: built" in done.stdout
    assert tree_hashes(tmp_path / "two") == tree_hashes(tmp_path / "one")
