"""POPE on IC annotations: the question sets (seeded, independent of image order, balanced, never
a present object asked as "no", popular = the most frequent, adversarial = the co-occurring, with
the counts from another IC set: the shape world's train split), the two readers (logits against
hand-made scores, on the CPU and on `meta`, and against the tiny models' own forward; text as
POPE's script reads it), the metrics, the answers file and the questions written for it."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from judgefree_hub.errors import SourceError
from judgefree_hub.evals import pope
from judgefree_hub.evals.pope import (
    SETTINGS,
    AnswerTokens,
    Ask,
    index_objects,
    logits_replies,
    parse_answer,
    pope_metrics,
    pope_questions,
    read_answers,
    text_replies,
)
from judgefree_hub.ic import ICItem
from judgefree_hub.ic.score import Element, ImageTruth

META = torch.device("meta")
ROOT = Path(__file__).resolve().parents[2]


def obj(name, *synonyms):
    return Element(name, tuple(synonyms), "object")


def item(id_, *elements):
    return ICItem(ImageTruth(id_, "d", tuple(elements)), Image.new("RGB", (8, 8)), "Describe.")


def scene_items(n=14):
    """Images with 1..4 of 9 objects, drawn by a fixed rule (no randomness in the fixture)."""
    names = ["dog", "cat", "car", "tree", "sky", "boat", "chair", "lamp", "kite"]
    return [item(f"img{i}", *(obj(names[(i * 7 + j * 3) % len(names)]) for j in range(1 + i % 4)))
            for i in range(n)]


def by_image(questions):
    out = {}
    for q in questions:
        out.setdefault((q.image_id, q.setting), []).append(q)
    return out


def test_question_sets_are_seeded_and_independent_of_image_order():
    items = scene_items()
    a = pope_questions(items, seed=1)
    b = pope_questions(list(reversed(items)), seed=1)
    assert {q.id: q for q in a} == {q.id: q for q in b}
    assert len({q.id for q in a}) == len(a)  # ids are unique
    again = pope_questions(items, seed=1)
    assert a == again
    other = pope_questions(items, seed=2)
    random_a = {q.id for q in a if q.setting == "random"}
    assert random_a != {q.id for q in other if q.setting == "random"}
    # popular and adversarial negatives do not depend on the seed
    for setting in ("popular", "adversarial"):
        no = {q.id for q in a if q.setting == setting and q.label == "no"}
        assert no == {q.id for q in other if q.setting == setting and q.label == "no"}


def test_every_image_is_balanced_and_the_yes_questions_are_shared_by_the_settings():
    items = scene_items()
    questions = pope_questions(items, seed=0, per_image=2)
    groups = by_image(questions)
    assert {s for _, s in groups} == set(SETTINGS)
    for (image, _), qs in groups.items():
        labels = Counter(q.label for q in qs)
        assert labels["yes"] == labels["no"] <= 2
        yes = sorted(q.object for q in qs if q.label == "yes")
        assert yes == sorted(q.object for q in groups[(image, "random")] if q.label == "yes")
    assert questions[0].text == f"Is there a {questions[0].object} in the image?"


def test_no_present_object_is_ever_asked_as_no_not_even_by_a_synonym_or_an_owner():
    items = [
        item("a", obj("dog", "puppy"), obj("ball")),
        item("b", obj("puppy"), obj("sofa")),  # the same animal by another name
        item("c", obj("cat"), Element("striped", (), "attribute", "tabby"), obj("plant")),
        item("d", obj("tabby"), obj("lamp"), obj("hound")),  # "hound" names a dog in the vocabulary
        item("e", obj("sofa"), obj("lamp"), obj("plant"), obj("ball")),
        item("f", obj("background"), obj("window")),
    ]
    questions = pope_questions(items, seed=0, per_image=3)
    asked_no = {(q.image_id, q.object) for q in questions if q.label == "no"}
    assert ("a", "puppy") not in asked_no and ("b", "dog") not in asked_no
    assert ("c", "tabby") not in asked_no  # an attribute's `of`
    assert ("d", "dog") not in asked_no and ("d", "puppy") not in asked_no  # hound = dog (vocabulary)
    assert ("a", "hound") not in asked_no
    assert not any(q.object == "background" for q in questions)  # scene filler is never asked
    for q in questions:
        present = {e.name for it in items if it.truth.id == q.image_id for e in it.truth.elements}
        assert (q.object in present) == (q.label == "yes")


def test_an_image_with_few_absent_objects_gets_as_few_yes_questions():
    items = [item("full", obj("a"), obj("b"), obj("c"), obj("d")), item("other", obj("e"), obj("a"))]
    questions = by_image(pope_questions(items, per_image=3))
    for setting in SETTINGS:
        full = questions[("full", setting)]
        assert [q.label for q in full] == ["yes", "no"] and full[1].object == "e"


def test_popular_takes_the_most_frequent_absent_objects_in_order():
    counts = {"sky": 6, "tree": 5, "car": 4, "dog": 3, "kite": 2, "boat": 1}
    items = [item(f"{name}{k}", obj(name)) for name, c in counts.items() for k in range(c)]
    items.append(item("probe", obj("tree"), obj("boat"), obj("owl")))
    index = index_objects(items)
    assert index.frequency["sky"] == 6 and index.frequency["tree"] == 6  # the probe has a tree too
    probe = by_image(pope_questions(items, per_image=3))[("probe", "popular")]
    assert [q.object for q in probe if q.label == "no"] == ["sky", "car", "dog"]


def test_adversarial_takes_the_objects_that_co_occur_with_the_image_s_objects():
    """B only ever appears with A; C and D are more frequent than B but never meet A."""
    items = [item(f"ab{i}", obj("apple"), obj("bowl")) for i in range(3)]
    items += [item(f"cd{i}", obj("cup"), obj("desk")) for i in range(4)] + [item("d", obj("desk"))]
    items += [item("probe", obj("apple"))]
    questions = by_image(pope_questions(items, seed=0, per_image=1))
    assert [(q.label, q.object) for q in questions[("probe", "adversarial")]] == [("yes", "apple"), ("no", "bowl")]
    assert [q.object for q in questions[("probe", "popular")] if q.label == "no"] == ["desk"]
    index = index_objects(items)
    assert index.cooccur[("apple", "bowl")] == 3 and ("apple", "cup") not in index.cooccur


def test_a_dataset_without_objects_or_a_bad_template_is_refused():
    items = [item("a", Element("red", (), "attribute")), item("b", Element("3", (), "count"))]
    with pytest.raises(SourceError, match="no object elements"):
        pope_questions(items)
    with pytest.raises(SourceError, match="no POPE question can be asked"):
        pope_questions([item("a", obj("dog")), item("b", obj("dog"))])
    with pytest.raises(ValueError, match="needs {object}"):
        pope_questions(scene_items(), template="Is it there?")
    q = pope_questions(scene_items(), template="Do you see a {object}? Answer yes or no.")[0]
    assert q.text == f"Do you see a {q.object}? Answer yes or no."


@pytest.mark.parametrize("text,want", [
    ("Yes, there is.", "yes"), ("No.", "no"), ("There is not a dog.", "no"), ("I think so", "yes"),
    ("NO", "yes"),  # POPE's script looks for "No", "no" and "not" only, case-sensitively
    ("no", "no"), ("No, there is no dog in the image.", "no"), ("Yes. But not a big one.", "yes"),
    ("Nope", "yes"), ("", "yes"), ("There is a dog. It is not brown.", "yes"),
])
def test_text_answers_are_read_as_pope_s_script_reads_them(text, want):
    assert parse_answer(text) == want


def test_metrics_on_a_hand_made_confusion_matrix():
    labels = ["yes"] * 5 + ["no"] * 5
    answers = ["yes", "yes", "yes", "no", "no"] + ["yes", "no", "no", "no", "no"]  # tp 3, fn 2, fp 1, tn 4
    m = pope_metrics(labels, answers)
    assert (m["tp"], m["fn"], m["fp"], m["tn"], m["questions"]) == (3, 2, 1, 4, 10)
    assert m["accuracy"] == 0.7 and m["precision"] == 0.75 and m["recall"] == 0.6
    assert m["f1"] == round(2 * 0.75 * 0.6 / 1.35, 4) and m["yes_ratio"] == 0.4
    never_yes = pope_metrics(["yes", "no"], ["no", "no"])
    assert never_yes["precision"] is None and never_yes["f1"] is None and never_yes["recall"] == 0.0


def test_an_answers_file_names_its_bad_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"question_id": "x:random:dog", "answer": "No."}\n\n{"question_id": "y"}\n')
    with pytest.raises(SourceError, match=r"a\.jsonl:3: each line needs string fields 'question_id' and 'answer'"):
        read_answers(p)
    p.write_text('{"question_id": "x:random:dog", "answer": "No."}\n')
    assert read_answers(p) == {"x:random:dog": "No."}


# -- the logits reader against hand-made scores ------------------------------------------

class Tokenizer:
    def __init__(self, table):
        self.table = table

    def encode(self, text, add_special_tokens=False):
        return list(self.table[text])


ONE_TOKEN = {"Yes": [1], "yes": [2], " Yes": [3], " yes": [4], "YES": [5, 6],
             "No": [7], "no": [8], " No": [9], " no": [10], "NO": [11, 12]}
# no one-token yes: every form is scored whole (a two-token "Ye"+"s" and the one-token no's)
WHOLE = {"Yes": [1, 2], "yes": [1, 2], " Yes": [3, 2], " yes": [3, 2], "YES": [1, 2],
         "No": [7], "no": [8], " No": [7], " no": [8], "NO": [7]}
V = 13


class FakeModel:
    """A StepModel that returns chosen scores: `first[r]` at prefill, `then[t][r]` at step t."""

    def __init__(self, table, first, then=(), device="cpu"):
        self.tokenizer = Tokenizer(table)
        self.first, self.then, self.device = first, list(then), torch.device(device)
        self.rows, self.fed = [], []

    def prefill(self, rows, max_new_tokens):
        self.rows.append(len(rows))
        return torch.as_tensor(self.first, dtype=torch.float32).to(self.device)

    def step(self, tokens):
        assert tokens.device == self.device
        self.fed.append(tokens)
        return torch.as_tensor(self.then[len(self.fed) - 1], dtype=torch.float32).to(self.device)


def scores_row(**at):
    row = [0.0] * V
    for token, value in at.items():
        row[int(token[1:])] = value
    return row


def test_one_token_forms_compare_their_best_scores():
    tokens = AnswerTokens.of(Tokenizer(ONE_TOKEN))
    assert tokens.single and tokens.yes == ((1,), (2,), (3,), (4,)) and tokens.no == ((7,), (8,), (9,), (10,))
    first = [scores_row(t2=5.0, t8=4.0, t5=9.0),  # "yes" wins; the two-token YES (5, 6) is not read
             scores_row(t3=2.0, t10=2.5),
             scores_row(t1=3.0, t7=3.0)]  # a tie is no
    model = FakeModel(ONE_TOKEN, first)
    asks = [Ask(f"q{i}", Image.new("RGB", (2, 2))) for i in range(3)]
    replies = logits_replies(model, asks, batch_size=8)
    assert [r.answer for r in replies] == ["yes", "no", "no"] and model.rows == [3]
    lp = torch.tensor(first).log_softmax(-1)
    assert math.isclose(replies[0].yes_logprob, lp[0, 2].item(), abs_tol=1e-5)
    assert math.isclose(replies[0].no_logprob, lp[0, 8].item(), abs_tol=1e-5)


def test_whole_forms_are_scored_token_after_token():
    tokens = AnswerTokens.of(Tokenizer(WHOLE))
    assert not tokens.single and tokens.yes == ((1, 2), (3, 2)) and tokens.no == ((7,), (8,))
    # one question; its rows: one per form, in order (1,2), (3,2), (7,), (8,)
    first = [scores_row(t1=2.0, t3=1.0, t7=1.5, t8=0.0)] * 4
    then = [[scores_row(t2=4.0), scores_row(t2=0.0), scores_row(), scores_row()]]
    model = FakeModel(WHOLE, first, then)
    (reply,) = logits_replies(model, [Ask("q", Image.new("RGB", (2, 2)))], batch_size=4, tokens=tokens)
    assert model.rows == [4] and model.fed[0].tolist() == [1, 3, 7, 8]  # each row fed its form's first token
    lp0, lp1 = torch.tensor(first[0]).log_softmax(-1), torch.tensor(then[0][0]).log_softmax(-1)
    yes = lp0[1] + lp1[2]  # "Ye" then "s"; the (3, 2) form scores less
    assert math.isclose(reply.yes_logprob, yes.item(), abs_tol=1e-5)
    assert math.isclose(reply.no_logprob, lp0[7].item(), abs_tol=1e-5)
    assert reply.answer == ("yes" if yes > lp0[7] else "no") == "yes"


@pytest.mark.parametrize("table", [ONE_TOKEN, WHOLE])
def test_the_logits_reader_makes_every_tensor_on_the_logits_device(monkeypatch, table):
    """On `meta`, a tensor made on the CPU and mixed in fails as on CUDA; host values are faked."""
    tokens = AnswerTokens.of(Tokenizer(table))
    rows = 2 * (1 if tokens.single else len(tokens.yes) + len(tokens.no))
    first = torch.zeros(rows, V)
    then = [torch.zeros(rows, V)] * 3
    model = FakeModel(table, first, then, device="meta")
    seen = []

    def fake_host(scores):
        assert scores.device == META and scores.shape == (2, 2)
        seen.append(scores.shape)
        return [[-1.0, -2.0], [-3.0, -0.5]]

    monkeypatch.setattr(pope, "host_scores", fake_host)
    replies = logits_replies(model, [Ask("a", None), Ask("b", None)], batch_size=8, tokens=tokens)
    assert [r.answer for r in replies] == ["yes", "no"] and seen
    assert all(t.device == META for t in model.fed)


# -- the readers on the tiny models ------------------------------------------------------

def own_forward_scores(backend, text, image, tokens):
    """(best yes, best no) log-probabilities from the model's own forward over prompt + form."""
    from judgefree_hub.backends import Branch

    batch = backend.encode([Branch(text, image)])
    rest = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    best = []
    for side in (tokens.yes, tokens.no):
        totals = []
        for form in side:
            more = torch.tensor([form[:-1]], dtype=torch.long)
            ids = torch.cat([batch["input_ids"], more], dim=1)
            # per-token inputs (Qwen's mm_token_type_ids) go on: the form's tokens are text (0)
            per_token = {k: torch.cat([v, torch.zeros_like(more)], dim=1) for k, v in rest.items()
                         if v.dim() == 2 and v.shape == batch["input_ids"].shape}
            with torch.no_grad():
                out = backend.model(input_ids=ids, attention_mask=torch.ones_like(ids), **{**rest, **per_token})
            start = batch["input_ids"].shape[1] - 1
            lp = out.logits[0, start:start + len(form)].float().log_softmax(-1)
            totals.append(sum(lp[i, t].item() for i, t in enumerate(form)))
        best.append(max(totals))
    return best


def check_against_own_forward(backend, photos, tokens=None):
    tokens = tokens or AnswerTokens.of(backend.tokenizer)
    asks = [Ask(f"Is there a {name} in the image?", image) for name, (_, image) in
            zip(["dog", "cat", "rocket"], photos[:3], strict=True)]
    replies = logits_replies(backend, asks, batch_size=2, tokens=tokens)  # two batches, one padded row
    for ask, reply in zip(asks, replies, strict=True):
        yes, no = own_forward_scores(backend, ask.text, ask.image, tokens)
        assert math.isclose(reply.yes_logprob, yes, abs_tol=2e-4), (reply, yes)
        assert math.isclose(reply.no_logprob, no, abs_tol=2e-4), (reply, no)
        assert reply.answer == ("yes" if yes > no else "no")
    assert logits_replies(backend, asks, batch_size=2, tokens=tokens) == replies  # deterministic
    other = logits_replies(backend, asks, batch_size=3, tokens=tokens)  # other batches: other padding
    assert [r.answer for r in other] == [r.answer for r in replies]
    assert all(math.isclose(a.yes_logprob, b.yes_logprob, abs_tol=1e-4) for a, b in zip(other, replies, strict=True))
    return replies


def test_the_logits_reader_equals_the_tiny_llava_s_own_forward(tiny_backend, photos):
    assert not AnswerTokens.of(tiny_backend.tokenizer).single  # its small BPE writes "Yes" in two tokens
    check_against_own_forward(tiny_backend, photos)
    # the one-forward path of a tokenizer with one-token forms, here two of its one-token words
    one = [tuple(tiny_backend.tokenizer.encode(w, add_special_tokens=False)) for w in (" No", " no", "No")]
    assert all(len(t) == 1 for t in one)
    check_against_own_forward(tiny_backend, photos, AnswerTokens(yes=(one[0], one[1]), no=(one[2],)))


def test_the_logits_reader_equals_the_tiny_qwen_s_own_forward(photos):
    from judgefree_hub.backends import load_backend
    from judgefree_hub.recipe import GenerationSpec, ModelSpec

    gen = GenerationSpec(max_new_tokens=8, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    backend = load_backend(ModelSpec(id="demo:tiny-qwen2.5-vl", revision=None, dtype="float32", device="cpu",
                                     batch_size=4, generation=gen))
    assert backend.name == "qwen2_vl"
    check_against_own_forward(backend, photos)


def test_the_text_reader_reads_the_model_s_own_greedy_answer(tiny_backend, photos):
    from judgefree_hub.backends import Branch

    asks = [Ask(f"Is there a {name} in the image?", image) for name, (_, image) in zip(["dog", "cup"], photos[:2], strict=True)]
    replies = text_replies(tiny_backend, asks, batch_size=2, max_new_tokens=8)
    for ask, reply in zip(asks, replies, strict=True):
        assert reply.text == tiny_backend.reference_text(Branch(ask.text, ask.image), 8)
        assert reply.answer == parse_answer(reply.text)


def test_question_records_carry_the_answer_file_id():
    q = pope_questions(scene_items())[0]
    record = q.to_json()
    assert record["question_id"] == q.id == f"{q.image_id}:{q.setting}:{q.object}"
    assert set(record) == {"question_id", "image_id", "setting", "object", "question", "label"}
    assert json.loads(json.dumps(record)) == record


# -- counts from another IC set (--pope-counts), and questions to answer elsewhere -----------

PARTNER = {"circle": "square", "square": "circle", "triangle": "star", "star": "triangle"}


def world_ic_build(out, n, split):
    """World scenes 0..n-1 of `split`, built with the IC builder as recipes/world-ic.json builds them."""
    from judgefree_hub.builders import BUILDERS

    from judgefree_hub.recipe import recipe_from_dict
    from judgefree_hub.world import WorldConfig, export_ic_set

    export_ic_set(out / split, WorldConfig(seed=0, image_size=32), n, split=split)
    raw = json.loads((ROOT / "recipes" / "world-ic.json").read_text())
    raw["ic"]["manifest"] = f"{split}/manifest.jsonl"
    return BUILDERS.get("ic")(recipe_from_dict(raw, out, "world-ic"), out / f"ic-{split}", show_progress=False).root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(eval build, train build): 60 unbiased eval scenes; 200 train scenes with the planted pairs."""
    out = tmp_path_factory.mktemp("world")
    return world_ic_build(out, 60, "eval"), world_ic_build(out, 200, "train")


def partner_misses(items, questions):
    """(image, shape) where the image holds one member of a planted pair, not its partner, and
    was asked adversarial "no" questions but not about the partner; and how many were checked."""
    misses, checked = [], 0
    for it in items:
        shapes = {e.name for e in it.truth.elements if e.kind == "object"}
        asked = [q.object for q in questions if q.image_id == it.truth.id and q.setting == "adversarial"
                 and q.label == "no"]
        for shape in sorted(shapes & set(PARTNER)):
            if PARTNER[shape] not in shapes and asked:
                checked += 1
                if PARTNER[shape] not in asked:
                    misses.append((it.truth.id, shape, asked))
    return misses, checked


def test_adversarial_with_training_counts_asks_for_the_planted_partner(world):
    """On the unbiased eval split, counts of the eval set itself do not know the planted pairs;
    counts of the train split do: every image with one member of a pair is asked about the other."""
    from judgefree_hub.ic import load_ic

    eval_items, train_items = (load_ic(str(root)) for root in world)
    with_counts = pope_questions(eval_items, seed=0, counts=train_items)
    misses, checked = partner_misses(eval_items, with_counts)
    assert checked >= 30 and misses == [], misses
    own_misses, _ = partner_misses(eval_items, pope_questions(eval_items, seed=0))
    assert own_misses  # the option is what makes the adversarial setting ask the partners
    # presence still comes from the evaluated set: the "yes" questions and random draws are unchanged
    own = pope_questions(eval_items, seed=0)
    assert [q for q in with_counts if q.setting == "random" or q.label == "yes"] == \
        [q for q in own if q.setting == "random" or q.label == "yes"]


def test_popular_with_training_counts_takes_their_most_frequent_absent_shapes(world):
    from judgefree_hub.ic import load_ic

    eval_items, train_items = (load_ic(str(root)) for root in world)
    train_frequency = Counter(s for it in train_items for s in {e.name for e in it.truth.elements
                                                                 if e.kind == "object"})
    index = index_objects(eval_items, counts=train_items)
    assert index.frequency == dict(train_frequency)
    assert index.frequency != index_objects(eval_items).frequency
    groups = by_image(pope_questions(eval_items, seed=0, counts=train_items))
    for it in eval_items:
        asked = groups.get((it.truth.id, "popular"), [])
        no = [q.object for q in asked if q.label == "no"]
        want = sorted(index.absent(it.truth.id), key=lambda k: (-train_frequency[k], k))[:len(no)]
        assert no == want, (it.truth.id, no, want)


def test_counts_map_onto_the_evaluated_objects_by_name_or_form():
    """A counts object is the evaluated object of the same key or the one sharing a form (puppy ->
    dog); objects only the counts set has are never asked; evaluated objects it lacks count 0."""
    items = [item("a", obj("dog", "puppy"), obj("ball")), item("b", obj("cat"), obj("sofa")),
             item("c", obj("sofa"))]
    counts = [item("x", obj("puppy"), obj("sofa")), item("y", obj("puppies"), obj("zebra")),
              item("z", obj("balls"))]
    index = index_objects(items, counts)
    assert index.frequency == {"dog": 2, "sofa": 1, "ball": 1, "cat": 0}
    assert index.cooccur == {("dog", "sofa"): 1, ("sofa", "dog"): 1}
    questions = pope_questions(items, seed=0, per_image=1, counts=counts)
    assert "zebra" not in {q.object for q in questions}
    assert [q.object for q in by_image(questions)[("b", "adversarial")] if q.label == "no"] == ["dog"]


def cli(*args):
    from click.testing import CliRunner

    from judgefree_hub.cli import main

    result = CliRunner().invoke(main, list(map(str, args)), prog_name="jfhub")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr.strip().splitlines()


def test_questions_out_then_answers_round_trip_with_counts_recorded(world, tmp_path):
    """--questions-out writes exactly the ids --answers scoring expects (with --pope-counts too),
    without labels; all "yes" scores a yes-ratio of 1; the meta names the counts set."""
    from judgefree_hub.evals import dataset_commit

    eval_ic, train_ic = map(str, world)
    questions = tmp_path / "q" / "questions.jsonl"
    code, out, err = cli("eval", "--bench", "pope", "--ic", eval_ic, "--pope-counts", train_ic,
                         "--questions-out", questions)
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    assert code == 0 and not err and out.splitlines() == [f"wrote {len(rows)} POPE questions to {questions}"]
    assert all(set(r) == {"question_id", "image_id", "setting", "object", "question"} for r in rows)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": r["question_id"], "answer": "Yes"}) + "\n" for r in rows))
    code, out, err = cli("eval", "--bench", "pope", "--ic", eval_ic, "--pope-counts", train_ic, "--answers", answers,
                         "--out", tmp_path / "e")
    assert code == 0, err
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    scored = [json.loads(line)["question_id"] for line in (tmp_path / "e" / "per_question.jsonl").read_text().splitlines()]
    assert scored == [r["question_id"] for r in rows]
    assert all(v["yes_ratio"] == 1.0 for v in summary["settings"].values()) and len(summary["settings"]) == 3
    assert summary["meta"]["counts_source"] == {"ic": train_ic, "revision": None, "commit": dataset_commit(train_ic, None)}
    assert summary["meta"]["counts_source"]["commit"].startswith("sha256:")
    assert f"popular and adversarial counted on {train_ic}" in out
    # counted on the evaluated set itself, the adversarial questions differ: the file misses some
    code, _, err = cli("eval", "--bench", "pope", "--ic", eval_ic, "--answers", answers, "--out", tmp_path / "own")
    assert code == 1 and len(err) == 1 and "no answer for" in err[0], err


def test_pope_counts_is_refused_for_other_benches_in_one_line(tmp_path):
    captions = tmp_path / "c.jsonl"
    captions.write_text("")
    code, _, err = cli("eval", "--bench", "ic", "--ic", tmp_path, "--captions", captions, "--pope-counts", tmp_path)
    assert code == 2 and err == ["Error: --pope-counts is for --bench pope, not ic"]
    code, _, err = cli("eval", "--bench", "pope", "--questions-out", tmp_path / "q.jsonl")
    assert code == 2 and err == ["Error: --questions-out needs --ic DATASET: the questions are about its images"]
