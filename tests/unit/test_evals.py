"""The benchmark registry of `jfhub eval --bench`: ic wraps today's scoring unchanged, chair asks
the IC scorer for CHAIR's COCO vocabulary, every summary says which benchmark and with what,
--compare takes two summaries of one benchmark, and bad input is one `Error:` line."""

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from judgefree_hub import ic
from judgefree_hub.cli import BENCHES, main
from judgefree_hub.evals import BENCHMARKS, EvalOptions, Responses, evaluate, format_compare
from judgefree_hub.ic.score import Element, ImageTruth


def item(id_, *elements):
    return ic.ICItem(ImageTruth(id_, "d", tuple(elements)), Image.new("RGB", (4, 4)), "Describe.")


ITEMS = [item("a", Element("dog", ("puppy",), "object"), Element("ball", (), "object")),
         item("b", Element("cat", (), "object"), Element("sofa", (), "object")),
         item("c", Element("dog", (), "object"), Element("sofa", (), "object"))]
CAPTIONS = {"a": "A puppy with a ball.", "b": "A cat on a sofa next to a dog.", "c": "A dog."}


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    """A build folder name whose items are ITEMS (load_ic patched); its manifest.json pins it."""
    root = tmp_path / "set"
    root.mkdir()
    (root / "manifest.json").write_text("{}")
    monkeypatch.setattr(ic, "load_ic", lambda source, revision=None: list(ITEMS))
    return root


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)), prog_name="jfhub")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr.strip().splitlines()


def test_the_command_line_lists_every_benchmark():
    assert sorted(BENCHES) == BENCHMARKS.names() == ["chair", "ic", "pope"]


def test_ic_is_today_s_scoring_with_its_name_and_settings(dataset, tmp_path):
    caps = write_jsonl(tmp_path / "c.jsonl", [{"id": k, "caption": v} for k, v in CAPTIONS.items()])
    report = evaluate("ic", str(dataset), None, Responses(file=caps), EvalOptions(seed=3))
    scores, summary = ic.score_all(ITEMS, CAPTIONS)
    assert {k: v for k, v in report.summary.items() if k not in ("bench", "meta")} == summary
    assert report.records == [s.to_json() for s in scores]
    meta = report.summary["meta"]
    assert report.summary["bench"] == meta["bench"] == "ic" and meta["vocabulary"] == "extended"
    assert meta["captions"] == str(caps) and meta["model"] is None and meta["seed"] == 3
    assert meta["commit"].startswith("sha256:") and meta["prompt"] == "Describe."
    assert report.table() == ic.format_table(report.summary)
    records, path = report.write(tmp_path / "out")
    assert records.name == "per_image.jsonl" and json.loads(path.read_text()) == report.summary


def test_chair_asks_the_scorer_for_coco_s_vocabulary(dataset, tmp_path, monkeypatch):
    """Written against score_all(items, captions, vocabulary="coco"); the scorer is stood in for."""
    calls = []
    real = ic.score_all

    def fake_score_all(items, captions, vocabulary="extended"):
        calls.append(vocabulary)
        return real(items, captions)

    monkeypatch.setattr(ic, "score_all", fake_score_all)
    caps = write_jsonl(tmp_path / "c.jsonl", [{"id": k, "caption": v} for k, v in CAPTIONS.items()])
    report = evaluate("chair", str(dataset), None, Responses(file=caps))
    assert calls == ["coco"]
    assert report.summary["bench"] == "chair" and report.summary["meta"]["vocabulary"] == "coco"
    table = report.table()
    assert table.splitlines()[1].split() == ["CHAIR-s", f"{report.summary['overall']['chair_s']:.4f}"]
    assert "COCO's 80 categories" in table
    evaluate("ic", str(dataset), None, Responses(file=caps))
    assert calls == ["coco", "extended"]


def test_pope_from_an_answers_file(dataset, tmp_path):
    from judgefree_hub.evals.pope import pope_questions

    questions = pope_questions(ITEMS, seed=5, per_image=1)
    answers = write_jsonl(tmp_path / "a.jsonl", [
        {"question_id": q.id, "answer": "Yes, there is." if q.label == "yes" or q.setting == "popular" else "No."}
        for q in questions])
    report = evaluate("pope", str(dataset), None, Responses(file=answers),
                      EvalOptions(seed=5, pope_per_image=1))
    s = report.summary
    assert s["bench"] == "pope" and s["meta"]["reader"] == "file" and s["meta"]["answers"] == str(answers)
    assert s["meta"]["seed"] == 5 and s["meta"]["options"]["per_image"] == 1
    assert s["settings"]["random"]["accuracy"] == 1.0 and s["settings"]["popular"]["yes_ratio"] == 1.0
    assert s["settings"]["popular"]["precision"] == 0.5 and s["counts"]["questions"] == len(questions)
    assert [r["question_id"] for r in report.records] == [q.id for q in questions]
    assert {r["reader"] for r in report.records} == {"file"}
    table = report.table().splitlines()
    assert table[0].split() == ["setting", "questions", "accuracy", "precision", "recall", "F1", "yes-ratio"]
    assert table[1].split()[:3] == ["random", str(len(questions) // 3), "1.0000"]
    assert "seed 5" in table[-1] and "answers from a file" in table[-1]
    # another seed asks other questions: the file does not answer them
    code, _, lines = run("eval", "--bench", "pope", "--ic", dataset, "--answers", answers, "--seed", "6",
                         "--pope-per-image", "1", "--out", tmp_path / "e")
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"Error: {answers}: no answer for "), lines
    assert not (tmp_path / "e").exists()


def summary(bench, **values):
    if bench == "pope":
        return {"bench": "pope", "settings": {s: {"questions": 10, "accuracy": v, "precision": v, "recall": v,
                                                   "f1": v, "yes_ratio": 0.5} for s, v in values.items()}}
    return {"overall": {"micro": {"precision": 0.5, "recall": 0.5, "f1": 0.5}, "macro": {
        "precision": 0.5, "recall": 0.5, "f1": 0.5}, "chair_i": 0.1, "chair_s": 0.2}, "domains": {},
        **({"bench": bench} if bench != "ic" else {})}


def test_compare_takes_two_summaries_of_one_benchmark(tmp_path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(summary("pope", random=0.5, popular=0.6)))
    b.write_text(json.dumps(summary("pope", random=0.75, adversarial=0.4)))
    code, out, lines = run("eval", "--compare", a, b)
    assert code == 0 and not lines
    rows = {cells[0]: cells[1:] for cells in map(str.split, out.splitlines())}
    assert rows["random.accuracy"] == ["0.5000", "0.7500", "+0.2500"]
    assert rows["popular.f1"] == ["0.6000", "-", "-"] and rows["adversarial.recall"] == ["-", "0.4000", "-"]
    old_ic = tmp_path / "ic.json"  # a summary from before --bench: IC's
    old_ic.write_text(json.dumps(summary("ic")))
    code, out, _ = run("eval", "--compare", old_ic, old_ic)
    assert code == 0 and "micro.precision" in out
    code, _, lines = run("eval", "--compare", a, old_ic)
    assert code == 2 and lines == [f"Error: --compare takes two summaries of one benchmark: {a} is 'pope', "
                                   f"{old_ic} is 'ic'"]
    chair = tmp_path / "chair.json"
    chair.write_text(json.dumps(summary("chair")))
    code, out, _ = run("eval", "--compare", chair, chair)
    assert code == 0 and out.split()[4:8] == ["chair_s", "0.2000", "0.2000", "+0.0000"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"bench": "pope", "overall": {}}))
    code, _, lines = run("eval", "--compare", broken, a)
    assert code == 2 and lines == [f"Error: {broken}: not a summary.json written by jfhub eval (no 'settings' object)"]
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"bench": "mme"}))
    code, _, lines = run("eval", "--compare", unknown, a)
    assert code == 2 and len(lines) == 1 and "unknown benchmark 'mme'" in lines[0]


def test_format_compare_is_the_ic_table():
    rows = ic.compare(summary("ic"), summary("ic"))
    assert format_compare(rows) == ic.format_compare(rows)


@pytest.mark.parametrize("args,words", [
    (["--bench", "pope", "--captions", "{f}"], "--captions is not for --bench pope: it takes --answers FILE"),
    (["--answers", "{f}"], "--answers is not for --bench ic: it takes --captions FILE"),
    (["--bench", "chair", "--answers", "{f}"], "--answers is not for --bench chair"),
    (["--captions", "{f}", "--pope-reader", "text"], "Error: --pope-reader is for --bench pope, not ic"),
    (["--captions", "{f}", "--pope-reader", "text", "--pope-per-image", "2"],
     "--pope-reader and --pope-per-image are for --bench pope"),
    (["--bench", "chair", "--captions", "{f}", "--questions-out", "{f}.q"], "--questions-out is for --bench pope"),
    (["--bench", "pope", "--answers", "{f}", "--pope-counts-revision", "v1"], "give --pope-counts too"),
    (["--bench", "pope", "--questions-out", "{f}.q", "--model", "m"], "--questions-out only writes the questions"),
    (["--bench", "pope", "--questions-out", "{f}.q", "--answers", "{f}", "--pope-reader", "text"],
     "drop --answers, --out, --pope-reader"),
    (["--bench", "pope"], "exactly one of --model MODEL or --answers FILE"),
    (["--bench", "pope", "--model", "m", "--answers", "{f}"], "exactly one of --model MODEL or --answers FILE"),
    (["--bench", "pope", "--answers", "{f}", "--prompt", "Is it there?"], "needs {object}"),
    (["--bench", "mme", "--answers", "{f}"], "Invalid value for '--bench'"),
    (["--bench", "pope", "--answers", "{f}", "--pope-per-image", "0"], "Invalid value for '--pope-per-image'"),
    (["--bench", "pope", "--answers", "{f}", "--pope-reader", "probs"], "Invalid value for '--pope-reader'"),
])
def test_bad_benchmark_input_is_one_line_before_any_work(tmp_path, args, words):
    f = write_jsonl(tmp_path / "f.jsonl", [])
    code, _, lines = run("eval", "--ic", tmp_path / "nothing", *(a.replace("{f}", str(f)) for a in args),
                         "--out", tmp_path / "e")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
    assert not (tmp_path / "e").exists()


def test_pope_on_a_dataset_without_objects_is_one_line(tmp_path, monkeypatch):
    root = tmp_path / "set"
    root.mkdir()
    (root / "manifest.json").write_text("{}")
    monkeypatch.setattr(ic, "load_ic", lambda source, revision=None: [
        item("a", Element("red", (), "attribute")), item("b", Element("stop", (), "text"))])
    answers = write_jsonl(tmp_path / "a.jsonl", [])
    code, _, lines = run("eval", "--bench", "pope", "--ic", root, "--answers", answers, "--out", tmp_path / "e")
    assert code == 1 and lines == ["Error: the IC dataset has no object elements: POPE asks about objects"]
    assert not (tmp_path / "e").exists()


def test_chair_is_the_ic_scorer_in_coco_mode(dataset, tmp_path):
    caps = write_jsonl(tmp_path / "c.jsonl", [{"id": k, "caption": v} for k, v in CAPTIONS.items()])
    report = evaluate("chair", str(dataset), None, Responses(file=caps))
    scores, summary = ic.score_all(ITEMS, CAPTIONS, vocabulary="coco")
    assert {k: v for k, v in report.summary.items() if k not in ("bench", "meta")} == summary
    assert report.records == [s.to_json() for s in scores] and summary["vocabulary"] == "coco"
