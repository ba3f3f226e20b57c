"""One build, many processes, by the real launcher: `torchrun` (gloo, CPU) runs `jfhub build`
on two processes and writes the bytes of a one-process build; a rank killed mid-build, then a
one-process rerun, ends with the same bytes too. Thread counts are pinned to 1 in every process
(torchrun's default), since CPU thread counts change the verifier's scores in the 6th decimal."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import JFHUB_CMD, ROOT, run_jfhub
from test_build_demo import tree_hashes

from judgefree_hub.testing.hub import LocalHub

pytestmark = pytest.mark.slow
SMOKE = ROOT / "recipes" / "smoke.json"


def env_one_thread(**extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def torchrun(recipe: Path, out: Path, *args, n: int = 2, env=None, **popen):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           "-m", "judgefree_hub.cli", "build", str(recipe), "--out", str(out), "--no-progress", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env or env_one_thread(), text=True, **popen)


def variant(tmp_path: Path, **output) -> Path:
    """The smoke recipe with other output settings (its folder source reads an installed package,
    so the copy works from anywhere)."""
    raw = json.loads(SMOKE.read_text())
    raw["output"].update(output)
    raw["version"] = "0.1.1"
    path = tmp_path / "smoke-variant.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("solo")
    run_jfhub("build", SMOKE, "--out", out, "--no-progress", env=env_one_thread())
    return out / "jfhub-smoke" / "0.1.0"


def test_two_processes_write_the_bytes_of_one(one_process, tmp_path):
    proc = torchrun(SMOKE, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    root = tmp_path / "jfhub-smoke" / "0.1.0"
    assert tree_hashes(root) == tree_hashes(one_process)
    lines = stdout.splitlines()
    finished = [line for line in lines if line.startswith("built ")]
    helpers = [line for line in lines if line.startswith("rank 1: built ")]
    assert len(finished) == 1 and "pairs from 16 samples" in finished[0], stdout
    assert len(helpers) == 1 and "rank 0 finishes the version" in helpers[0], stdout


def test_srun_style_processes_write_the_bytes_of_one(one_process, tmp_path):
    """As srun starts them: SLURM_* variables and MASTER_ADDR/PORT, no launcher agent, so rank 0
    hosts the store itself and must outlive the others' last call."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([*JFHUB_CMD, "build", str(SMOKE), "--out", str(tmp_path), "--no-progress"], cwd=ROOT,
                              env=env_one_thread(SLURM_PROCID=str(r), SLURM_NTASKS="2", SLURM_LOCALID=str(r),
                                                 MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (1, 0)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert outs[0][0].startswith("rank 1: built ") and outs[1][0].startswith("built ")
    assert tree_hashes(tmp_path / "jfhub-smoke" / "0.1.0") == tree_hashes(one_process)


def test_only_rank_zero_pushes_one_commit_and_one_tag(tmp_path, online_to_local_hub):
    token = "hf_jfhubTestToken0123456789secret"
    with LocalHub(tmp_path / "hub", tokens=[token]) as url:
        hub_env = env_one_thread(HF_TOKEN=token, HF_HUB_OFFLINE="0", HF_HUB_DISABLE_XET="1",
                                 HF_HOME=str(tmp_path / "hf-home"))
        proc = torchrun(SMOKE, tmp_path / "out", "--push", "--repo", "demo-org/smoke", "--endpoint", url,
                        env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        from huggingface_hub import HfApi

        api = HfApi(endpoint=url, token=token)
        commits = [c for c in api.list_repo_commits("demo-org/smoke", repo_type="dataset") if "(jfhub)" in c.title]
        tags = api.list_repo_refs("demo-org/smoke", repo_type="dataset").tags
    assert len(commits) == 1 and [t.name for t in tags] == ["v0.1.0"]
    assert [t.target_commit for t in tags] == [commits[0].commit_id]
    assert stdout.count("pushed ") == 1 and "rank 1: built" in stdout and "and pushes it" in stdout


def test_a_rank_killed_mid_build_then_one_process_ends_with_the_same_bytes(tmp_path):
    recipe = variant(tmp_path, samples_per_shard=1)  # 16 shards: plenty to kill in the middle of
    out = tmp_path / "out"
    proc = torchrun(recipe, out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = out / "jfhub-smoke" / "0.1.1" / ".progress"
    deadline = time.time() + 300
    while (not progress.is_dir() or len(list(progress.glob("*.json"))) < 2) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.02)
    ranks = {p.environ().get("RANK"): p for p in psutil.Process(proc.pid).children(recursive=True)}
    ranks["1"].send_signal(signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # torchrun stops the other rank and reports the failure
    part = out / "jfhub-smoke" / "0.1.1"
    assert not (part / "manifest.json").exists()
    # A shard counts as done once its marker is written (after its bytes): the killed rank may
    # leave a temporary file, and torchrun may stop the other rank between a shard and its marker.
    marked = sorted(p.name for p in progress.glob("*.json"))
    assert 2 <= len(marked) < 16
    assert len(list((part / "data").iterdir())) >= len(marked)

    rerun = run_jfhub("build", recipe, "--out", out, "--no-progress", env=env_one_thread())
    assert f"{len(marked)} already done" in rerun.stdout, rerun.stdout
    clean = tmp_path / "clean"
    run_jfhub("build", recipe, "--out", clean, "--no-progress", env=env_one_thread())
    assert tree_hashes(part) == tree_hashes(clean / "jfhub-smoke" / "0.1.1")
