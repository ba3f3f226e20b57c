"""Every code block of the README, run as a reader pastes them: in order, in one bash shell, in a
fresh folder holding only `.venv` (this interpreter's environment), `recipes/` and `benchmarks/`.
A block's output, where the README shows one, must come out as shown (tests/doc_blocks.py says
how it is matched). Blocks that cannot run here say why in an annotation, and are reported as
skipped with that reason. Two values of the machine are replaced, in code and output alike: the
local Hub's folder (`/tmp/hub`) and port (`8765`), by a fresh folder and a free port.

Afterwards the shell must hold no Hub setting (nothing exported) and no server (the README
stops it). Then the cards of what those blocks built and pushed run their own code blocks
against the same local Hub, restarted on the README's folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from doc_blocks import Block, blocks, output_mismatch

pytestmark = pytest.mark.slow

README_BLOCKS = [b for b in blocks((ROOT / "README.md").read_text()) if b.is_code]
HUB_SETTINGS = ("HF_ENDPOINT", "HF_TOKEN", "HF_HUB_DISABLE_XET", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reader_env(scratch: Path) -> dict[str, str]:
    """The test session's environment without its Hub settings (the blocks bring their own) and
    with a Hub cache of its own."""
    env = {k: v for k, v in os.environ.items() if k not in HUB_SETTINGS and k != "HF_DATASETS_CACHE"}
    env["HF_HOME"] = str(scratch / "hf-home")
    return env


@dataclass
class ReadmeRun:
    scratch: Path
    port: int
    substitutions: dict[str, str]
    state: Path
    returncode: int

    def done(self, i: int) -> bool:
        return (self.state / f"{i}.done").is_file()

    def read(self, i: int, stream: str) -> str:
        path = self.state / f"{i}.{stream}"
        return path.read_text(errors="replace") if path.is_file() else ""

    def substitute(self, text: str) -> str:
        for old, new in self.substitutions.items():
            text = text.replace(old, new)
        return text


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory, jfhub_cache) -> ReadmeRun:
    scratch = tmp_path_factory.mktemp("readme")
    assert sys.prefix != sys.base_prefix, "the README's commands use .venv/bin/...: run the tests from a venv"
    (scratch / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    for name in ("recipes", "benchmarks"):
        (scratch / name).symlink_to(ROOT / name, target_is_directory=True)
    port = free_port()
    run = ReadmeRun(scratch, port, {"/tmp/hub": str(scratch / "hub"), "8765": str(port)},
                    scratch / ".state", -1)
    run.state.mkdir()
    script = ["set -euo pipefail", f"cd {scratch}"]
    for i, block in enumerate(README_BLOCKS):
        code = block.runs
        if code is None:
            continue
        path = run.state / f"{i}.{'py' if block.lang == 'python' else 'sh'}"
        path.write_text(run.substitute(code))
        redirect = f"> {run.state}/{i}.out 2> {run.state}/{i}.err"
        script.append(f".venv/bin/python {path} {redirect}" if block.lang == "python" else f"source {path} {redirect}")
        script.append(f"touch {run.state}/{i}.done")
    script += ["sleep 1", f"jobs -rp > {run.state}/jobs", f"env > {run.state}/env"]
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=scratch, env=reader_env(scratch),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.communicate(timeout=1500)
    finally:  # whatever a failed block left running (the server) goes with the shell's group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.returncode = proc.returncode
    return run


@pytest.mark.parametrize("index", range(len(README_BLOCKS)), ids=[f"line{b.line}" for b in README_BLOCKS])
def test_readme_block(readme_run, index):
    block: Block = README_BLOCKS[index]
    if block.note is not None and block.note.kind == "skip":
        pytest.skip(f"README {block.label}: {block.note.text}")
    if block.note is not None:
        assert block.note.text in block.text, f"README {block.label}: the annotated command is not part of the block"
    failed = next((i for i in range(index) if README_BLOCKS[i].runs is not None and not readme_run.done(i)), None)
    assert failed is None, f"not reached: README {README_BLOCKS[failed].label} failed"
    assert readme_run.done(index), (f"README {block.label} failed:\n"
                                   f"{readme_run.read(index, 'err')[-3000:]}\n{readme_run.read(index, 'out')[-1000:]}")
    if block.output is not None:
        problem = output_mismatch(readme_run.substitute(block.output), readme_run.read(index, "out"))
        assert problem is None, f"README {block.label}: output differs from the README's: {problem}"


def test_readme_leaves_no_hub_setting_and_no_server(readme_run):
    assert readme_run.returncode == 0
    env = dict(line.split("=", 1) for line in (readme_run.state / "env").read_text().splitlines() if "=" in line)
    assert not {k: env[k] for k in HUB_SETTINGS if k in env}
    assert (readme_run.state / "jobs").read_text().strip() == ""
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", readme_run.port)) != 0, "the README's local Hub is still serving"


# --- the cards jfhub wrote while the README ran -----------------------------------------------

# Model ids in a card that name real checkpoints (not downloadable here) are replaced by the
# tiny ones the README used; nothing else of a card's code is changed.
CARD_MODELS = {"llava-hf/llava-1.5-7b-hf": "demo:tiny-llava", "your-org/llava-7b-judgefree": "runs/demo-dpo"}
CARDS = {  # card -> (the build or output folder, relative to the README's folder; pushed as)
    "preference card (smoke, pushed by the README)": ("out/jfhub-smoke/0.1.0", None),
    "preference card (demo)": ("out/jfhub-demo/0.6.0", "demo-org/jfhub-demo"),
    "IC card (starter set)": ("out/jfhub-ic-starter/0.1.0", "demo-org/jfhub-ic-starter"),
    "model card (LoRA from jfhub train)": ("runs/demo-dpo", None),
}


@pytest.fixture(scope="module")
def card_hub(readme_run):
    """The README's local Hub, restarted on its folder, with the README's other builds pushed:
    every card is then the one a Hub reader sees (rendered for its repo). Yields the env its
    code runs with: the reader's, pointed at that Hub, with .venv/bin on PATH (cards say `jfhub`)."""
    from judgefree_hub.testing.hub import LocalHub

    assert readme_run.returncode == 0, "the README's blocks failed: see test_readme_block"
    scratch = readme_run.scratch
    hub = LocalHub(scratch / "hub")
    url = hub.start()
    env = {**reader_env(scratch), "HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "any",
           "PATH": f"{scratch / '.venv' / 'bin'}:{os.environ['PATH']}"}
    try:
        for folder, repo in CARDS.values():
            if repo is not None:
                proc = subprocess.run([str(scratch / ".venv" / "bin" / "jfhub"), "push", folder, "--repo", repo],
                                      cwd=scratch, env=env, capture_output=True, text=True)
                assert proc.returncode == 0, proc.stderr[-2000:]
        yield env
    finally:
        hub.stop()


@pytest.mark.parametrize("card", list(CARDS))
def test_every_code_block_of_a_card_runs(readme_run, card_hub, card):
    folder = readme_run.scratch / CARDS[card][0]
    code = [b for b in blocks((folder / "README.md").read_text()) if b.is_code]
    assert code, f"{card}: no code block"
    assert all(b.note is None for b in code), f"{card}: a card's code is all meant to run"
    for block in code:
        text = block.text
        for old, new in CARD_MODELS.items():
            text = text.replace(old, new)
        argv = [".venv/bin/python", "-c", text] if block.lang == "python" else ["bash", "-euo", "pipefail", "-c", text]
        proc = subprocess.run(argv, cwd=readme_run.scratch, env=card_hub, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{card}, {block.label}:\n{proc.stderr[-3000:]}"
