"""Reading a JSON config file (a recipe, a train config) so that any file gives one line.

What a user or an attacker may hand over: a missing path, a folder, a named pipe (which would
block a plain read forever), a symlink loop, a huge file, another encoding (UTF-16, Latin-1),
duplicate keys (which json.loads silently resolves last-wins), NaN or Infinity (not JSON, but
Python reads them), nesting deep enough to exhaust the recursion limit. Each becomes one
ConfigError problem at `$`, naming the file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import ConfigError

MAX_BYTES = 1 << 20  # a recipe is a page of JSON; 1 MiB is far beyond any real one


def read_json_file(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    """The parsed JSON of a regular UTF-8 file, or `error(str(path), [("$", why)])`."""
    label = str(path)
    try:
        text = _read_text(path)
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _Refused as e:
        raise error(label, [("$", str(e))]) from None
    except json.JSONDecodeError as e:
        raise error(label, [("$", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")]) from None
    except RecursionError:
        raise error(label, [("$", "nested too deeply to be a config")]) from None


class _Refused(ValueError):
    pass


def _read_text(path: Path) -> str:
    try:
        info = os.stat(path)  # follows links; a loop raises ELOOP
    except FileNotFoundError:
        raise _Refused("no such file") from None
    except OSError as e:
        raise _Refused(f"cannot read: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _Refused(f"{kind}; give a JSON file")
    if info.st_size > MAX_BYTES:
        raise _Refused(f"{info.st_size} bytes; a config is at most {MAX_BYTES} bytes")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _Refused(f"cannot read: {e.strerror}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _Refused("is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _Refused(f"is not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); save it as UTF-8") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"duplicate key {key!r} (JSON readers disagree on which one wins)")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")
