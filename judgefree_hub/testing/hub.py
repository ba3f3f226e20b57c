"""A local Hub-compatible HTTP server, so push, tag and load_dataset can be tested offline.

It answers the subset of the Hugging Face Hub API that huggingface_hub (HfApi, hf_hub_download,
HfFileSystem; plain git-LFS, i.e. HF_HUB_DISABLE_XET=1) and datasets' load_dataset call, and
stores repos on disk (`hub_store.Store`). For reliability tests it injects faults (`fail`:
answer 500 without doing the work; `reject`: answer 400, a refusal no retry can fix; `drop`:
close the connection without an answer) on the Nth request to a route, and counts requests per
route (GET /_test/requests). Token values are never logged; access log lines hold only the
request line and status.

    python -m judgefree_hub.testing.hub --port 0 --root DIR [--token T] [--fault commit:1:fail]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from .hub_store import Change, HubError, Store, content_key, path_info, tree_entries

log = logging.getLogger(__name__)
ACTIONS = ("fail", "reject", "drop")
WRITE_ROUTES = {"create-repo", "preupload", "lfs-batch", "commit", "tag", "branch"}
_T = r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)"
_P = r"/(?:(?P<p>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)"
ROUTES = [  # (methods, path pattern, route name); a handler is `_on_<name with _>`
    ("POST", r"/api/repos/create", "create-repo"),
    ("POST", r"/api/validate-yaml", "validate-yaml"),
    ("GET", _T + r"(?:/revision/(?P<rev>[^/]+))?", "repo-info"),
    ("GET", _T + r"/refs", "refs"),
    ("GET", _T + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
    ("POST", _T + r"/paths-info/(?P<rev>[^/]+)", "paths-info"),
    ("GET", _T + r"/commits/(?P<rev>[^/]+)", "commits"),
    ("POST", _T + r"/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", _T + r"/commit/(?P<rev>[^/]+)", "commit"),
    ("POST", _T + r"/tag/(?P<rev>[^/]+)", "tag"),
    ("POST", _T + r"/branch/(?P<rev>[^/]+)", "branch"),
    ("POST", _P + r"\.git/info/lfs/objects/batch", "lfs-batch"),
    ("PUT", _P + r"\.git/info/lfs/objects/(?P<oid>[0-9a-f]{64})", "lfs-upload"),
    ("GET HEAD", _P + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ("GET", r"/api/agent-harnesses", "agent-harnesses"),
    ("POST", r"/_test/faults", "test-faults"),
    ("GET", r"/_test/requests", "test-requests"),
]
_COMPILED = [(methods.split(), re.compile(pattern), name) for methods, pattern, name in ROUTES]
FAULT_ROUTES = [name for _, _, name in ROUTES if not name.startswith("test-")]


@dataclass(frozen=True)
class Fault:
    """Answer the `nth` (1-based) request to `route` with `action` instead of doing the work."""

    route: str
    nth: int
    action: str

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """From "ROUTE:N:ACTION", e.g. "commit:1:fail"."""
        route, _, rest = spec.partition(":")
        nth, _, action = rest.partition(":")
        return cls.of(route, nth, action)

    @classmethod
    def of(cls, route: str, nth, action: str) -> "Fault":
        ok = route in FAULT_ROUTES and action in ACTIONS and str(nth).isdigit() and int(nth) >= 1
        if not ok:
            raise HubError(400, f"bad fault {route}:{nth}:{action}: want ROUTE:N:ACTION with ROUTE "
                                f"in {FAULT_ROUTES}, N >= 1, ACTION in {list(ACTIONS)}")
        return cls(route, int(nth), action)


class LocalHub:
    """The server on 127.0.0.1 in a background thread: `with LocalHub(root) as url: ...`."""

    def __init__(self, root, tokens: Iterable[str] = (), faults: Iterable[Fault | str] = (),
                 host: str = "127.0.0.1", port: int = 0):
        self.store = Store(Path(root))
        self.tokens = frozenset(tokens)
        self.faults = [f if isinstance(f, Fault) else Fault.parse(f) for f in faults]
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.hub = self
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the CLI)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_fault(self, fault: Fault | str) -> None:
        with self._lock:
            self.faults.append(fault if isinstance(fault, Fault) else Fault.parse(fault))

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def count(self, route: str) -> Optional[str]:
        """Count a request to `route`; the fault action it must get, if any."""
        with self._lock:
            n = self.counts[route] = self.counts.get(route, 0) + 1
            hit = next((f for f in self.faults if f.route == route and f.nth == n), None)
            return hit.action if hit else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    hub: LocalHub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls
    server: _Server

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):  # no DELETE route yet: answered 404 and logged as unknown
        self._dispatch("DELETE")

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature); request line only
        log.info("%s " + format, self.client_address[0], *args)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.body = self._read_body()
        route = next(((name, m) for methods, rx, name in _COMPILED
                      if method in methods and (m := rx.fullmatch(url.path))), None)
        if route is None:
            log.warning("unknown route: %s %s", method, url.path)
            return self._send(404, {"error": f"no route for {method} {url.path}"})
        name, match = route
        action = None if name.startswith("test-") else self.server.hub.count(name)
        if action == "drop":
            self.close_connection = True
            return
        if action in ("fail", "reject"):  # the message also in a header, as the Hub sends it (HEAD has no body)
            status, message = (500, "injected fault") if action == "fail" else (400, "injected rejection")
            return self._send(status, {"error": f"{message} on {name}"}, {"X-Error-Message": f"{message} on {name}"})
        try:
            self.authed = self._check_token(name)
            getattr(self, "_on_" + name.replace("-", "_"))(**{
                k: unquote(v) for k, v in match.groupdict().items() if v is not None})
        except HubError as e:
            self._send(e.status, {"error": e.message, **e.extra},
                       {"X-Error-Code": e.code, "X-Error-Message": e.message})
        except Exception:  # a server bug or a payload it does not know: say so, keep serving
            log.exception("%s %s failed", method, url.path)
            self._send(500, {"error": f"local hub failed on {method} {url.path}"})

    def _read_body(self) -> bytes:
        """The whole request body (Content-Length or chunked); test uploads are small."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass
        return b"".join(parts)

    def _check_token(self, route: str) -> bool:
        """True if the request carries an accepted token. With --token set, an unknown token
        is refused everywhere and a missing one on writes; the LFS PUT, like a presigned URL,
        needs none."""
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        tokens = self.server.hub.tokens
        if tokens and (token is not None or route in WRITE_ROUTES) and token not in tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return token is not None

    def _send(self, status: int, payload=None, headers: Optional[dict] = None) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        ctype = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        for key, value in {"Content-Type": ctype, **(headers or {})}.items():
            if value is not None:
                self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    @property
    def store(self) -> Store:
        return self.server.hub.store

    def _json(self) -> dict:
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HubError(400, "request body is not a JSON object")
        return body

    def _repo(self, t: Optional[str], repo: str) -> Path:
        kind = t if t in ("models", "datasets", "spaces") else "models"
        return self.store.open_repo(kind, repo, self.authed)

    def _base(self) -> str:
        return f"http://{self.headers.get('Host', '%s:%d' % self.server.server_address[:2])}"

    # --- repos and refs -------------------------------------------------------------------
    def _on_create_repo(self):
        body = self._json()
        kind = (body.get("type") or "model") + "s"
        repo_id = f"{body.get('organization')}/{body.get('name')}"
        url = f"{self._base()}/{'' if kind == 'models' else kind + '/'}{repo_id}"
        # huggingface_hub 2.x sends "visibility", older clients "private"
        private = body.get("visibility", "public") != "public" or bool(body.get("private"))
        self.store.create_repo(kind, repo_id, private, url)
        self._send(200, {"url": url, "name": repo_id})

    def _on_validate_yaml(self):
        content = self._json().get("content", "")
        closed = not content.startswith("---") or "\n---" in content[3:]
        if not closed:
            raise HubError(400, "README.md: YAML front matter is not closed by a '---' line")
        self._send(200, {"errors": [], "warnings": []})

    def _on_repo_info(self, t, repo, rev="main"):
        store, path = self.store, self._repo(t, repo)
        oid, tree = store.tree(path, rev)
        siblings = [{"rfilename": p, "size": e["size"], "blobId": e["oid"],
                     **({"lfs": {"sha256": e["lfs"]["oid"], "size": e["size"],
                                 "pointerSize": e["lfs"]["pointerSize"]}} if "lfs" in e else {})}
                    for p, e in sorted(tree.items())]
        private = json.loads((path / "meta.json").read_text())["private"]
        self._send(200, {"id": repo, "author": repo.split("/")[0], "sha": oid, "private": private,
                         "lastModified": store.commit_data(path, oid)["date"], "disabled": False,
                         "gated": False, "tags": [], "downloads": 0, "likes": 0,
                         "siblings": siblings})

    def _on_refs(self, t, repo):
        store, path = self.store, self._repo(t, repo)

        def refs(kind):
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid}
                    for n, oid in store.refs(path, kind).items()]
        self._send(200, {"branches": refs("heads"), "tags": refs("tags"), "converts": [],
                         "pullRequests": []})

    def _on_tag(self, t, repo, rev):
        store, path, tag = self.store, self._repo(t, repo), self._json().get("tag")
        if not isinstance(tag, str):
            raise HubError(400, "tag: expected a string")
        store.create_ref(path, "tags", tag, store.resolve(path, rev))
        self._send(200, {})

    def _on_branch(self, t, repo, rev):
        store, path = self.store, self._repo(t, repo)
        start = store.resolve(path, self._json().get("startingPoint") or "main")
        store.create_ref(path, "heads", rev, start)
        self._send(200, {})

    def _on_commits(self, t, repo, rev):
        store, path = self.store, self._repo(t, repo)
        self._send(200, [{"id": oid, "title": c["message"], "message": c["description"],
                          "authors": [], "date": c["date"]} for oid, c in store.history(path, rev)])

    # --- reading files --------------------------------------------------------------------
    def _on_tree(self, t, repo, rev, path=""):
        store, repo_path = self.store, self._repo(t, repo)
        _, tree = store.tree(repo_path, rev)
        entries = tree_entries(tree, path, self.query.get("recursive", "").lower() in ("1", "true"))
        if path.strip("/") and not entries:
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        self._send(200, entries)

    def _on_paths_info(self, t, repo, rev):
        store, repo_path = self.store, self._repo(t, repo)
        _, tree = store.tree(repo_path, rev)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = self._json().get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        self._send(200, [info for p in paths if (info := path_info(tree, p)) is not None])

    def _on_resolve(self, repo, rev, path, p=None):
        store, repo_path = self.store, self._repo(p, repo)
        oid = store.resolve(repo_path, rev)
        tree = store.commit_data(repo_path, oid)["tree"]
        if path not in tree:
            raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        entry = tree[path]
        data = store.object_path(repo_path, entry).read_bytes()
        headers = {"X-Repo-Commit": oid, "ETag": f'"{content_key(entry)}"',
                   "Accept-Ranges": "bytes"}
        span = _byte_range(self.headers.get("Range"), len(data))
        if span is None:
            return self._send(200, data, headers)
        start, end = span
        if start >= len(data) or start > end:
            raise HubError(416, f"range {self.headers.get('Range')} outside {len(data)} bytes")
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, data[start:end + 1], headers)

    # --- writing --------------------------------------------------------------------------
    def _on_preupload(self, t, repo, rev):
        store, path = self.store, self._repo(t, repo)
        _, tree = store.tree(path, rev)
        files = []
        for f in self._json().get("files", []):
            sample = base64.b64decode(f.get("sample", ""))
            mode, oid = store.upload_mode(path, tree, f["path"], int(f["size"]), sample)
            files.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": files})

    def _on_lfs_batch(self, repo, p=None):
        store, path = self.store, self._repo(p, repo)
        prefix = f"{p}/" if p else ""
        objects = []
        for obj in self._json().get("objects", []):
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not store.has_lfs(path, obj["oid"]):  # stored objects get no actions: no upload
                href = f"{self._base()}/{prefix}{repo}.git/info/lfs/objects/{obj['oid']}"
                answer["actions"] = {"upload": {"href": href}}
            objects.append(answer)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _on_lfs_upload(self, repo, oid, p=None):
        repo_path = self.store.open_repo(p or "models", repo, authenticated=True)
        self.store.put_lfs(repo_path, oid, self.body)
        self._send(200, {})

    def _on_commit(self, t, repo, rev):
        store, path = self.store, self._repo(t, repo)
        header, changes = _parse_commit(self.body)
        oid = store.commit(path, rev, changes, header.get("summary") or "",
                           header.get("description") or "", header.get("parentCommit"))
        prefix = "" if t == "models" else t + "/"
        self._send(200, {"success": True, "commitOid": oid, "pullRequestUrl": None,
                         "commitUrl": f"{self._base()}/{prefix}{repo}/commit/{oid}"})

    def _on_agent_harnesses(self):  # huggingface_hub asks this once per process
        self._send(200, {"standardEnvVars": [], "harnesses": {}})

    # --- test control ---------------------------------------------------------------------
    def _on_test_faults(self):
        body = self._json()
        self.server.hub.add_fault(Fault.of(body.get("route"), body.get("nth"), body.get("action")))
        self._send(200, {"faults": [asdict(f) for f in self.server.hub.faults]})

    def _on_test_requests(self):
        self._send(200, self.server.hub.request_counts())


def _parse_commit(body: bytes) -> tuple[dict, list[Change]]:
    """The commit API's ndjson: a header line, then file / lfsFile / deletedFile / deletedFolder."""
    kinds = {"file": "add", "lfsFile": "add-lfs", "deletedFile": "delete",
             "deletedFolder": "delete-dir"}
    header, changes = {}, []
    try:
        for line in filter(None, (raw.strip() for raw in body.splitlines())):
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                raw = value["content"].encode()
                content = base64.b64decode(raw) if value.get("encoding") == "base64" else raw
                changes.append(Change("add", value["path"], content=content))
            else:
                changes.append(Change(kinds[key], value["path"], sha256=value.get("oid")))
    except (ValueError, KeyError, TypeError) as e:
        raise HubError(400, f"malformed commit payload: {type(e).__name__} {e}") from None
    return header, changes


def _byte_range(header: Optional[str], size: int) -> Optional[tuple[int, int]]:
    """(first, last) byte of a single `bytes=a-b`, `a-` or `-n` range; None for the whole file."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if m is None or m.group(1) == m.group(2) == "":
        return None
    if m.group(1) == "":
        return max(0, size - int(m.group(2))), size - 1
    return int(m.group(1)), min(int(m.group(2)) if m.group(2) else size - 1, size - 1)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, type=Path, help="folder that holds the repos")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"], help="loopback only")
    parser.add_argument("--token", action="append", default=[], help="accepted token (repeatable)")
    parser.add_argument("--fault", action="append", default=[], help="ROUTE:N:ACTION (repeatable)")
    args = parser.parse_args(argv)
    try:
        faults = [Fault.parse(spec) for spec in args.fault]
    except HubError as e:
        parser.error(e.message)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    hub = LocalHub(args.root, tokens=args.token, faults=faults, host=args.host, port=args.port)
    print(f"serving on {hub.url}", flush=True)  # noqa: T201 (the one line callers wait for)
    hub.serve_forever()


if __name__ == "__main__":
    main()
