"""On-disk repo store behind the local test Hub (see `hub.py`): plain files, atomic commits.

Layout under ROOT/{models|datasets|spaces}/ORG/NAME/:
  meta.json             {"private": bool}
  objects/<key>         file bytes: LFS files under their sha256, regular files under git-sha1
  commits/<oid>.json    {"parent", "message", "description", "date", "tree": {path: entry}}
  refs/heads/<branch>   refs/tags/<tag>: one commit oid each
A tree entry is {"oid": git-sha1, "size", "lfs"?: {"oid": sha256, "size", "pointerSize"}}, the
shape the Hub's tree API returns. A commit is visible only once its ref file is replaced
(os.replace), after its objects and JSON are on disk, so a failed commit leaves nothing a reader
can see. LFS objects are keyed by sha256, so a second upload of the same bytes is never needed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO_TYPES = ("models", "datasets", "spaces")
LFS_MIN_SIZE = 10 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REF = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_LFS_PATTERNS = ("*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.gz", "*.h5", "*.jpeg", "*.jpg",
                 "*.lz4", "*.mp3", "*.mp4", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.parquet",
                 "*.pkl", "*.png", "*.pt", "*.pth", "*.safetensors", "*.tar", "*.tgz", "*.wav",
                 "*.webp", "*.xz", "*.zip", "*.zst")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in _LFS_PATTERNS)


class HubError(ValueError):
    """An answer other than 2xx: HTTP status, the Hub's X-Error-Code (if any) and a message.
    A ValueError because each one is about a request (or a fault spec) the server refuses."""

    def __init__(self, status: int, message: str, code: Optional[str] = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


@dataclass(frozen=True)
class Change:
    """One operation of a commit: kind is add (content), add-lfs (sha256), delete or delete-dir."""

    kind: str
    path: str
    content: Optional[bytes] = None
    sha256: Optional[str] = None


def git_sha1(data: bytes) -> str:
    """The git blob id, which the Hub reports as `oid` and the client compares for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{sha256}\nsize {size}\n").encode()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, rename: readers see old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def content_key(entry: dict) -> str:
    """Name of the object holding an entry's bytes."""
    return entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]


def tree_entries(tree: dict, path: str, recursive: bool) -> list[dict]:
    """Tree-API entries (files and folders) below `path`: direct children, or all if recursive."""
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    files, dirs = [], {}
    for name, entry in sorted(tree.items()):
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix):].split("/")
        for i in range(1, len(parts) if recursive else min(2, len(parts))):
            dirs.setdefault(prefix + "/".join(parts[:i]), []).append(entry["oid"])
        if recursive or len(parts) == 1:
            files.append({"type": "file", "path": name, **entry})
    folders = [_folder(d, oids) for d, oids in dirs.items()]
    return sorted(folders + files, key=lambda e: e["path"])


def path_info(tree: dict, path: str) -> Optional[dict]:
    """The entry of one file or folder, as paths-info reports it; None if absent."""
    path = path.strip("/")
    if path in tree:
        return {"type": "file", "path": path, **tree[path]}
    below = [e for e in tree_entries(tree, "", True) if e["path"].startswith(path + "/")]
    if not below:
        return None
    return _folder(path, [e["oid"] for e in below if e["type"] == "file"])


def _folder(path: str, oids: list[str]) -> dict:
    """A folder entry; its oid hashes the file oids below it (not git's tree id, but stable)."""
    return {"type": "directory", "path": path, "size": 0,
            "oid": hashlib.sha1(" ".join(oids).encode()).hexdigest()}


class Store:
    """All repos under one root. One lock serialises writers; readers need none (atomic refs)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def repo_dir(self, kind: str, repo_id: str) -> Path:
        parts = repo_id.split("/")
        if kind not in REPO_TYPES or len(parts) != 2 or not all(_NAME.fullmatch(p) for p in parts):
            raise HubError(400, f"invalid repo id {repo_id!r}: expected ORG/NAME")
        return self.root / kind / parts[0] / parts[1]

    def open_repo(self, kind: str, repo_id: str, authenticated: bool) -> Path:
        """The repo's folder; a missing repo, or a private one read anonymously, is not found."""
        repo = self.repo_dir(kind, repo_id)
        meta = repo / "meta.json"
        if not meta.is_file() or (json.loads(meta.read_text())["private"] and not authenticated):
            raise HubError(404, f"Repository {kind}/{repo_id} not found", "RepoNotFound")
        return repo

    def create_repo(self, kind: str, repo_id: str, private: bool, url: str) -> None:
        """A new repo holds one commit with the Hub's default .gitattributes, like the Hub.
        The 409 for an existing repo carries its `url`: create_repo(exist_ok=True) reads it."""
        repo = self.repo_dir(kind, repo_id)
        with self._lock:
            if (repo / "meta.json").exists():
                raise HubError(409, f"You already created this {kind[:-1]} repo: {repo_id}",
                               url=url)
            content = GITATTRIBUTES.encode()
            atomic_write(repo / "objects" / git_sha1(content), content)
            tree = {".gitattributes": {"oid": git_sha1(content), "size": len(content)}}
            oid = self._write_commit(repo, None, "initial commit", "", tree)
            atomic_write(repo / "refs" / "heads" / "main", oid.encode())
            atomic_write(repo / "meta.json", json.dumps({"private": private}).encode())

    def ref(self, repo: Path, kind: str, name: str) -> Optional[str]:
        if not _REF.fullmatch(name) or ".." in name:
            return None
        path = repo / "refs" / kind / name
        return path.read_text().strip() if path.is_file() else None

    def refs(self, repo: Path, kind: str) -> dict[str, str]:
        folder = repo / "refs" / kind
        return {p.relative_to(folder).as_posix(): p.read_text().strip()
                for p in sorted(folder.rglob("*"))
                if p.is_file() and not p.name.startswith(".tmp-")}

    def resolve(self, repo: Path, revision: str) -> str:
        """Commit oid of a branch, a tag or a full commit id."""
        oid = self.ref(repo, "heads", revision) or self.ref(repo, "tags", revision)
        known = _SHA1.fullmatch(revision) and (repo / "commits" / f"{revision}.json").is_file()
        if oid is None and known:
            oid = revision
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return oid

    def commit_data(self, repo: Path, oid: str) -> dict:
        return json.loads((repo / "commits" / f"{oid}.json").read_text())

    def tree(self, repo: Path, revision: str) -> tuple[str, dict]:
        oid = self.resolve(repo, revision)
        return oid, self.commit_data(repo, oid)["tree"]

    def object_path(self, repo: Path, entry: dict) -> Path:
        return repo / "objects" / content_key(entry)

    def has_lfs(self, repo: Path, sha256: str) -> bool:
        return (repo / "objects" / sha256).is_file()

    def put_lfs(self, repo: Path, sha256: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise HubError(400, f"uploaded bytes do not hash to {sha256}")
        atomic_write(repo / "objects" / sha256, data)

    def upload_mode(self, repo: Path, tree: dict, path: str, size: int,
                    sample: bytes) -> tuple[str, Optional[str]]:
        """("lfs" | "regular", content oid of the file now at `path`), decided like the Hub: by
        size, binary content or a `filter=lfs` pattern in the revision's .gitattributes."""
        attributes = tree.get(".gitattributes")
        lines = self.object_path(repo, attributes).read_text().splitlines() if attributes else []
        patterns = [line.split()[0] for line in lines if "filter=lfs" in line]
        entry = tree.get(path)
        remote = content_key(entry) if entry else None
        lfs = size >= LFS_MIN_SIZE or b"\0" in sample or any(
            fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)
        return ("lfs" if lfs else "regular"), remote

    def commit(self, repo: Path, branch: str, changes: list[Change], message: str,
               description: str = "", parent: Optional[str] = None) -> str:
        """Apply `changes` on top of `branch`; the branch moves last, atomically."""
        with self._lock:
            head = self.ref(repo, "heads", branch)
            if head is None:
                raise HubError(404, f"Invalid rev id: {branch} is not a branch", "RevisionNotFound")
            if parent is not None and parent != head:
                raise HubError(412, f"A commit has happened since {parent}; head is now {head}")
            tree = dict(self.commit_data(repo, head)["tree"])
            for change in changes:
                self._apply(repo, tree, change)
            oid = self._write_commit(repo, head, message, description, tree)
            atomic_write(repo / "refs" / "heads" / branch, oid.encode())
            return oid

    def create_ref(self, repo: Path, kind: str, name: str, target: str) -> None:
        """A new branch or tag; 409 if the name is taken (tags are never moved)."""
        if not _REF.fullmatch(name) or ".." in name or _SHA1.fullmatch(name):
            raise HubError(400, f"invalid ref name {name!r}")
        with self._lock:
            if self.ref(repo, kind, name) is not None:
                what = "Tag" if kind == "tags" else "Branch"
                raise HubError(409, f"{what} {name} already exists")
            atomic_write(repo / "refs" / kind / name, target.encode())

    def history(self, repo: Path, revision: str) -> list[tuple[str, dict]]:
        """(oid, commit) from `revision` back to the first commit."""
        oid, out = self.resolve(repo, revision), []
        while oid is not None:
            data = self.commit_data(repo, oid)
            out.append((oid, data))
            oid = data["parent"]
        return out

    def _apply(self, repo: Path, tree: dict, change: Change) -> None:
        if change.kind == "add":
            data = change.content or b""
            atomic_write(repo / "objects" / git_sha1(data), data)
            tree[change.path] = {"oid": git_sha1(data), "size": len(data)}
        elif change.kind == "add-lfs":
            obj = repo / "objects" / str(change.sha256)
            if not obj.is_file():
                raise HubError(400, f"{change.path}: LFS object {change.sha256} was never uploaded")
            size = obj.stat().st_size
            pointer = lfs_pointer(str(change.sha256), size)
            lfs = {"oid": change.sha256, "size": size, "pointerSize": len(pointer)}
            tree[change.path] = {"oid": git_sha1(pointer), "size": size, "lfs": lfs}
        else:
            prefix = change.path.rstrip("/") + "/"
            folder = change.kind == "delete-dir"
            gone = [p for p in tree if p == change.path or (folder and p.startswith(prefix))]
            if not gone:
                raise HubError(404, f"{change.path}: A file with this name doesn't exist",
                               "EntryNotFound")
            for p in gone:
                del tree[p]

    def _write_commit(self, repo: Path, parent: Optional[str], message: str, description: str,
                      tree: dict) -> str:
        data = {"parent": parent, "message": message, "description": description,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "tree": tree}
        raw = json.dumps(data, sort_keys=True).encode()
        oid = hashlib.sha1(raw).hexdigest()
        atomic_write(repo / "commits" / f"{oid}.json", raw)
        return oid
