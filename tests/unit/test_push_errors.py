"""A Hub call that keeps failing ends in one PushError line naming the step, the HTTP status or
network error and the cause underneath (never the token), after retrying only what a retry can
fix; generated over statuses, wrappings (huggingface_hub's RuntimeError around a failed LFS
upload, LocalEntryNotFoundError around a failed download) and awkward server messages."""

import logging

import httpx2
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError
from huggingface_hub.utils import hf_raise_for_status

from judgefree_hub.errors import PushError
from judgefree_hub.hub.push import ATTEMPTS, CAUSE_CHARS, with_retries

TOKEN = "hf_jfhubTestToken0123456789secret"
STEP = "commit v1.0.0 to org/name"
MESSAGES = ["injected fault", "x" * 1000, f"bad header Authorization: Bearer {TOKEN}", f"token {TOKEN} refused",
            "first line\nsecond line\n  third", ""]


def http_error(status: int, message: str) -> Exception:
    """The error huggingface_hub raises for this answer, made by its own hf_raise_for_status."""
    url = "http://127.0.0.1:9/api/datasets/org/name/commit/main"
    headers = {"X-Error-Message": message} if message else {}
    response = httpx2.Response(status, headers=headers, json={"error": message} if message else None,
                               request=httpx2.Request("POST", url))
    try:
        hf_raise_for_status(response)
    except Exception as e:  # noqa: BLE001 (whatever it raises is the case under test)
        return e
    raise AssertionError(f"hf_raise_for_status accepted HTTP {status}")


def wrapped(exc: Exception, how: str) -> Exception:
    """`exc` as huggingface_hub hands it up: bare, inside an LFS upload, inside a download."""
    outer = {"bare": None, "lfs": RuntimeError("Error while uploading 'data/train-000000.tar' to the Hub."),
             "download": LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub "
                                                 "and we cannot find the requested files in the local cache.")}[how]
    if outer is None:
        return exc
    outer.__cause__ = exc
    return outer


def fail_with(exc: Exception):
    """A call that always raises `exc`, counting its calls and whether huggingface_hub's
    warnings (one per retried request) would show meanwhile."""
    seen = {"calls": 0, "warnings_shown": False}

    def fn():
        seen["calls"] += 1
        seen["warnings_shown"] |= logging.getLogger("huggingface_hub.utils._http").isEnabledFor(logging.WARNING)
        raise exc

    return fn, seen


def push_error(exc: Exception, monkeypatch) -> tuple[str, dict]:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fn, seen = fail_with(exc)
    with pytest.raises(PushError) as info:
        with_retries(fn, STEP, wait_s=0)()
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"{STEP}: "), line
    assert TOKEN not in line and "Traceback" not in line
    assert len(line) <= len(STEP) + 80 + CAUSE_CHARS, line
    assert not seen["warnings_shown"]
    return line, seen


@pytest.mark.parametrize("how", ["bare", "lfs", "download"])
@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
@pytest.mark.parametrize("status", [400, 404, 409, 412, 413, 422, 429, 500, 502, 503, 504])
def test_an_http_failure_is_one_line_with_status_and_cause(status, message, how, monkeypatch):
    line, seen = push_error(wrapped(http_error(status, message), how), monkeypatch)
    assert f"HTTP {status}" in line
    retried = status >= 500 or status == 429
    assert seen["calls"] == (ATTEMPTS if retried else 1)
    assert (f"after {ATTEMPTS} attempts" in line) == retried
    if how == "lfs":
        assert "Error while uploading 'data/train-000000.tar'" in line
    if message and len(message) < 100:
        assert message.split("\n")[0].replace(TOKEN, "***") in line


@pytest.mark.parametrize("how", ["bare", "lfs", "download"])
@pytest.mark.parametrize("status,says", [(401, "rejected the credentials (HTTP 401)"),
                                         (403, "no write access to this repo (HTTP 403)")])
def test_credentials_refused_say_what_to_do(status, says, how, monkeypatch):
    line, seen = push_error(wrapped(http_error(status, "Invalid credentials"), how), monkeypatch)
    assert says in line and seen["calls"] == 1


NETWORK = [lambda m: httpx2.ConnectError(m), lambda m: httpx2.ReadTimeout(m),
           lambda m: httpx2.RemoteProtocolError(m), lambda m: ConnectionResetError(m), lambda m: TimeoutError(m)]


@pytest.mark.parametrize("how", ["bare", "lfs", "download"])
@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
@pytest.mark.parametrize("make", NETWORK, ids=lambda f: type(f("")).__name__)
def test_a_network_failure_is_retried_then_one_line(make, message, how, monkeypatch):
    exc = make(message)
    line, seen = push_error(wrapped(exc, how), monkeypatch)
    assert seen["calls"] == ATTEMPTS
    assert f"network error after {ATTEMPTS} attempts ({type(exc).__name__}" in line


@pytest.mark.parametrize("exc", [ValueError("bad value"), KeyError("oid"), RuntimeError("odd"), TypeError(TOKEN),
                                 OSError(28, "No space left on device")], ids=lambda e: type(e).__name__)
def test_any_other_failure_is_not_retried_and_named(exc, monkeypatch):
    line, seen = push_error(exc, monkeypatch)
    assert seen["calls"] == 1 and f"{STEP}: {type(exc).__name__}: " in line


def test_the_hub_client_logger_is_restored_after_the_call():
    from huggingface_hub.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    fn, _ = fail_with(http_error(503, "busy"))
    with pytest.raises(PushError):
        with_retries(fn, STEP, wait_s=0)()
    assert hf_logging.get_verbosity() == before
    assert with_retries(lambda: 7, STEP, wait_s=0)() == 7 and hf_logging.get_verbosity() == before
