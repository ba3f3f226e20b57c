"""The local Hub answers the real huggingface_hub and datasets clients (no network anywhere)."""

import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from judgefree_hub.testing.hub import LocalHub

REPO = "org/ds"
README = (b"---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
          b"    path: data/train-*.tar\n---\n# tiny\n")
BIG = bytes(range(256)) * 800  # 200 KB with NUL bytes: goes LFS


def shard(first: int) -> bytes:
    """A WebDataset tar of 3 samples: KEY.json {"a": i} and KEY.txt."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(first, first + 3):
            files = (("json", json.dumps({"a": i}).encode()), ("txt", f"text {i}".encode()))
            for ext, data in files:
                info = tarfile.TarInfo(f"s{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module", autouse=True)
def hf_env(tmp_path_factory):
    """Plain git-LFS, online, caches in tmp. huggingface_hub reads these at import, so the
    constants are patched too (the session conftest sets HF_HUB_OFFLINE=1). constants.ENDPOINT
    is left alone: hf_hub_url builds on HUGGINGFACE_CO_URL_TEMPLATE, fixed at import."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_HOME": str(home),
                            "HF_DATASETS_OFFLINE": "0"}.items():
            mp.setenv(name, value)
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.setattr(constants, "AGENT_HARNESSES_PATH", str(home / "agents.json"), raising=False)
        # once online, huggingface_hub fetches an agent registry from huggingface.co: never here
        mp.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}},
                   raising=False)
        yield home


@pytest.fixture(scope="module")
def hub(tmp_path_factory, hf_env):
    with LocalHub(tmp_path_factory.mktemp("hub")) as url:
        yield url


@pytest.fixture(scope="module")
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub, token="any")


def add(path, data):
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


def commit(api, repo: str, *ops, message: str = "x") -> str:
    return api.create_commit(repo, operations=list(ops), commit_message=message,
                             repo_type="dataset").oid


def counts(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_test/requests") as r:
        return json.load(r)


@pytest.fixture(scope="module")
def published(api):
    """Two versions of REPO: v1.0.0 (README, notes.txt, data.tar) and v2.0.0 (notes.txt changed)."""
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    v1 = api.create_commit(REPO, operations=[add("README.md", README), add("notes.txt", b"one\n"),
                                             add("data/data.tar", BIG)],
                           commit_message="v1", repo_type="dataset", revision="main").oid
    api.create_tag(REPO, tag="v1.0.0", revision=v1, repo_type="dataset")
    v2 = api.create_commit(REPO, operations=[add("notes.txt", b"two\n")], commit_message="v2",
                           repo_type="dataset").oid
    api.create_tag(REPO, tag="v2.0.0", revision=v2, repo_type="dataset")
    return {"v1.0.0": v1, "v2.0.0": v2}


def test_create_repo_conflict_and_exist_ok(api, published):
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(REPO, repo_type="dataset")
    assert e.value.response.status_code == 409
    assert api.create_repo(REPO, repo_type="dataset", exist_ok=True).repo_id == REPO


def test_tags_refs_and_repo_info(api, published):
    refs = api.list_repo_refs(REPO, repo_type="dataset")
    assert {t.name: t.target_commit for t in refs.tags} == published
    assert {b.name: b.target_commit for b in refs.branches} == {"main": published["v2.0.0"]}
    for tag, oid in published.items():
        assert len(oid) == 40 and api.repo_info(REPO, repo_type="dataset", revision=tag).sha == oid
    infos = api.get_paths_info(REPO, ["README.md", "data/data.tar"], repo_type="dataset")
    files = {f.path: f for f in infos}
    assert files["README.md"].lfs is None and files["data/data.tar"].lfs.sha256 is not None
    assert sorted(api.list_repo_files(REPO, repo_type="dataset")) == [
        ".gitattributes", "README.md", "data/data.tar", "notes.txt"]


def test_download_at_each_tag(api, published, tmp_path):
    for tag, notes in (("v1.0.0", b"one\n"), ("v2.0.0", b"two\n")):
        path = api.hf_hub_download(REPO, "notes.txt", repo_type="dataset", revision=tag,
                                   cache_dir=tmp_path)
        assert Path(path).read_bytes() == notes
    tar = api.hf_hub_download(REPO, "data/data.tar", repo_type="dataset", revision="v1.0.0",
                              cache_dir=tmp_path)
    assert Path(tar).read_bytes() == BIG


def test_existing_tag_is_refused_and_kept(api, published):
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as e:
        api.create_tag(REPO, tag="v1.0.0", revision=published["v2.0.0"], repo_type="dataset")
    assert e.value.response.status_code == 409
    tags = {t.name: t.target_commit for t in api.list_repo_refs(REPO, repo_type="dataset").tags}
    assert tags["v1.0.0"] == published["v1.0.0"]


def test_branch_and_missing_revision(api, published):
    from huggingface_hub.errors import RevisionNotFoundError

    api.create_branch(REPO, branch="exp/one", revision="v1.0.0", repo_type="dataset")
    refs = api.list_repo_refs(REPO, repo_type="dataset")
    branches = {b.name: b.target_commit for b in refs.branches}
    assert branches["exp/one"] == published["v1.0.0"]
    with pytest.raises(RevisionNotFoundError):
        api.create_commit(REPO, operations=[add("x.txt", b"x")], commit_message="x",
                          repo_type="dataset", revision="nope")


def test_filesystem_listing_and_range_reads(hub, published):
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(endpoint=hub, token="any", skip_instance_cache=True)
    base = f"datasets/{REPO}@v1.0.0"
    assert fs.glob(f"{base}/data/*.tar") == [f"{base}/data/data.tar"]
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)) == [
        ".gitattributes", "README.md", "data", "notes.txt"]
    with fs.open(f"{base}/data/data.tar", "rb", block_size=1024) as f:
        f.seek(100_000)
        assert f.read(50) == BIG[100_000:100_050]


def test_resolve_head_and_range_answers(hub, published):
    url = f"{hub}/datasets/{REPO}/resolve/v1.0.0/data/data.tar"
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
        assert r.headers["X-Repo-Commit"] == published["v1.0.0"]
        assert int(r.headers["Content-Length"]) == len(BIG)
    ranges = (("bytes=10-19", BIG[10:20]), ("bytes=-5", BIG[-5:]), ("bytes=204795-", BIG[-5:]))
    for spec, want in ranges:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": spec})) as r:
            assert (r.status, r.read()) == (206, want)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{hub}/datasets/{REPO}/resolve/v1.0.0/missing.txt")
    with e.value:  # the error holds the answer's body open
        assert (e.value.code, e.value.headers["X-Error-Code"]) == (404, "EntryNotFound")


def test_lfs_objects_are_not_uploaded_twice(api, hub):
    api.create_repo("org/dedup", repo_type="dataset")
    commit(api, "org/dedup", add("a.tar", BIG))
    before = counts(hub)
    commit(api, "org/dedup", add("b.tar", BIG))
    same_path = commit(api, "org/dedup", add("a.tar", BIG))
    after = counts(hub)
    assert after["lfs-upload"] == before["lfs-upload"]  # the batch answer had no upload action
    assert after["lfs-batch"] == before["lfs-batch"] + 2  # the client asks on every commit
    assert after["commit"] == before["commit"] + 1  # same path, same bytes: no commit call at all
    assert same_path == api.repo_info("org/dedup", repo_type="dataset").sha
    files = api.list_repo_files("org/dedup", repo_type="dataset")
    assert sorted(files) == [".gitattributes", "a.tar", "b.tar"]


def test_tokens(tmp_path, caplog):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    caplog.set_level("DEBUG")
    with LocalHub(tmp_path, tokens=["good"]) as url:
        with pytest.raises(HfHubHTTPError) as e:
            HfApi(endpoint=url, token="bad").create_repo("org/t", repo_type="dataset")
        assert e.value.response.status_code == 401
        assert not isinstance(e.value, RepositoryNotFoundError)
        with pytest.raises(HfHubHTTPError) as e:
            HfApi(endpoint=url, token=False).create_repo("org/t", repo_type="dataset")
        assert e.value.response.status_code == 401
        good = HfApi(endpoint=url, token="good")
        good.create_repo("org/t", repo_type="dataset", private=True)
        assert good.repo_info("org/t", repo_type="dataset").private is True
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=url, token=False).repo_info("org/t", repo_type="dataset")
    assert "POST /api/repos/create" in caplog.text and "good" not in caplog.text


def test_model_repo_round_trip(api, tmp_path):
    api.create_repo("org/model")
    api.upload_file(path_or_fileobj=BIG, path_in_repo="w.bin", repo_id="org/model")
    assert api.model_info("org/model").siblings[-1].lfs.size == len(BIG)
    path = api.hf_hub_download("org/model", "w.bin", cache_dir=tmp_path)
    assert Path(path).read_bytes() == BIG


@pytest.fixture()
def fault_hub(tmp_path, hf_env):
    from huggingface_hub import HfApi

    with LocalHub(tmp_path) as url:
        api = HfApi(endpoint=url, token="any")
        api.create_repo("org/f", repo_type="dataset")
        yield url, api


def post_fault(url: str, route: str, nth, action: str) -> int:
    body = json.dumps({"route": route, "nth": nth, "action": action}).encode()
    request = urllib.request.Request(f"{url}/_test/faults", data=body, method="POST")
    try:
        with urllib.request.urlopen(request) as r:
            return r.status
    except urllib.error.HTTPError as e:
        with e:
            return e.code


def test_commit_fault_fails_at_once_and_leaves_nothing(fault_hub):
    from huggingface_hub.errors import HfHubHTTPError

    url, api = fault_hub
    assert post_fault(url, "commit", 1, "fail") == 200
    assert post_fault(url, "commit", 0, "explode") == 400
    head = api.repo_info("org/f", repo_type="dataset").sha
    with pytest.raises(HfHubHTTPError) as e:
        commit(api, "org/f", add("x.tar", BIG))
    assert e.value.response.status_code == 500
    assert counts(url)["commit"] == 1  # create_commit does not retry the commit call
    assert api.repo_info("org/f", repo_type="dataset").sha == head
    assert api.list_repo_files("org/f", repo_type="dataset") == [".gitattributes"]
    before = counts(url)["lfs-upload"]
    commit(api, "org/f", add("x.tar", BIG))
    assert counts(url)["lfs-upload"] == before  # stored by the failed attempt, not sent again


def test_dropped_lfs_upload_is_retried_by_the_client(fault_hub, tmp_path):
    url, api = fault_hub
    post_fault(url, "lfs-upload", 1, "drop")
    oid = commit(api, "org/f", add("x.tar", BIG))
    assert counts(url)["lfs-upload"] == 2  # http_backoff retried the PUT after ~1 s
    path = api.hf_hub_download("org/f", "x.tar", repo_type="dataset", revision=oid,
                               cache_dir=tmp_path)
    assert Path(path).read_bytes() == BIG


def test_dropped_tag_raises_transport_error(fault_hub):
    import httpx2

    url, api = fault_hub
    post_fault(url, "tag", 1, "drop")
    with pytest.raises(httpx2.TransportError):
        api.create_tag("org/f", tag="v1", repo_type="dataset")
    assert api.list_repo_refs("org/f", repo_type="dataset").tags == []


LOAD = """
import json, datasets
out = {}
for streaming in (False, True):
    ds = datasets.load_dataset("org/wds", revision="v1.0.0", split="train", streaming=streaming)
    out[str(streaming)] = [[r["json"]["a"], r["txt"]] for r in ds]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_load_dataset_at_tag_plain_and_streaming(api, hub, tmp_path):
    api.create_repo("org/wds", repo_type="dataset")
    oid = api.create_commit("org/wds", operations=[
        add("README.md", README), add("data/train-00000.tar", shard(0)),
        add("data/train-00001.tar", shard(3))], commit_message="v1", repo_type="dataset").oid
    api.create_tag("org/wds", tag="v1.0.0", revision=oid, repo_type="dataset")
    api.create_commit("org/wds", operations=[add("data/train-00002.tar", shard(6))],
                      commit_message="after the tag", repo_type="dataset")
    env = {**os.environ, "HF_ENDPOINT": hub, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "home"),
           "HF_DATASETS_CACHE": str(tmp_path / "datasets")}
    done = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    want = [[i, f"text {i}"] for i in range(6)]
    assert sorted(rows["False"]) == want and sorted(rows["True"]) == want


def test_cli_serves_on_a_free_port(tmp_path):
    cmd = [sys.executable, "-m", "judgefree_hub.testing.hub", "--port", "0",
           "--root", str(tmp_path)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        try:
            line = proc.stdout.readline().strip()
            assert line.startswith("serving on http://127.0.0.1:")
            url = line.split()[-1]
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"{url}/api/datasets/x/y")
            with e.value:
                assert (e.value.code, e.value.headers["X-Error-Code"]) == (404,
                                                                           "RepoNotFound")
                assert json.loads(e.value.read())["error"] == "Repository datasets/x/y not found"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    bad = subprocess.run(cmd + ["--fault", "commit:0:explode"], capture_output=True, text=True)
    assert bad.returncode == 2 and "bad fault commit:0:explode" in bad.stderr
