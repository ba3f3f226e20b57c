"""What `--help`, `validate` and `schema-doc` print: the command list reads whole, required train
settings say so, `validate` names what the recipe's builder uses, an unchanged README says so,
and every benchmark script documents each option."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from judgefree_hub.cli import main

ROOT = Path(__file__).resolve().parents[2]
LONG_STEPS = ("build", "train", "eval", "loop")


def invoke(*args):
    result = CliRunner().invoke(main, list(map(str, args)), prog_name="jfhub", catch_exceptions=False)
    return result


def test_the_command_list_reads_whole():
    out = invoke("--help")
    assert out.exit_code == 0
    listed = out.output.split("Commands:\n", 1)[1].splitlines()
    assert {line.split()[0] for line in listed} == set(main.commands)
    assert not any("..." in line for line in listed), listed
    for name, command in main.commands.items():
        assert command.short_help and command.short_help.endswith(".")
        assert any(line.split(None, 1)[1] == command.short_help for line in listed if line.split()[0] == name)


def test_train_help_marks_what_it_needs():
    out = invoke("train", "--help").output
    assert "Usage: jfhub train [OPTIONS] DATASET\n" in out
    flat = " ".join(out.split())
    for option in ("--model TEXT", "--output DIRECTORY"):
        assert re.search(re.escape(option) + r" [^[]*\[required, here or in --config\]", flat), option
    assert flat.count("[required, here or in --config]") == 2


def test_a_missing_train_setting_is_one_error_line_each(tmp_path):
    result = invoke("train", "--model", "demo:tiny-llava")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["Error: command line: $.dataset: is required", "Error: command line: $.output_dir: is required"]


@pytest.mark.parametrize("command", LONG_STEPS)
def test_every_long_step_has_the_same_output_switches(command):
    out = " ".join(invoke(command, "--help").output.split())
    assert "--progress / --no-progress" in out and "--verbose" in out


def test_validate_summary_is_the_builders_own():
    ic = invoke("validate", ROOT / "recipes" / "ic-starter.json")
    assert ic.exit_code == 0
    assert "builder ic, manifest " in ic.output and "ic-starter/manifest.jsonl, 33 image(s), caption prompt " \
        "'Describe this image in detail.')" in ic.output
    assert "strategy" not in ic.output and "verifier" not in ic.output
    pref = invoke("validate", ROOT / "recipes" / "smoke.json")
    assert "builder preference, 1 source(s), strategy mix, verifier clip)" in pref.output


def test_schema_doc_update_says_when_nothing_changed(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    before = readme.read_bytes()
    same = invoke("schema-doc", "--update", readme)
    assert same.exit_code == 0 and "up to date (unchanged)" in same.output and "updated" not in same.output
    assert readme.read_bytes() == before
    lines = before.decode().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith("| `name`"))
    readme.write_text("".join(lines[:row] + lines[row + 1:]))  # a field's row gone: the table is stale
    changed = invoke("schema-doc", "--update", readme)
    assert changed.exit_code == 0 and changed.output.startswith("updated the recipe field table")
    assert readme.read_bytes() == before


def option_entries(help_text: str) -> dict[str, str]:
    """argparse's options section: each option with its help text (on its line or the next)."""
    body = help_text.split("options:\n", 1)[1]
    entries: dict[str, str] = {}
    current = None
    for line in body.splitlines():
        if re.match(r"\s{2}-", line):
            names, _, text = line.strip().partition("  ")
            current = names
            entries[current] = text.strip()
        elif current and line.strip():
            entries[current] = (entries[current] + " " + line.strip()).strip()
    return entries


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                                           if '__name__ == "__main__"' in p.read_text()))  # scripts, not their modules
def test_every_benchmark_documents_itself_and_each_option(script):
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    description = proc.stdout.split("\n\n", 2)[1]  # after the usage block
    assert description.strip() and not description.startswith("options:")
    entries = option_entries(proc.stdout)
    assert len(entries) >= 2  # -h and at least one of its own
    undocumented = [name for name, text in entries.items() if not text]
    assert not undocumented, f"{script}: no help for {undocumented}"
