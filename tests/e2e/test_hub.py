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
        thumbnails = len(list((root / "examples").glob("*.jpg")))
        assert thumbnails == 4
        # 3 shards + 2 plots + the card's 4 example thumbnails, once, although the commit was tried 4 times
        assert uploads == 5 + thumbnails
        hub.faults.clear()
        result = publish(root, REPO, endpoint=url, wait_s=0.01)
        assert hub.request_counts()["lfs-upload"] == uploads  # stored objects are not sent again
        assert [t.name for t in api.list_repo_refs(REPO, repo_type="dataset").tags] == ["v0.1.0"]
        assert result.files == 9 + thumbnails
    finally:
        hub.stop()


def jfhub_commits(api) -> list:
    return [c for c in api.list_repo_commits(REPO, repo_type="dataset") if "(jfhub)" in c.title]


def test_tag_failure_names_the_untagged_commit_and_a_rerun_only_tags_it(demo_build, tmp_path):
    from huggingface_hub import HfApi

    from judgefree_hub.errors import PushError
    from judgefree_hub.hub.publish import publish

    root = copy_build(demo_build, tmp_path)
    hub = LocalHub(tmp_path / "hub", tokens=[TOKEN], faults=[f"tag:{n}:fail" for n in range(1, 99)])
    url = hub.start()
    try:
        api = HfApi(endpoint=url, token=TOKEN)
        with pytest.raises(PushError) as info:
            publish(root, REPO, endpoint=url, wait_s=0.01)
        (commit,) = jfhub_commits(api)
        head = api.list_repo_refs(REPO, repo_type="dataset").branches[0].target_commit
        assert head == commit.commit_id and api.list_repo_refs(REPO, repo_type="dataset").tags == []
        assert str(info.value) == (
            f"tag v0.1.0 on {REPO}: the Hub answered HTTP 500 after 4 attempts: injected fault on tag; commit "
            f"{head[:12]} is on main untagged: run the same push again to tag it (nothing is uploaded again)")

        # A rerun that cannot read the head's manifest must fail, not commit the version again.
        hub.faults.clear()
        for n in range(1, 99):
            hub.add_fault(f"resolve:{n}:fail")
        with pytest.raises(PushError, match=f"read manifest.json of {REPO}: the Hub answered HTTP 500"):
            publish(root, REPO, endpoint=url, wait_s=0.01)
        assert [c.commit_id for c in jfhub_commits(api)] == [head]

        hub.faults.clear()
        uploads = {k: hub.request_counts().get(k, 0) for k in ("lfs-upload", "preupload", "commit")}
        result = publish(root, REPO, endpoint=url, wait_s=0.01)
        assert result.reused_commit and result.commit_oid == head
        assert {k: hub.request_counts().get(k, 0) for k in uploads} == uploads  # nothing sent again
        refs = api.list_repo_refs(REPO, repo_type="dataset")
        assert [c.commit_id for c in jfhub_commits(api)] == [head] == [b.target_commit for b in refs.branches]
        assert [(t.name, t.target_commit) for t in refs.tags] == [("v0.1.0", head)]
    finally:
        hub.stop()


# Every route a push calls, the step its error names, and whether the commit can have landed.
PUSH_ROUTES = {"create-repo": "create repo", "refs": "list refs of", "resolve": "read manifest.json of",
               "tree": "list files of", "preupload": "commit v0.1.0 to", "lfs-batch": "commit v0.1.0 to",
               "lfs-upload": "commit v0.1.0 to", "commit": "commit v0.1.0 to", "tag": "tag v0.1.0 on"}
FAULT_SAYS = {"fail": "the Hub answered HTTP 500 after 4 attempts: ", "reject": "the Hub answered HTTP 400: ",
              "drop": "network error after 4 attempts ("}
# The CLI with sleeps cut to nothing: every retry of jfhub and of huggingface_hub still happens.
NO_WAIT = "import sys, time; time.sleep = lambda s: None; from judgefree_hub.cli import main; sys.exit(main())"


@pytest.mark.parametrize("action", sorted(FAULT_SAYS))
@pytest.mark.parametrize("route", sorted(PUSH_ROUTES))
def test_a_persistent_fault_anywhere_is_one_error_line_and_leaves_no_version(demo_build, tmp_path, route, action):
    root = copy_build(demo_build, tmp_path)
    hub = LocalHub(tmp_path / "hub", tokens=[TOKEN], faults=[f"{route}:{n}:{action}" for n in range(1, 300)])
    with hub as url:
        proc = subprocess.run([sys.executable, "-c", NO_WAIT, "push", str(root), "--repo", REPO], capture_output=True,
                              text=True, env=client_env(hub, tmp_path), cwd=ROOT, timeout=300)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-3000:]
        assert lines[0].startswith(f"Error: {PUSH_ROUTES[route]} ") and FAULT_SAYS[action] in lines[0], lines
        if action != "drop":
            assert f"on {route}" in lines[0], lines  # the server's message, passed on
        assert TOKEN not in proc.stdout + proc.stderr
        from huggingface_hub import HfApi

        hub.faults.clear()
        api = HfApi(endpoint=url, token=TOKEN)
        if route == "create-repo":
            return
        refs = api.list_repo_refs(REPO, repo_type="dataset")
        assert refs.tags == []
        landed = jfhub_commits(api)
        if route == "tag":  # the commit landed; the error names it and says a rerun tags it
            assert len(landed) == 1 and f"commit {landed[0].commit_id[:12]} is on main untagged" in lines[0]
        else:
            assert landed == [] and "manifest.json" not in api.list_repo_files(REPO, repo_type="dataset")


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


@pytest.fixture(scope="module")
def hub_datasets(demo_build, tmp_path_factory):
    """A local Hub holding, each at tag v0.1.0: the demo preference version (REPO), the IC starter set
    (demo-org/ic) and a preference version whose every pair was dropped (demo-org/empty, uploaded
    as is, since jfhub push refuses it). Yields (env for the CLI, the hub)."""
    from huggingface_hub import HfApi

    from judgefree_hub.output import sha256_file

    tmp = tmp_path_factory.mktemp("hub-datasets")
    hub = LocalHub(tmp / "hub", tokens=[TOKEN])
    hub.start()
    env = client_env(hub, tmp)
    run_jfhub("push", demo_build[0], "--repo", REPO, env=env)
    run_jfhub("build", ROOT / "recipes" / "ic-starter.json", "--out", tmp / "out", "--no-progress")
    run_jfhub("push", tmp / "out" / "jfhub-ic-starter" / "0.1.0", "--repo", "demo-org/ic", env=env)
    empty = tmp / "empty"
    shutil.copytree(demo_build[0], empty)
    manifest = json.loads((empty / "manifest.json").read_text())
    for shard in manifest["shards"]:
        subprocess.run(["tar", "-cf", str(empty / shard["file"]), "--files-from", "/dev/null"], check=True)
        shard.update(rows=0, bytes=(empty / shard["file"]).stat().st_size, sha256=sha256_file(empty / shard["file"]))
    (empty / "manifest.json").write_text(json.dumps({**manifest, "rows": 0}))
    from huggingface_hub import constants

    with pytest.MonkeyPatch.context() as mp:  # as online_to_local_hub, for this module-wide fixture
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        api = HfApi(endpoint=hub.url, token=TOKEN)
        api.create_repo("demo-org/empty", repo_type="dataset")
        oid = api.upload_folder(repo_id="demo-org/empty", folder_path=empty, repo_type="dataset").oid
        api.create_tag("demo-org/empty", tag="v0.1.0", revision=oid, repo_type="dataset")
    yield env, hub
    hub.stop()


TRAIN_ON_THE_HUB = [  # (dataset arguments, exit code, what the one line says)
    (["demo-org/nope"], 1, "demo-org/nope: cannot load the dataset: RepositoryNotFoundError"),
    ([REPO, "--revision", "v9.9.9"], 1, f"{REPO} at revision v9.9.9: cannot load the dataset: RevisionNotFoundError"),
    (["demo-org/empty", "--revision", "v0.1.0"], 2, "demo-org/empty at revision v0.1.0: the build has no pairs"),
    (["demo-org/ic", "--revision", "v0.1.0"], 1, "Unknown split \"train\""),
    (["demo-org/ic", "--revision", "v0.1.0", "--split", "test"], 2, "not a preference dataset (an IC set?)"),
]
EVAL_ON_THE_HUB = [
    (["demo-org/nope"], "demo-org/nope: cannot load the dataset: DatasetNotFoundError"),
    (["demo-org/ic", "--revision", "v9.9.9"], "demo-org/ic at revision v9.9.9: cannot load the dataset"),
    ([REPO, "--revision", "v0.1.0"], f"{REPO}: not an IC dataset: it has no 'test' split (splits: ['train']"),
    (["demo-org/empty", "--revision", "v0.1.0"], "demo-org/empty: not an IC dataset"),
]


def error_lines(proc) -> list[str]:
    """stderr without the progress lines of `datasets` (noise, not errors)."""
    return [line for line in proc.stderr.strip().splitlines() if not line.startswith(("Generating ", "Resolving "))]


@pytest.mark.parametrize("args,code,says", TRAIN_ON_THE_HUB, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_train_on_a_missing_empty_or_wrong_hub_dataset_is_one_line(hub_datasets, tmp_path, args, code, says):
    env, _ = hub_datasets
    proc = run_jfhub("train", *args, "--model", "demo:tiny-llava", "--output", tmp_path / "o", env=env, check=False)
    lines = error_lines(proc)
    assert proc.returncode == code and len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ") and says in lines[0], lines
    assert TOKEN not in proc.stdout + proc.stderr and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,says", EVAL_ON_THE_HUB, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_eval_on_a_missing_empty_or_wrong_hub_dataset_is_one_line(hub_datasets, tmp_path, args, says):
    env, _ = hub_datasets
    captions = tmp_path / "c.jsonl"
    captions.write_text('{"id": "x", "caption": "a cat"}\n')
    proc = run_jfhub("eval", "--ic", *args, "--captions", captions, "--out", tmp_path / "e", env=env, check=False)
    lines = error_lines(proc)
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ") and says in lines[0], lines
    assert TOKEN not in proc.stdout + proc.stderr and not (tmp_path / "e").exists()


def test_an_empty_build_is_not_published(demo_build, tmp_path):
    root = copy_build(demo_build, tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, "rows": 0}))
    proc = run_jfhub("push", root, "--repo", REPO, "--endpoint", "http://127.0.0.1:9", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"Error: {root}: the build has no rows (the verifier dropped every sample); "
                                   f"nothing to publish")


@pytest.mark.parametrize("file,content,says", [
    ("manifest.json", "not json", "manifest.json: cannot be read as JSON (JSONDecodeError)"),
    ("manifest.json", "[1]", "manifest.json: a JSON list, not the object jfhub writes"),
    ("manifest.json", '{"shards": 3}', "manifest.json: not a jfhub manifest"),
    ("recipe.json", "{", "recipe.json: cannot be read as JSON"),
    ("recipe.json", '{"name": "x"}', "recipe.json: $.model: is required"),
    ("stats.json", None, "stats.json: missing; is"),
    ("stats.json", "\udcff", "stats.json: cannot be read as JSON (UnicodeDecodeError)"),
])
def test_a_damaged_build_folder_is_refused_in_one_line(demo_build, tmp_path, file, content, says):
    root = copy_build(demo_build, tmp_path)
    if content is None:
        (root / file).unlink()
    else:
        (root / file).write_bytes(content.encode("utf-8", "surrogateescape"))
    proc = run_jfhub("push", root, "--repo", REPO, "--endpoint", "http://127.0.0.1:9", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {root}/") and says in lines[0], lines
