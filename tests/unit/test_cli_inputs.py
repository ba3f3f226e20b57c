"""Bad command-line input ends in one `Error:` line and the right exit code, never a traceback:
usage errors (generated for every command and every bounded option), comparison files that are
not summaries, datasets that are missing or of the wrong kind."""

import json

import pytest
from click.testing import CliRunner

from judgefree_hub.cli import main
from judgefree_hub.output import ShardStore


def run(*args):
    """Exit code and the `Error:` lines; progress bars of `datasets` (noise, not errors) aside."""
    result = CliRunner().invoke(main, list(map(str, args)), prog_name="jfhub")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("Generating ")]
    return result.exit_code, lines


BOUNDED = [("eval", "--batch-size"), ("eval", "--max-new-tokens"), ("loop", "--eval-batch-size"),
           ("loop", "--eval-max-new-tokens"), ("loop", "--rounds")]


@pytest.mark.parametrize("command,option", BOUNDED)
@pytest.mark.parametrize("value", ["0", "-3", "x", "1.5", ""])
def test_a_bad_number_is_one_usage_line(command, option, value):
    extra = ["recipes/smoke.json", "--ic", "x"] if command == "loop" else ["--ic", "x", "--model", "m"]
    code, lines = run(command, *extra, option, value)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"Error: Invalid value for '{option}'"), lines
    assert lines[0].endswith(f"(see: jfhub {command} --help)")


@pytest.mark.parametrize("command", sorted(main.commands))
def test_a_mistyped_command_or_option_is_one_line(command):
    code, lines = run(command[:-1] + "x")
    assert code == 2 and len(lines) == 1 and "No such command" in lines[0], lines
    code, lines = run(command, "--no-such-option")
    assert code == 2 and len(lines) == 1 and "No such option '--no-such-option'" in lines[0], lines


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"overall": 3}', "{}", ""])
def test_compare_takes_summaries_only(tmp_path, content):
    good = {"overall": {"micro": {"precision": 0.5, "recall": 0.5, "f1": 0.5}, "macro": {"precision": 0.5,
            "recall": 0.5, "f1": 0.5}, "chair_i": 0.1, "chair_s": 0.2, "images": 1}}
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text(content)
    code, lines = run("eval", "--compare", tmp_path / "a.json", tmp_path / "b.json")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), lines


def test_eval_on_a_preference_build_says_it_is_not_an_ic_set(tmp_path):
    from PIL import Image

    root = tmp_path / "build"
    img = tmp_path / "i.png"
    Image.new("RGB", (4, 4)).save(img)
    ShardStore(root).write(0, [{"__key__": "k0", "png": img.read_bytes(),
                                "json": json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}).encode()}],
                           0, 1, {})
    (root / "manifest.json").write_text("{}")
    code, lines = run("eval", "--ic", root, "--captions", img)
    assert code == 1 and len(lines) == 1 and "not an IC dataset" in lines[0] and "'elements'" in lines[0], lines


@pytest.mark.parametrize("source", ["no-such-org/no-such-set", "./no/such/folder/but/a/repo/id"])
def test_eval_and_train_on_a_missing_dataset_are_one_line(tmp_path, source):
    captions = tmp_path / "c.jsonl"
    captions.write_text("")
    code, lines = run("eval", "--ic", source, "--captions", captions)
    assert code == 1 and len(lines) == 1 and "cannot load the dataset" in lines[0], lines
    code, lines = run("train", source, "--model", "demo:tiny-llava", "--output", tmp_path / "o")
    assert code in (1, 2) and len(lines) == 1 and lines[0].startswith("Error: "), lines


@pytest.mark.parametrize("repo", ["a b/c", "org/", "/x", "a/b/c", "a--b/c", "x" * 100 + "/y", "ok/name.git", "noorg",
                                  "org/na me", "org/..", "-org/x"])
def test_a_bad_repo_id_is_refused_in_one_line_before_any_request(repo):
    from judgefree_hub.errors import PushError
    from judgefree_hub.hub.publish import check_repo_id

    with pytest.raises(PushError) as info:
        check_repo_id(repo)
    assert "\n" not in str(info.value) and f"repo {repo!r} is not a Hub repo id" in str(info.value)
    check_repo_id("org-1/name_2.v3")
