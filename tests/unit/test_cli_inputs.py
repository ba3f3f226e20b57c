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
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), lines


def bad_repo_ids() -> list[str]:
    """Ids the Hub refuses, made from a good one by every kind of damage."""
    good_org, good_name = "org-1", "name_2.v3"
    ids = ["", "noorg", "/", "org/", "/name", "a/b/c", "org//name", "org/name/", f"{'x' * 97}/y", f"x/{'y' * 97}"]
    ids += [f"{good_org}/{good_name}{end}" for end in (".git", "-", ".", " ")]
    ids += [f"{start}{good_org}/{good_name}" for start in ("-", ".", "_", " ")]
    ids += [f"{good_org}/{start}{good_name}" for start in ("-", ".", "_")]
    ids += [f"{good_org}/na{twin}me" for twin in ("--", "..")] + [f"o{twin}rg/{good_name}" for twin in ("--", "..")]
    for c in " \t!@#$%^&*()+=[]{}|\\:;'\",<>?`~\u00e9\u4e2d":
        ids += [f"{good_org}/na{c}me", f"o{c}rg/{good_name}"]
    return ids


@pytest.mark.parametrize("repo", bad_repo_ids())
def test_a_bad_repo_id_is_refused_in_one_line_before_any_request(repo):
    from judgefree_hub.errors import PushError
    from judgefree_hub.hub import check_repo_id

    with pytest.raises(PushError) as info:
        check_repo_id(repo)
    assert "\n" not in str(info.value) and f"repo {repo!r} is not a Hub repo id" in str(info.value)
    check_repo_id("org-1/name_2.v3")


@pytest.mark.parametrize("command", ["push", "build --push", "train --push-to"])
@pytest.mark.parametrize("repo", [r for r in bad_repo_ids() if r][::3])
def test_a_bad_repo_id_on_the_command_line_is_a_usage_error_before_any_work(tmp_path, command, repo):
    args = {"push": ["push", tmp_path, "--repo", repo],
            "build --push": ["build", "recipes/smoke.json", "--out", tmp_path / "out", "--push", "--repo", repo],
            "train --push-to": ["train", tmp_path, "--model", "demo:tiny-llava", "--output", tmp_path / "o",
                                "--push-to", repo]}[command]
    code, lines = run(*args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    schema_says = f"Hub repo id such as org/name, got {json.dumps(repo)}"  # train.json's push_to pattern
    assert f"repo {repo!r} is not a Hub repo id" in lines[0] or schema_says in lines[0], lines
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def fake_build(root, rows: list[dict], builder=None):
    """A build folder as jfhub writes one, made by hand: one shard of `rows` (each a json member and a
    png), manifest.json with the row count and, when `builder` is given, a recipe.json naming it."""
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    members = [{"__key__": f"k{i}", "png": png.getvalue(), "json": json.dumps(r).encode()} for i, r in enumerate(rows)]
    ShardStore(root).write(0, members, 0, len(rows), {})
    (root / "manifest.json").write_text(json.dumps({"name": "x", "version": "0.1.0", "rows": len(rows), "shards": []}))
    if builder:
        (root / "recipe.json").write_text(json.dumps({"builder": builder}))
    return root


PAIR = {"prompt": "p", "chosen": "a", "rejected": "b"}
IC_ROW = {"id": "i0", "domain": "d", "elements": [{"name": "cat", "kind": "object"}]}
# (rows, builder written in recipe.json) -> what train and eval must say: (exit code, words)
DATASETS = {
    "empty preference build": ([], "preference", (2, "the build has no pairs"), (1, "not an IC dataset")),
    "empty build, no recipe": ([], None, (2, "the build has no pairs"), (1, "the IC dataset has no images")),
    "empty IC build": ([], "ic", (2, "the build has no pairs"), (1, "the IC dataset has no images")),
    "preference build": ([PAIR] * 3, "preference", None, (1, "not an IC dataset: a 'preference' build")),
    "preference rows, no recipe": ([PAIR] * 3, None, None, (1, "not an IC dataset: its rows have no")),
    "IC build": ([IC_ROW] * 3, "ic", (2, "not a preference dataset (an IC set?)"), None),
    "IC rows, no recipe": ([IC_ROW] * 3, None, (2, "not a preference dataset (an IC set?)"), None),
    "half a pair": ([{"prompt": "p", "chosen": "a"}] * 2, None, (2, "json has no 'rejected'"), None),
}


@pytest.mark.parametrize("name", [n for n, case in DATASETS.items() if case[2]])
def test_train_on_an_empty_or_wrong_kind_of_build_is_one_line(tmp_path, name):
    rows, builder, (want_code, words), _ = DATASETS[name]
    root = fake_build(tmp_path / "build", rows, builder)
    code, lines = run("train", root, "--model", "demo:tiny-llava", "--output", tmp_path / "o")
    assert code == want_code and len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", [n for n, case in DATASETS.items() if case[3]])
def test_eval_on_an_empty_or_wrong_kind_of_build_is_one_line(tmp_path, name):
    rows, builder, _, (want_code, words) = DATASETS[name]
    root = fake_build(tmp_path / "build", rows, builder)
    captions = tmp_path / "c.jsonl"
    captions.write_text('{"id": "i0", "caption": "a cat"}\n')
    code, lines = run("eval", "--ic", root, "--captions", captions, "--out", tmp_path / "e")
    assert code == want_code and len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
    assert not (tmp_path / "e").exists()


def missing_sources(tmp_path) -> list[str]:
    """Datasets that are not there, of each kind: paths (absolute, relative, a file, an empty folder,
    a folder with no build) and Hub ids (the session is offline, as a machine without network)."""
    (tmp_path / "file.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.xyz").write_bytes(b"\x00\x01")
    return [str(tmp_path / "no" / "such"), "./no/such/folder", "no/such/folder/deep", str(tmp_path / "file.json"),
            str(tmp_path / "empty"), str(tmp_path / "other"), "no-such-org/no-such-set", "a b/c", "org/"]


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("which", range(9))
def test_a_dataset_that_is_not_there_is_one_line(tmp_path, command, which):
    source = missing_sources(tmp_path)[which]
    captions = tmp_path / "c.jsonl"
    captions.write_text("")
    args = (["train", source, "--model", "demo:tiny-llava", "--output", tmp_path / "o"] if command == "train" else
            ["eval", "--ic", source, "--captions", captions, "--out", tmp_path / "e"])
    code, lines = run(*args)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"Error: {source}"), lines
    assert not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


TRAIN_NUMBERS = {"--batch-size": ["0", "-3"], "--grad-accum": ["0", "-1"], "--max-steps": ["0", "-2"],
                 "--lr": ["0", "-1e-5", "nan", "inf", "-inf"], "--beta": ["0", "-0.1", "nan", "inf"],
                 "--epochs": ["0", "-1", "nan", "inf"]}


@pytest.mark.parametrize("option,value", [(o, v) for o, values in TRAIN_NUMBERS.items() for v in values + ["x", ""]])
def test_a_train_number_out_of_range_is_one_line_before_any_work(tmp_path, option, value):
    code, lines = run("train", tmp_path, "--model", "demo:tiny-llava", "--output", tmp_path / "o", option, value)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert option in lines[0] or "$.dpo." in lines[0], lines
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content", ["not json", "[1, 2]", "", "{", '{"dpo": {"beta": -1}}', '{"no_such_key": 1}',
                                     '{"dpo": {"max_steps": 0}}', "\ufeff{\"dpo\": 3}", None, "dir"])
def test_a_bad_train_config_is_one_line_per_problem(tmp_path, content):
    config = tmp_path / "train.json"
    if content == "dir":
        config.mkdir()
    elif content is not None:
        config.write_text(content)
    code, lines = run("train", tmp_path, "--model", "demo:tiny-llava", "--output", tmp_path / "o", "--config", config)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and "train.json" in lines[0], lines


@pytest.mark.parametrize("a,b", [("missing", "good"), ("good", "missing"), ("dir", "good"), ("good", "dir")])
def test_compare_needs_two_existing_files(tmp_path, a, b):
    (tmp_path / "good").write_text("{}")
    (tmp_path / "dir").mkdir()
    code, lines = run("eval", "--compare", tmp_path / a, tmp_path / b)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: Invalid value for '--compare'"), lines


@pytest.mark.parametrize("env,want", [
    ({"RANK": "x", "WORLD_SIZE": "2"}, "Error: environment variable RANK='x': expected a non-negative integer"),
    ({"RANK": "4", "WORLD_SIZE": "2"}, "Error: environment: RANK=4 is not below WORLD_SIZE=2"),
    ({"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "", "MASTER_PORT": ""},
     "Error: 2 processes but no MASTER_ADDR or MASTER_PORT in the environment: start the build with torchrun"),
])
def test_a_bad_launch_environment_is_one_line_before_any_work(tmp_path, monkeypatch, env, want):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, lines = run("build", "recipes/smoke.json", "--out", tmp_path / "out", "--no-progress")
    assert code == 1 and len(lines) == 1 and lines[0].startswith(want), lines
    assert not (tmp_path / "out").exists()
