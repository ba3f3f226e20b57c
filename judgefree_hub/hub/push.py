"""Publishing a built version to the Hugging Face Hub: one commit, one tag; and every retry.

The whole version (shards, card, recipe, manifest, statistics, plots) goes up as ONE
`create_commit` on the default branch (files of the previous version that this one lacks are
deleted in the same commit), then the commit is tagged `v<version>`. Tags are never moved.
Network errors and 5xx answers are retried (`with_retries`); what a push that still fails leaves:

- before the commit (repo creation, listing, uploads, the commit itself): nothing visible, as a
  commit is atomic on the Hub. Running the push again completes it, without uploading again the
  LFS objects the Hub already stored.
- after the commit, at the tag: the commit is on the default branch, untagged, and the error
  names it. Running the same push again finds that commit at the head (its manifest.json equals
  the build's) and only tags it: no second commit, nothing uploaded again.

The error is one line naming the step and the cause underneath (HTTP status, the Hub's message);
huggingface_hub's own per-retry log lines are muted while a call is retried here. The token comes
from huggingface_hub's usual places (HF_TOKEN, the saved login) and never reaches any message.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import PushError

T = TypeVar("T")
REPO_TYPE = "dataset"
ATTEMPTS = 4
CAUSE_CHARS = 200


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


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the errors under it, down to the first with an HTTP status or a network
    failure: huggingface_hub wraps a failed LFS upload in a bare RuntimeError, and a failed
    download in LocalEntryNotFoundError."""
    chain = [exc]
    while _status(chain[-1]) is None and not isinstance(chain[-1], _transport_errors()):
        under = chain[-1].__cause__
        if under is None or under in chain:
            break
        chain.append(under)
    return chain


def _offline(exc: BaseException) -> bool:
    from huggingface_hub.errors import OfflineModeIsEnabled

    return isinstance(exc, OfflineModeIsEnabled)


def is_retryable(exc: BaseException) -> bool:
    """Network errors and 5xx / 429 answers are worth another try; 4xx and offline mode are not."""
    root = _chain(exc)[-1]
    if _offline(root):  # a ConnectionError, but no retry can change an environment variable
        return False
    if isinstance(root, _transport_errors()):
        return True
    status = _status(root)
    return status is not None and (status >= 500 or status == 429)


@contextmanager
def _quiet_hub_client() -> Iterator[None]:
    """huggingface_hub logs two warnings per retried request (dozens for one failed upload); the
    error raised here carries the cause, so its logger shows only errors meanwhile."""
    from huggingface_hub.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity(max(level, hf_logging.ERROR))
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def with_retries(fn: Callable[..., T], what: str, wait_s: float = 1.0) -> Callable[..., T]:
    """Retry `fn` with exponential backoff; the last failure becomes a one-line PushError."""
    retrying = retry(retry=retry_if_exception(is_retryable), stop=stop_after_attempt(ATTEMPTS),
                     wait=wait_exponential(multiplier=wait_s, max=8 * wait_s), reraise=True)(fn)

    def call(*args, **kwargs) -> T:
        try:
            with _quiet_hub_client():
                return retrying(*args, **kwargs)
        except Exception as e:  # classified below by type and HTTP status, never by message
            raise _push_error(e, what) from None

    return call


def _cause(chain: list[BaseException]) -> str:
    """The chain's messages in short: the Hub's own message where it sent one, else each error's
    first line; at most CAUSE_CHARS characters, any token masked."""
    from huggingface_hub import get_token

    parts: list[str] = []
    for exc in chain:
        text = getattr(exc, "server_message", None) or str(exc).strip().split("\n")[0] or type(exc).__name__
        if text not in parts:
            parts.append(text)
    cause = "; ".join(" ".join(p.split()) for p in parts)
    token = get_token()
    if token:
        cause = cause.replace(token, "***")
    cause = re.sub(r"\bhf_[A-Za-z0-9]{20,}|(?<=Bearer )\S+", "***", cause)
    return cause if len(cause) <= CAUSE_CHARS else cause[:CAUSE_CHARS - 3] + "..."


def _push_error(exc: BaseException, what: str) -> PushError:
    chain = _chain(exc)
    root, status = chain[-1], _status(chain[-1])
    if status == 401 or type(root).__name__ == "LocalTokenNotFoundError":
        return PushError(f"{what}: the Hub rejected the credentials (HTTP 401); set HF_TOKEN or "
                         f"log in with `hf auth login`")
    if status == 403:
        return PushError(f"{what}: the token has no write access to this repo (HTTP 403)")
    if _offline(root):
        return PushError(f"{what}: huggingface_hub is in offline mode (HF_HUB_OFFLINE is set); unset it to push")
    if status is not None and status < 500 and status != 429:
        return PushError(f"{what}: the Hub answered HTTP {status}: {_cause(chain)}")
    if status is not None:
        return PushError(f"{what}: the Hub answered HTTP {status} after {ATTEMPTS} attempts: {_cause(chain)}")
    if is_retryable(root):
        return PushError(f"{what}: network error after {ATTEMPTS} attempts ({type(root).__name__}: {_cause(chain)})")
    return PushError(f"{what}: {type(root).__name__}: {_cause(chain)}")


def version_files(root: Path) -> list[Path]:
    """What a version publishes: everything of the complete build except progress markers."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.relative_to(root).parts[0].startswith("."))


def build_json(path: Path) -> dict:
    """A JSON object the build wrote (manifest, stats, recipe), or a one-line PushError: a hand-edited
    or truncated file must not end in a traceback."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PushError(f"{path}: missing; is {path.parent} a complete jfhub build (OUT/<name>/<version>)?") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PushError(f"{path}: cannot be read as JSON ({type(e).__name__}); rebuild this version") from None
    if not isinstance(value, dict):
        raise PushError(f"{path}: a JSON {type(value).__name__}, not the object jfhub writes; rebuild this version")
    return value


def check_publishable(root: Path) -> dict:
    """A push of an unfinished build, or one whose shards differ from its manifest, is refused."""
    from ..output import sha256_file

    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise PushError(f"{root}: not a complete build (no manifest.json); finish it with jfhub build first")
    manifest = build_json(manifest_path)
    shards = manifest.get("shards")
    if not (isinstance(manifest.get("name"), str) and isinstance(manifest.get("version"), str)
            and isinstance(shards, list) and all(isinstance(s, dict) and isinstance(s.get("file"), str)
                                                 and isinstance(s.get("sha256"), str) for s in shards)):
        raise PushError(f"{manifest_path}: not a jfhub manifest (name, version, shards with file and sha256); "
                        f"rebuild this version")
    listed = {s["file"] for s in manifest["shards"]}
    on_disk = {p.relative_to(root).as_posix() for p in (root / "data").glob("*")} if (root / "data").is_dir() else set()
    if on_disk != listed:
        raise PushError(f"{root}: data/ holds {sorted(on_disk ^ listed)} not matching manifest.json")
    if manifest.get("rows") == 0:  # a version tag is never moved: an empty one would stay forever
        raise PushError(f"{root}: the build has no rows (the verifier dropped every sample); nothing to publish")
    for shard in manifest["shards"]:
        if sha256_file(root / shard["file"]) != shard["sha256"]:
            raise PushError(f"{root / shard['file']}: sha256 does not match manifest.json; rebuild this version")
    stats_path = root / "stats.json"
    examples = build_json(stats_path).get("examples", []) if stats_path.is_file() else []
    missing = [e.get("thumbnail") for e in examples if isinstance(e, dict)
               and not (isinstance(e.get("thumbnail"), str) and (root / e["thumbnail"]).is_file())]
    if missing:  # the card links them: a push without them would show broken images
        raise PushError(f"{root}: the card's example thumbnails {missing} are missing; rebuild this version "
                        f"(remove {root} and build again)")
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
    try:
        with_retries(api.create_tag, f"tag {tag} on {repo_id}", wait_s)(
            repo_id, tag=tag, revision=commit_oid, repo_type=REPO_TYPE, tag_message=f"{manifest['name']} {tag}")
    except PushError as e:
        raise PushError(f"{e}; commit {commit_oid[:12]} is on main untagged: run the same push again to tag it "
                        f"(nothing is uploaded again)") from None
    return PushResult(repo_id=repo_id, tag=tag, commit_oid=commit_oid,
                      url=f"{api.endpoint.rstrip('/')}/datasets/{repo_id}/tree/{tag}",
                      files=len(files), bytes=sum(p.stat().st_size for p in files),
                      seconds=time.perf_counter() - t0, reused_commit=reused)


def _remote_manifest(api, repo_id: str, revision: str) -> Optional[bytes]:
    """The manifest.json at `revision`; None only when the Hub says it has none. A failed request
    is raised as itself: huggingface_hub wraps it in LocalEntryNotFoundError, an EntryNotFoundError,
    and read as "none" a rerun after a failed tag would commit the same version again."""
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(api.hf_hub_download(repo_id, "manifest.json", repo_type=REPO_TYPE,
                                        revision=revision)).read_bytes()
    except LocalEntryNotFoundError as e:
        raise (e.__cause__ or e) from None
    except EntryNotFoundError:
        return None


def _head_if_same_version(api, repo_id: str, head: Optional[str], root: Path, wait_s: float) -> Optional[str]:
    """The head commit when it already holds exactly this build (a push whose tag failed)."""
    if head is None:
        return None
    remote = with_retries(_remote_manifest, f"read manifest.json of {repo_id}", wait_s)(api, repo_id, head)
    return head if remote == (root / "manifest.json").read_bytes() else None
