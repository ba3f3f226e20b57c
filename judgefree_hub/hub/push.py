"""Publishing a built version to the Hugging Face Hub: one commit, one tag; and every retry.

The whole version (shards, card, recipe, manifest, statistics, plots) goes up as ONE
`create_commit` on the default branch (files of the previous version that this one lacks are
deleted in the same commit), then the commit is tagged `v<version>`. Tags are never moved. A
commit is atomic on the Hub, so a push that fails before it leaves nothing visible; LFS objects
already stored are not uploaded again when the push is retried or run again. If only the tag
failed, running the push again finds that commit at the head and tags it.

The token comes from huggingface_hub's usual places (HF_TOKEN, the saved login) and is never
formatted into any message.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import PushError

T = TypeVar("T")
REPO_TYPE = "dataset"
ATTEMPTS = 4


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    tag: str
    commit_oid: str
    url: str
    files: int
    bytes: int
    seconds: float
    reused_commit: bool

    def load_snippet(self) -> str:
        return (f'from datasets import load_dataset\n'
                f'ds = load_dataset("{self.repo_id}", revision="{self.tag}", split="train")')


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level failures of the HTTP client huggingface_hub uses (httpx or httpx2)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _status(exc: BaseException) -> Optional[int]:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_retryable(exc: BaseException) -> bool:
    """Network errors and 5xx / 429 answers are worth another try; 4xx are not."""
    if isinstance(exc, _transport_errors()):
        return True
    status = _status(exc)
    return status is not None and (status >= 500 or status == 429)


def with_retries(fn: Callable[..., T], what: str, wait_s: float = 1.0) -> Callable[..., T]:
    """Retry `fn` with exponential backoff; the last failure becomes a one-line PushError."""
    retrying = retry(retry=retry_if_exception(is_retryable), stop=stop_after_attempt(ATTEMPTS),
                     wait=wait_exponential(multiplier=wait_s, max=8 * wait_s), reraise=True)(fn)

    def call(*args, **kwargs) -> T:
        try:
            return retrying(*args, **kwargs)
        except Exception as e:  # classified below by type and HTTP status, never by message
            raise _push_error(e, what) from None

    return call


def _push_error(exc: BaseException, what: str) -> PushError:
    status = _status(exc)
    if status == 401 or type(exc).__name__ == "LocalTokenNotFoundError":
        return PushError(f"{what}: the Hub rejected the credentials (HTTP 401); set HF_TOKEN or "
                         f"log in with `hf auth login`")
    if status == 403:
        return PushError(f"{what}: the token has no write access to this repo (HTTP 403)")
    if status is not None and status < 500:
        detail = getattr(exc, "server_message", None) or ""
        return PushError(f"{what}: the Hub answered HTTP {status}" + (f": {detail}" if detail else ""))
    if status is not None:
        return PushError(f"{what}: the Hub answered HTTP {status} after {ATTEMPTS} attempts")
    if is_retryable(exc):
        return PushError(f"{what}: network error after {ATTEMPTS} attempts ({type(exc).__name__})")
    return PushError(f"{what}: {type(exc).__name__}")


def version_files(root: Path) -> list[Path]:
    """What a version publishes: everything of the complete build except progress markers."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.relative_to(root).parts[0].startswith("."))


def check_publishable(root: Path) -> dict:
    """A push of an unfinished build, or one whose shards differ from its manifest, is refused."""
    from ..output import sha256_file

    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise PushError(f"{root}: not a complete build (no manifest.json); finish it with jfhub build first")
    manifest = json.loads(manifest_path.read_text())
    listed = {s["file"] for s in manifest["shards"]}
    on_disk = {p.relative_to(root).as_posix() for p in (root / "data").glob("*")} if (root / "data").is_dir() else set()
    if on_disk != listed:
        raise PushError(f"{root}: data/ holds {sorted(on_disk ^ listed)} not matching manifest.json")
    for shard in manifest["shards"]:
        if sha256_file(root / shard["file"]) != shard["sha256"]:
            raise PushError(f"{root / shard['file']}: sha256 does not match manifest.json; rebuild this version")
    return manifest


def push_version(root: Path, repo_id: str, private: bool = False, token: Optional[str] = None,
                 endpoint: Optional[str] = None, wait_s: float = 1.0) -> PushResult:
    """Publish the complete build at `root` to dataset repo `repo_id` as one commit + tag."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    t0 = time.perf_counter()
    manifest = check_publishable(root)
    tag = f"v{manifest['version']}"
    api = HfApi(endpoint=endpoint, token=token)
    with_retries(api.create_repo, f"create repo {repo_id}", wait_s)(
        repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    refs = with_retries(api.list_repo_refs, f"list refs of {repo_id}", wait_s)(repo_id, repo_type=REPO_TYPE)
    tags = {t.name: t.target_commit for t in refs.tags}
    if tag in tags:
        raise PushError(f"{repo_id}: tag {tag} already exists (commit {tags[tag][:12]}); a published "
                        f"version is never moved: bump 'version' in the recipe and build again")
    files = version_files(root)
    head = {b.name: b.target_commit for b in refs.branches}.get("main")
    commit_oid = _head_if_same_version(api, repo_id, head, root, wait_s)
    reused = commit_oid is not None
    if not reused:
        old = set(with_retries(api.list_repo_files, f"list files of {repo_id}", wait_s)(
            repo_id, repo_type=REPO_TYPE)) if head else set()
        names = {p.relative_to(root).as_posix() for p in files}
        ops = [CommitOperationAdd(path_in_repo=p.relative_to(root).as_posix(), path_or_fileobj=str(p))
               for p in files]
        ops += [CommitOperationDelete(path_in_repo=n) for n in sorted(old - names - {".gitattributes"})]
        info = with_retries(api.create_commit, f"commit {tag} to {repo_id}", wait_s)(
            repo_id, operations=ops, commit_message=f"{manifest['name']} {tag} (jfhub)",
            repo_type=REPO_TYPE, revision="main", parent_commit=head)
        commit_oid = info.oid
    with_retries(api.create_tag, f"tag {tag} on {repo_id}", wait_s)(
        repo_id, tag=tag, revision=commit_oid, repo_type=REPO_TYPE, tag_message=f"{manifest['name']} {tag}")
    return PushResult(repo_id=repo_id, tag=tag, commit_oid=commit_oid,
                      url=f"{api.endpoint.rstrip('/')}/datasets/{repo_id}/tree/{tag}",
                      files=len(files), bytes=sum(p.stat().st_size for p in files),
                      seconds=time.perf_counter() - t0, reused_commit=reused)


def _remote_manifest(api, repo_id: str, revision: str) -> Optional[bytes]:
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(api.hf_hub_download(repo_id, "manifest.json", repo_type=REPO_TYPE,
                                        revision=revision)).read_bytes()
    except EntryNotFoundError:
        return None


def _head_if_same_version(api, repo_id: str, head: Optional[str], root: Path, wait_s: float) -> Optional[str]:
    """The head commit when it already holds exactly this build (a push whose tag failed)."""
    if head is None:
        return None
    remote = with_retries(_remote_manifest, "read manifest.json", wait_s)(api, repo_id, head)
    return head if remote == (root / "manifest.json").read_bytes() else None
