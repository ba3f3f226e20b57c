"""Publishing to a local Hub-compatible server with the real clients, and loading by tag."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_jfhub

from judgefree_hub.testing.hub import LocalHub

pytestmark = pytest.mark.slow
TOKEN = "hf_jfhubTestToken0123456789secret"
REPO = "demo-org/jfhub-smoke"
CLIENT = Path(__file__).with_name("hub_client.py")


@pytest.fixture(autouse=True)
def online_with_token(online_to_local_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def hub(tmp_path):
    server = LocalHub(tmp_path / "hub-root", tokens=[TOKEN])
    server.start()
    yield server
    server.stop()


def client_env(hub, tmp_path, token=TOKEN):
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN=token, HF_HUB_DISABLE_XET="1",
               HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_HOME=str(tmp_path / "hf-home"))
    env.pop("HF_DATASETS_CACHE", None)
    return env


def client(mode, revision, hub, tmp_path):
    proc = subprocess.run([sys.executable, str(CLIENT), mode, REPO, revision], capture_output=True,
                          text=True, env=client_env(hub, tmp_path), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def second_version(demo_build, tmp_path) -> Path:
    """The demo recipe as v0.2.0 with another seed and shard size: different contents."""
    raw = json.loads((ROOT / "recipes" / "smoke.json").read_text())
    raw.update(version="0.2.0", seed=7)
    raw["output"]["samples_per_shard"] = 16
    raw["sources"][0]["prompts"] = raw["sources"][0]["prompts"][:1]
    recipe = ROOT / "recipes" / f".test-{os.getpid()}-v2.json"
    recipe.write_text(json.dumps(raw))
    try:
        run_jfhub("build", recipe, "--out", tmp_path / "out2", "--no-progress")
    finally:
        recipe.unlink()
    return tmp_path / "out2" / "jfhub-smoke" / "0.2.0"


def refs(hub):
    from huggingface_hub import HfApi

    r = HfApi(endpoint=hub.url, token=TOKEN).list_repo_refs(REPO, repo_type="dataset")
    return {b.name: b.target_commit for b in r.branches}, {t.name: t.target_commit for t in r.tags}


def test_push_load_by_tag_second_version_and_refusal(demo_build, hub, tmp_path):
    root, _ = demo_build
    env = client_env(hub, tmp_path)
    pushed = run_jfhub("push", root, "--repo", REPO, env=env)
    out = pushed.stdout
    assert "1 commit, tag v0.1.0" in out and "commit: " in out
    assert f'load_dataset("{REPO}", revision="v0.1.0", split="train")' in out
    assert f"{hub.url}/datasets/{REPO}/tree/v0.1.0" in out
    branches, tags = refs(hub)
    assert tags == {"v0.1.0": branches["main"]}
    assert tags["v0.1.0"] in out

    manifest = json.loads((root / "manifest.json").read_text())
    v1 = client("load", "v0.1.0", hub, tmp_path)
    assert v1["rows"] == manifest["rows"] and v1["columns"] == ["__key__", "__url__", "jpg", "json"]
    assert client("stream", "v0.1.0", hub, tmp_path)["rows"] == manifest["rows"]
    dpo = client("dpo", "v0.1.0", hub, tmp_path)
    assert dpo["rows"] == manifest["rows"] and abs(dpo["loss"] - 0.6931) < 1e-3
    assert {"images", "prompt", "chosen", "rejected", "chosen_score"} <= set(dpo["columns"])

    root2 = second_version(demo_build, tmp_path)
    run_jfhub("push", root2, "--repo", REPO, env=env)
    v2 = client("load", "v0.2.0", hub, tmp_path)
    assert v2["rows"] == json.loads((root2 / "manifest.json").read_text())["rows"] == 8
    assert client("load", "v0.1.0", hub, tmp_path) == v1  # the old tag still has its own contents
    assert set(v2["keys"]) != set(v1["keys"])

    before = refs(hub)
    again = run_jfhub("push", root, "--repo", REPO, env=env, check=False)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"Error: {REPO}: tag v0.1.0 already exists (commit {before[1]['v0.1.0'][:12]}); a published "
        f"version is never moved: bump 'version' in the recipe and build again"]
    assert refs(hub) == before

    # The token never appears in anything printed or written.
    texts = [pushed.stdout, pushed.stderr, again.stdout, again.stderr]
    files = [p for d in (root, root2, hub_root(hub)) for p in d.rglob("*") if p.is_file()]
    assert all(TOKEN not in t for t in texts)
    assert not [p for p in files if TOKEN.encode() in p.read_bytes()]


def hub_root(hub) -> Path:
    return hub.store.root


def test_wrong_token_is_one_line(demo_build, hub, tmp_path):
    root, _ = demo_build
    proc = run_jfhub("push", root, "--repo", REPO, env=client_env(hub, tmp_path, token="hf_wrong"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: create repo {REPO}: the Hub rejected the credentials (HTTP 401); set HF_TOKEN or "
        f"log in with `hf auth login`"]
    assert "hf_wrong" not in proc.stdout + proc.stderr


def copy_build(demo_build, tmp_path) -> Path:
    dst = tmp_path / "build"
    shutil.copytree(demo_build[0], dst)
    return dst


@pytest.mark.parametrize("faults", [["preupload:1:fail"], ["lfs-upload:2:drop"], ["commit:1:fail"],
                                    ["lfs-batch:1:drop", "commit:1:drop"]])
def test_transient_faults_retry_to_one_clean_version(demo_build, tmp_path, faults):
    from judgefree_hub.hub.publish import publish

    root = copy_build(demo_build, tmp_path)
    with LocalHub(tmp_path / "hub", tokens=[TOKEN], faults=faults) as url:
        result = publish(root, REPO, endpoint=url, wait_s=0.01)
        from huggingface_hub import HfApi

        api = HfApi(endpoint=url, token=TOKEN)
        r = api.list_repo_refs(REPO, repo_type="dataset")
        assert [t.name for t in r.tags] == ["v0.1.0"] and r.tags[0].target_commit == result.commit_oid
        files = set(api.list_repo_files(REPO, repo_type="dataset", revision="v0.1.0"))
        assert {"manifest.json", "README.md", "data/train-000000.tar", "plots/score_gap.png"} <= files
        commits = api.list_repo_commits(REPO, repo_type="dataset")
        assert sum("v0.1.0" in c.title for c in commits) == 1


def test_failed_push_leaves_nothing_and_a_rerun_completes_without_reuploading(demo_build, tmp_path):
    from huggingface_hub import HfApi

    from judgefree_hub.errors import PushError
    from judgefree_hub.hub.publish import publish

    root = copy_build(demo_build, tmp_path)
    always = [f"commit:{n}:fail" for n in range(1, 9)]
    hub = LocalHub(tmp_path / "hub", tokens=[TOKEN], faults=always)
    url = hub.start()
    try:
        with pytest.raises(PushError, match=r"commit v0\.1\.0 to demo-org/jfhub-smoke: the Hub answered HTTP 5\d\d after"):
            publish(root, REPO, endpoint=url, wait_s=0.01)
        api = HfApi(endpoint=url, token=TOKEN)
        r = api.list_repo_refs(REPO, repo_type="dataset")
        assert r.tags == [] and "manifest.json" not in api.list_repo_files(REPO, repo_type="dataset")
        uploads = hub.request_counts()["lfs-upload"]
        assert uploads == 5  # 3 shards + 2 plots, once, although the commit was tried 4 times
        hub.faults.clear()
        result = publish(root, REPO, endpoint=url, wait_s=0.01)
        assert hub.request_counts()["lfs-upload"] == uploads  # stored objects are not sent again
        assert [t.name for t in api.list_repo_refs(REPO, repo_type="dataset").tags] == ["v0.1.0"]
        assert result.files == 9
    finally:
        hub.stop()


def test_tag_failure_then_rerun_tags_the_same_commit(demo_build, tmp_path):
    from huggingface_hub import HfApi

    from judgefree_hub.errors import PushError
    from judgefree_hub.hub.publish import publish

    root = copy_build(demo_build, tmp_path)
    hub = LocalHub(tmp_path / "hub", tokens=[TOKEN], faults=[f"tag:{n}:fail" for n in range(1, 5)])
    url = hub.start()
    try:
        with pytest.raises(PushError, match="tag v0.1.0"):
            publish(root, REPO, endpoint=url, wait_s=0.01)
        result = publish(root, REPO, endpoint=url, wait_s=0.01)
        assert result.reused_commit
        api = HfApi(endpoint=url, token=TOKEN)
        assert sum("v0.1.0" in c.title for c in api.list_repo_commits(REPO, repo_type="dataset")) == 1
        assert api.list_repo_refs(REPO, repo_type="dataset").tags[0].target_commit == result.commit_oid
    finally:
        hub.stop()


def test_unfinished_or_tampered_build_is_refused(demo_build, tmp_path):
    root = copy_build(demo_build, tmp_path)
    shard = root / "data" / "train-000001.tar"
    shard.write_bytes(shard.read_bytes()[:-512])
    proc = run_jfhub("push", root, "--repo", REPO, "--endpoint", "http://127.0.0.1:9", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: {shard}: sha256 does not match manifest.json; rebuild this version"
    (root / "manifest.json").unlink()
    proc = run_jfhub("push", root, "--repo", REPO, "--endpoint", "http://127.0.0.1:9", check=False)
    assert "not a complete build (no manifest.json)" in proc.stderr
