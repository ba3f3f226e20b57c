"""`jfhub eval --bench pope` end to end: the IC starter set with the tiny LLaVA (logits reader) and
with answers from a file, compared; and POPE on a small shape-world IC build, where the
adversarial "no" objects are the world's planted co-occurrence partners."""

import json

import pytest
from conftest import ROOT, own_display_only, run_jfhub

pytestmark = pytest.mark.slow
STARTER = ROOT / "recipes" / "ic-starter.json"


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    out = tmp_path_factory.mktemp("ic-out")
    run_jfhub("build", STARTER, "--out", out, "--no-progress")
    return out / "jfhub-ic-starter" / "0.1.0"


def test_pope_with_the_tiny_model_then_from_a_file_and_compared(starter, tmp_path):
    proc = run_jfhub("eval", "--bench", "pope", "--ic", starter, "--model", "demo:tiny-llava",
                     "--pope-per-image", "1", "--out", tmp_path / "tiny")
    own_display_only(proc.stderr, answering=1)  # one bar, over the distinct questions
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    meta = summary["meta"]
    assert summary["bench"] == meta["bench"] == "pope" and meta["reader"] == "logits"
    assert meta["model"] == "demo:tiny-llava" and meta["seed"] == 0 and meta["options"]["per_image"] == 1
    assert meta["commit"].startswith("sha256:") and meta["ic"] == str(starter)
    assert meta["options"]["answer_tokens"]["scoring"] == "whole form"  # the demo BPE has no one-token "Yes"
    records = [json.loads(x) for x in (tmp_path / "tiny" / "per_question.jsonl").read_text().splitlines()]
    assert len(records) == summary["counts"]["questions"] == 3 * 2 * summary["counts"]["images_asked"]
    assert summary["counts"]["images_asked"] == 33
    assert {r["setting"] for r in records} == {"random", "popular", "adversarial"}
    assert all(r["reader"] == "logits" and r["answer"] in ("yes", "no") for r in records)
    distinct = len({(r["image_id"], r["question"]) for r in records})
    assert f"{distinct}/{distinct}" in proc.stderr and "question/s]" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["setting", "questions", "accuracy", "precision", "recall", "F1", "yes-ratio"]
    assert [line.split()[0] for line in lines[1:4]] == ["random", "popular", "adversarial"]
    assert "reader: logits" in proc.stdout and lines[-1].startswith("wrote ")
    # the same questions answered elsewhere: "yes" to every object that is there, "No." to the rest,
    # except in the adversarial setting, where every answer is "Yes"
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": r["question_id"], "answer": (
        "Yes" if r["label"] == "yes" or r["setting"] == "adversarial" else "No.")}) + "\n" for r in records))
    proc = run_jfhub("eval", "--bench", "pope", "--ic", starter, "--answers", answers, "--pope-per-image", "1",
                     "--out", tmp_path / "file")
    assert proc.stderr == ""  # answers from a file: no long step, no display
    by_file = json.loads((tmp_path / "file" / "summary.json").read_text())
    assert by_file["meta"]["reader"] == "file" and by_file["settings"]["random"]["accuracy"] == 1.0
    assert by_file["settings"]["adversarial"]["yes_ratio"] == 1.0
    assert by_file["settings"]["adversarial"]["precision"] == 0.5
    cmp = run_jfhub("eval", "--compare", tmp_path / "tiny" / "summary.json", tmp_path / "file" / "summary.json")
    table = {cells[0]: cells[1:] for cells in map(str.split, cmp.stdout.splitlines()) if cells}
    a = summary["settings"]["random"]["accuracy"]
    assert table["random.accuracy"] == [f"{a:.4f}", "1.0000", f"{round(1 - a, 4):+.4f}"]


def test_adversarial_questions_on_the_shape_world_ask_for_the_planted_partners(tmp_path):
    """A world IC set exported from the train split (where circle<->square and triangle<->star are
    planted) and built like recipes/world-ic.json: POPE asks about shapes, and an image with one
    member of a pair and not the other is asked about the partner in the adversarial setting."""
    from judgefree_hub.evals.pope import pope_questions
    from judgefree_hub.ic import load_ic
    from judgefree_hub.world.export import SYNONYMS, export_ic_set
    from judgefree_hub.world.scene import WorldConfig

    export_ic_set(tmp_path / "world", WorldConfig(seed=0, image_size=32), 48, split="train")
    recipe = json.loads((ROOT / "recipes" / "world-ic.json").read_text())
    recipe["ic"]["manifest"] = "world/manifest.jsonl"
    (tmp_path / "world-ic.json").write_text(json.dumps(recipe))
    run_jfhub("build", tmp_path / "world-ic.json", "--out", tmp_path / "out", "--no-progress")
    items = load_ic(str(tmp_path / "out" / "jfhub-world-ic" / "0.1.0"))
    questions = pope_questions(items, seed=0, per_image=3)
    assert {q.object for q in questions} <= set(SYNONYMS)  # shapes only, never colours or sizes
    partner = {"circle": "square", "square": "circle", "triangle": "star", "star": "triangle"}
    checked = 0
    for it in items:
        shapes = {e.name for e in it.truth.elements if e.kind == "object"}
        asked = [q.object for q in questions if q.image_id == it.truth.id and q.setting == "adversarial"
                 and q.label == "no"]
        for shape in shapes & set(partner):
            if partner[shape] not in shapes and asked:
                assert partner[shape] in asked, (it.truth.id, shapes, asked)
                if len(shapes) == 1:  # one question: the partner itself
                    assert asked == [partner[shape]]
                checked += 1
    assert checked >= 8
