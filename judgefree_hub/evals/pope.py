"""POPE (Li et al. 2023, "Evaluating Object Hallucination in Large Vision-Language Models") on
any IC dataset: yes/no questions about objects that are in the image and objects that are not.

**Questions** come from the dataset's own annotations (elements of kind "object": name and
synonyms). Per image, up to k present objects (k = 3 as in POPE) are asked as "yes" questions
and as many absent ones as "no" questions, in three settings that differ only in the absent
ones: `random` (uniform among the dataset's objects absent from the image), `popular` (the
dataset's most frequent objects, absent from the image, most frequent first) and `adversarial`
(absent objects that co-occur most often with the image's objects; ties by frequency, then
name). Frequency and co-occurrence are counted on the evaluated set's own annotations, or, with
`--pope-counts IC`, on another IC dataset's (e.g. the model's training data: the co-occurrences
a model may have learnt need not hold in an unbiased evaluation set). Presence and absence per
image always come from the evaluated set; an object of the counts set counts for the evaluated
object of the same key (else for the first that shares a form with it), and an evaluated object
the counts set lacks counts 0. The summary's meta names the counts set, revision and commit
(`counts_source`, null for the evaluated set itself). An image with fewer absent candidates
than present objects gets fewer "yes" questions too, so every image is balanced. The "yes"
objects of an image are drawn from (seed, "present", image id) and are the same in all three
settings (as in POPE); the random "no" objects from (seed, "random", image id): deterministic
per seed and independent of the images' order. An object counts as in the image when any of
its forms (its names and synonyms across the dataset, and the vocabulary object they name) is a
form of one of the image's objects, or the object an attribute or count is `of`: so no object
that is in the image is ever asked as "no" (a doubtful one is not asked at all). Scene filler
("background") is never asked. The question is POPE's literal template, "Is there a {object}
in the image?" ("a" also before a vowel, as POPE writes it); `--prompt` replaces it.
`--questions-out FILE` writes the questions without labels ({question_id, image_id, setting,
object, question}) to be answered elsewhere and scored with `--answers`.

**Answers**, by one of two readers of a model, or from a file:
- `logits`: the next-token scores after the chat prompt with the image. Yes wins when the best
  of the tokenizer's one-token forms of yes (Yes, yes, " Yes", " yes", YES) scores above the
  best of no's. One forward per question, batched, deterministic. A tokenizer that writes yes
  or no only in several tokens (the demo models' small BPE) has each form scored by its whole
  log-probability, token after token (the same comparison for one-token forms).
- `text`: greedy short answers through the backend's decoding, read as POPE's evaluation script
  reads them: the first sentence (up to the first "."), commas dropped, split on spaces; "no",
  "not" or "No" among the words is no, anything else yes ("NO" alone is yes there, as in POPE).
- a file of answers made elsewhere (`--answers`, {question_id, answer} per line), read the same.

**Metrics** per setting, as POPE reports them: accuracy, precision, recall and F1 with "yes" as
the positive class, the yes-ratio, and the number of questions (and the confusion counts).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, Protocol, Sequence

from ..errors import ModelLoadError, SourceError
from .base import (
    BENCHMARKS,
    Benchmark,
    BenchResult,
    CompareRow,
    EvalOptions,
    Responses,
    cell,
    delta_rows,
    grid,
    rnd,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ..backends import Branch
    from ..ic import Element, ICItem

SETTINGS = ("random", "popular", "adversarial")
TEMPLATE = "Is there a {object} in the image?"
PER_IMAGE = 3
READERS = ("logits", "text")
YES_FORMS = ("Yes", "yes", " Yes", " yes", "YES")
NO_FORMS = ("No", "no", " No", " no", "NO")
TEXT_TOKENS = 8
METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


# -- questions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    """One POPE question; `id` is "<image id>:<setting>:<object>", stable across runs."""

    id: str
    image_id: str
    setting: str
    object: str
    text: str
    label: str

    def to_json(self, label: bool = True) -> dict:
        """As a line of per_question.jsonl: question_id (the id --answers files use), image_id,
        setting, object, question (the text) and label; without the label for --questions-out
        (questions to answer elsewhere must not carry their answer)."""
        out = asdict(self)
        if not label:
            del out["label"]
        return {"question_id": out.pop("id"), "question": out.pop("text"), **out}


def object_key(name: str) -> str:
    """An object name as compared: its lower-case words, each made singular by the rules."""
    from ..ic.vocab import singular, words

    return " ".join(singular(w) for w in words(name))


@dataclass(frozen=True)
class ObjectIndex:
    """A dataset's objects as POPE samples them, keyed by `object_key` of their names."""

    names: Mapping[str, str]
    """key -> the name a "no" question uses (the dataset's most frequent spelling)."""
    present: Mapping[str, Mapping[str, str]]
    """image id -> {key: the image's own name}, in annotation order."""
    forms: Mapping[str, frozenset[str]]
    """key -> every form of the object (names and synonyms across the dataset, as keys, and the
    vocabulary objects they name)."""
    blocked: Mapping[str, frozenset[str]]
    """image id -> every form of every object in the image (and of what its elements are `of`)."""
    frequency: Mapping[str, int]
    """key -> number of images the object is annotated in (of the counts set, when given: 0 for
    an object it lacks)."""
    cooccur: Mapping[tuple[str, str], int]
    """(a, b) -> number of images annotated with both (symmetric; of the counts set, when given)."""

    def absent(self, image_id: str) -> list[str]:
        """Keys of the dataset's objects that are surely not in the image, sorted."""
        present, blocked = self.present[image_id], self.blocked[image_id]
        return [k for k in sorted(self.names) if k not in present and not self.forms[k] & blocked]


def index_objects(items: Sequence["ICItem"], counts: Optional[Sequence["ICItem"]] = None) -> ObjectIndex:
    """Index the objects of a dataset's annotations; frequency and co-occurrence counted on
    `counts` when given, else on `items` (see the module docstring)."""
    from ..ic.evaluate import NOT_OBJECT_WORDS, dataset_vocabulary
    from ..ic.vocab import load_vocabulary

    vocab = load_vocabulary(dataset_vocabulary(items))

    def keys(form: str) -> set[str]:
        out = {object_key(form)}
        obj = vocab.canonical(form)
        return out | {obj} if obj else out

    def objects(it: "ICItem") -> Iterator[tuple[str, "Element"]]:
        """(key, element) of each object element POPE may ask about."""
        for e in it.truth.elements:
            key = object_key(e.name)
            if e.kind == "object" and key and e.name not in NOT_OBJECT_WORDS and key not in NOT_OBJECT_WORDS:
                yield key, e

    spellings: dict[str, Counter] = {}
    forms: dict[str, set[str]] = {}
    present: dict[str, dict[str, str]] = {}
    blocked: dict[str, frozenset[str]] = {}
    for it in items:
        here: dict[str, str] = {}
        seen: set[str] = set()
        for e in it.truth.elements:
            if e.of:
                seen |= keys(e.of)
            if e.kind == "object":
                for f in e.forms:
                    seen |= keys(f)
        for key, e in objects(it):
            here.setdefault(key, e.name)
            spellings.setdefault(key, Counter())[e.name] += 1
            forms.setdefault(key, set()).update(*(keys(f) for f in e.forms))
        present[it.truth.id] = here
        blocked[it.truth.id] = frozenset(seen)
    names = {k: min(c, key=lambda s: (-c[s], s)) for k, c in spellings.items()}
    if counts is None:
        frequency, cooccur = _tally(present.values())
    else:
        owner: dict[str, str] = {}  # form -> the first evaluated object (by key) that has it
        for k in sorted(forms):
            for f in forms[k]:
                owner.setdefault(f, k)

        def resolve(key: str, e: "Element") -> Optional[str]:
            if key in names:
                return key
            return next((owner[f] for f in sorted(set().union(*(keys(x) for x in e.forms))) if f in owner), None)

        frequency, cooccur = _tally({k for k in (resolve(key, e) for key, e in objects(it)) if k} for it in counts)
        frequency = {k: frequency.get(k, 0) for k in sorted(names)}
    return ObjectIndex(names, present, {k: frozenset(v) for k, v in forms.items()}, blocked, frequency, cooccur)


def _tally(images: Iterable[Iterable[str]]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(frequency, co-occurrence) of object keys over images, each image's keys counted once."""
    frequency: Counter = Counter()
    cooccur: Counter = Counter()
    for here in images:
        keys = set(here)
        frequency.update(keys)
        cooccur.update((a, b) for a in keys for b in keys if a != b)
    return dict(frequency), dict(cooccur)


def _question(image_id: str, setting: str, name: str, template: str, label: str) -> Question:
    return Question(f"{image_id}:{setting}:{name}", image_id, setting, name, template.replace("{object}", name),
                    label)


def image_questions(index: ObjectIndex, image_id: str, setting: str, seed: int = 0, per_image: int = PER_IMAGE,
                    template: str = TEMPLATE) -> list[Question]:
    """One image's questions in one setting: n "yes" then n "no", n = min(per_image, objects in
    the image, dataset objects surely absent from it)."""
    from ..seeding import rng

    present = index.present[image_id]
    absent = index.absent(image_id)
    n = min(per_image, len(present), len(absent))
    if n == 0:
        return []
    keys = list(present)
    yes = [keys[i] for i in sorted(rng(seed, "pope", "present", image_id).choice(len(keys), n, replace=False))]
    if setting == "random":
        picked = rng(seed, "pope", setting, image_id).choice(len(absent), n, replace=False)
        no = [absent[i] for i in sorted(picked)]
    elif setting == "popular":
        no = sorted(absent, key=lambda k: (-index.frequency[k], k))[:n]
    elif setting == "adversarial":
        score = {k: sum(index.cooccur.get((p, k), 0) for p in present) for k in absent}
        no = sorted(absent, key=lambda k: (-score[k], -index.frequency[k], k))[:n]
    else:
        raise ValueError(f"unknown POPE setting {setting!r}; known: {', '.join(SETTINGS)}")
    return ([_question(image_id, setting, present[k], template, "yes") for k in yes]
            + [_question(image_id, setting, index.names[k], template, "no") for k in no])


def pope_questions(items: Sequence["ICItem"], seed: int = 0, per_image: int = PER_IMAGE,
                   settings: Sequence[str] = SETTINGS, template: str = TEMPLATE,
                   counts: Optional[Sequence["ICItem"]] = None) -> list[Question]:
    """Every question of every setting, settings in the order given, images in dataset order;
    `counts`: the IC items whose annotations give popular and adversarial their counts."""
    if "{object}" not in template:
        raise ValueError(f"a POPE question template needs {{object}}, got {template!r}")
    index = index_objects(items, counts)
    if not index.names:
        raise SourceError("the IC dataset has no object elements: POPE asks about objects")
    out = [q for setting in settings for it in items
           for q in image_questions(index, it.truth.id, setting, seed, per_image, template)]
    if not out:
        raise SourceError("no POPE question can be asked: no image has an object that the dataset's other "
                          "objects could stand against (each image needs one present and one absent object)")
    return out


@dataclass(frozen=True)
class CountsSource:
    """The IC dataset that gave popular and adversarial their counts, pinned: the summary's
    meta "counts_source"."""

    ic: str
    revision: Optional[str]
    commit: Optional[str]
    """As `dataset_commit` gives it: what the counts depend on, for a rerun to match."""


def question_set(items: Sequence["ICItem"], options: EvalOptions) -> tuple[list[Question], Optional[CountsSource]]:
    """The questions a run with `options` asks (the counts set loaded when given): one function
    for scoring and for --questions-out, so the exported ids are the ones --answers needs."""
    from ..ic import load_ic
    from .run import dataset_commit

    counts, source = None, None
    if options.pope_counts is not None:
        counts = load_ic(options.pope_counts, options.pope_counts_revision)
        source = CountsSource(options.pope_counts, options.pope_counts_revision,
                              dataset_commit(options.pope_counts, options.pope_counts_revision))
    questions = pope_questions(items, options.seed, options.pope_per_image, template=options.prompt or TEMPLATE,
                               counts=counts)
    return questions, source


def export_questions(ic: str, revision: Optional[str], options: EvalOptions, path: Path) -> int:
    """Write the questions of a run on `ic` without labels, one JSON object a line (the
    question_id is what an --answers file answers); the number written."""
    from ..ic import load_ic
    from .base import write_jsonl

    questions, _ = question_set(load_ic(ic, revision), options)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, [q.to_json(label=False) for q in questions])
    return len(questions)


# -- answers -----------------------------------------------------------------------------

def parse_answer(text: str) -> str:
    """"yes" or "no", as POPE's evaluation script reads an answer: the first sentence, commas
    dropped, split on spaces; "No", "not" or "no" among the words is no, anything else yes."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def read_answers(path: Path) -> dict[str, str]:
    """Answers made elsewhere: one {"question_id": ..., "answer": ...} per line."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SourceError(f"{path}:{lineno}: invalid JSON: {e.msg}") from None
        if (not isinstance(obj, dict) or not isinstance(obj.get("question_id"), str)
                or not isinstance(obj.get("answer"), str)):
            raise SourceError(f"{path}:{lineno}: each line needs string fields 'question_id' and 'answer'")
        out[obj["question_id"]] = obj["answer"]
    return out


class YesNoModel(Protocol):
    """What the logits reader needs of a backend: its StepModel prefill/step and its tokenizer."""

    tokenizer: Any

    def prefill(self, rows: Sequence["Branch"], max_new_tokens: int) -> "torch.Tensor": ...

    def step(self, tokens: "torch.Tensor") -> "torch.Tensor": ...


@dataclass(frozen=True)
class AnswerTokens:
    """The token sequences of the forms of yes and of no that the logits reader compares."""

    yes: tuple[tuple[int, ...], ...]
    no: tuple[tuple[int, ...], ...]

    @property
    def single(self) -> bool:
        return all(len(s) == 1 for s in self.yes + self.no)

    @classmethod
    def of(cls, tokenizer: Any) -> "AnswerTokens":
        """The one-token forms of yes and no; when either word has none, every form, whole."""
        def encode(forms: Sequence[str]) -> tuple[tuple[int, ...], ...]:
            seqs = (tuple(tokenizer.encode(f, add_special_tokens=False)) for f in forms)
            return tuple(dict.fromkeys(s for s in seqs if s))

        yes, no = encode(YES_FORMS), encode(NO_FORMS)
        if not yes or not no or set(yes) & set(no):
            raise ModelLoadError("the tokenizer cannot tell 'yes' from 'no' (their forms encode to nothing or to "
                                 "the same tokens): use --pope-reader text")
        yes1, no1 = tuple(s for s in yes if len(s) == 1), tuple(s for s in no if len(s) == 1)
        return cls(yes1, no1) if yes1 and no1 else cls(yes, no)

    def to_json(self) -> dict:
        return {"yes": [list(s) for s in self.yes], "no": [list(s) for s in self.no],
                "scoring": "one token" if self.single else "whole form"}


def yes_no_scores(model: YesNoModel, rows: Sequence["Branch"], tokens: AnswerTokens) -> "torch.Tensor":
    """[R, 2]: each row's best log-probability of a yes form and of a no form as the next
    tokens, on the device of the model's logits (every tensor made here is made there)."""
    import torch

    seqs = tokens.yes + tokens.no
    n_yes = len(tokens.yes)
    if tokens.single:  # one forward: the next-token scores
        lp = model.prefill(rows, 1).float().log_softmax(-1)
        ids = torch.tensor([s[0] for s in seqs], device=lp.device)
        picked = lp.index_select(-1, ids)
        return torch.stack([picked[:, :n_yes].amax(-1), picked[:, n_yes:].amax(-1)], dim=-1)
    # every row once per form (the backend prefills each distinct row once), fed the form's tokens
    m, length = len(seqs), max(len(s) for s in seqs)
    logits = model.prefill([r for r in rows for _ in seqs], length)
    dev = logits.device
    table = torch.tensor([s + (s[-1],) * (length - len(s)) for s in seqs], device=dev)  # [M, L]
    valid = torch.tensor([[t < len(s) for t in range(length)] for s in seqs], device=dev)
    total = torch.zeros(len(rows), m, device=dev)
    for t in range(length):
        lp = logits.float().log_softmax(-1).view(len(rows), m, -1)
        got = lp.gather(-1, table[:, t].view(1, m, 1).expand(len(rows), m, 1)).squeeze(-1)
        total = total + torch.where(valid[:, t], got, torch.zeros_like(got))
        if t + 1 < length:
            logits = model.step(table[:, t].repeat(len(rows)))
    return torch.stack([total[:, :n_yes].amax(-1), total[:, n_yes:].amax(-1)], dim=-1)


def host_scores(scores: "torch.Tensor") -> list[list[float]]:
    """The [R, 2] scores copied to the host (the reader's one synchronisation per batch)."""
    return scores.tolist()


@dataclass(frozen=True)
class Ask:
    """One distinct question to a model: its text and its image."""

    text: str
    image: "Image.Image"


@dataclass(frozen=True)
class Reply:
    answer: str
    """"yes" or "no"."""
    text: Optional[str] = None
    """The text reader's (or a file's) raw answer."""
    yes_logprob: Optional[float] = None
    no_logprob: Optional[float] = None


def logits_replies(model: YesNoModel, asks: Sequence[Ask], batch_size: int, tokens: Optional[AnswerTokens] = None,
                   progress: Any = None) -> list[Reply]:
    """Yes when the best yes form outscores the best no form (ties: no)."""
    from ..backends import Branch

    tokens = tokens or AnswerTokens.of(model.tokenizer)
    out: list[Reply] = []
    for start in range(0, len(asks), batch_size):
        batch = asks[start:start + batch_size]
        scores = host_scores(yes_no_scores(model, [Branch(a.text, a.image) for a in batch], tokens))
        out.extend(Reply("yes" if y > n else "no", None, round(y, 6), round(n, 6)) for y, n in scores)
        if progress is not None:
            progress.update(len(batch))
    return out


def text_replies(backend: Any, asks: Sequence[Ask], batch_size: int, max_new_tokens: int = TEXT_TOKENS,
                 progress: Any = None) -> list[Reply]:
    """Greedy answers through the backend's decoding, read by `parse_answer`."""
    from ..backends import AnswerPlan, Branch
    from ..recipe import GenerationSpec

    gen = GenerationSpec(max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    out: list[Reply] = []
    for start in range(0, len(asks), batch_size):
        batch = asks[start:start + batch_size]
        texts = backend.decode([Branch(a.text, a.image) for a in batch],
                               [AnswerPlan(i, None, 0.0) for i in range(len(batch))], gen, "logits")
        out.extend(Reply(parse_answer(t), t) for t in texts)
        if progress is not None:
            progress.update(len(batch))
    return out


# -- metrics -----------------------------------------------------------------------------

def pope_metrics(labels: Sequence[str], answers: Sequence[str]) -> dict:
    """POPE's figures with "yes" as the positive class; None where a ratio has no denominator."""
    pairs = list(zip(labels, answers, strict=True))
    tp = sum(lab == "yes" and ans == "yes" for lab, ans in pairs)
    fp = sum(lab == "no" and ans == "yes" for lab, ans in pairs)
    tn = sum(lab == "no" and ans == "no" for lab, ans in pairs)
    fn = sum(lab == "yes" and ans == "no" for lab, ans in pairs)
    total = len(pairs)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (None if precision is None or recall is None else
          0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return {"questions": total, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "accuracy": rnd((tp + tn) / total if total else None), "precision": rnd(precision),
            "recall": rnd(recall), "f1": rnd(f1), "yes_ratio": rnd((tp + fp) / total if total else None)}


def summarize(questions: Sequence[Question], answers: Mapping[str, str], images: int) -> dict:
    """{"counts": {images, images_asked, questions}, "settings": {setting: pope_metrics}}."""
    settings = list(dict.fromkeys(q.setting for q in questions))
    return {
        "counts": {"images": images, "images_asked": len({q.image_id for q in questions}),
                   "questions": len(questions)},
        "settings": {s: pope_metrics([q.label for q in questions if q.setting == s],
                                     [answers[q.id] for q in questions if q.setting == s]) for s in settings},
    }


# -- the benchmark -----------------------------------------------------------------------

READER_WORDS = {
    "logits": "logits (the next-token score of yes against no after the question)",
    "text": "text (greedy answers, read as POPE's script reads them)",
    "file": "answers from a file, read as POPE's script reads them",
}


@BENCHMARKS.register("pope")
class PopeBench(Benchmark):
    """POPE's yes/no object questions (random, popular, adversarial) on an IC dataset."""

    name = "pope"
    responses = "answers"
    records_file = "per_question.jsonl"

    def run(self, items: Sequence["ICItem"], responses: Responses, options: EvalOptions) -> BenchResult:
        if options.pope_reader not in READERS:
            raise ValueError(f"unknown POPE reader {options.pope_reader!r}; known: {', '.join(READERS)}")
        template = options.prompt or TEMPLATE
        questions, counts = question_set(items, options)
        meta_options: dict[str, Any] = {"per_image": options.pope_per_image, "template": template,
                                        "settings": list(SETTINGS)}
        if responses.file is not None:
            reader = "file"
            raw = read_answers(Path(responses.file))
            missing = [q.id for q in questions if q.id not in raw]
            if missing:
                raise SourceError(f"{responses.file}: no answer for {len(missing)} of {len(questions)} question(s), "
                                  f"e.g. {missing[:3]} (questions depend on the dataset, --seed and "
                                  f"--pope-per-image)")
            replies = {q.id: Reply(parse_answer(raw[q.id]), raw[q.id]) for q in questions}
        else:
            reader = options.pope_reader
            replies, extra = self._ask_model(items, questions, responses, options)
            meta_options.update(extra)
        records = [{**q.to_json(), "reader": reader, "answer": replies[q.id].answer, "raw": replies[q.id].text,
                    "yes_logprob": replies[q.id].yes_logprob, "no_logprob": replies[q.id].no_logprob}
                   for q in questions]
        summary = summarize(questions, {q: r.answer for q, r in replies.items()}, len(items))
        return BenchResult(summary, records, {"reader": reader, "prompt": template, "options": meta_options,
                                              "counts_source": asdict(counts) if counts else None})

    def _ask_model(self, items: Sequence["ICItem"], questions: Sequence[Question], responses: Responses,
                   options: EvalOptions) -> tuple[dict[str, Reply], dict]:
        """Each distinct (image, question) asked once: a "yes" question is the same in every
        setting. The backend's self-check runs first, as for captions."""
        from ..backends import Branch, load_backend, self_check
        from ..output.progress import ItemProgress

        spec = responses.model
        images = {it.truth.id: it.image for it in items}
        distinct = list(dict.fromkeys((q.image_id, q.text) for q in questions))
        asks = [Ask(text, images[image_id]) for image_id, text in distinct]
        backend = load_backend(spec)
        self_check(backend, Branch(asks[0].text, asks[0].image), spec.id)
        extra: dict[str, Any] = {}
        with ItemProgress(len(asks), "answering", "question", enabled=options.show_progress) as progress:
            if options.pope_reader == "logits":
                tokens = AnswerTokens.of(backend.tokenizer)
                got = logits_replies(backend, asks, spec.batch_size, tokens, progress)
                extra["answer_tokens"] = tokens.to_json()
            else:
                max_new = options.max_new_tokens or TEXT_TOKENS
                got = text_replies(backend, asks, spec.batch_size, max_new, progress)
                extra["max_new_tokens"] = max_new
        by_ask = dict(zip(distinct, got, strict=True))
        return {q.id: by_ask[(q.image_id, q.text)] for q in questions}, extra

    def format_table(self, summary: Mapping[str, Any]) -> str:
        rows = [["setting", "questions", "accuracy", "precision", "recall", "F1", "yes-ratio"]] + [
            [s, cell(v["questions"]), *(cell(v[m]) for m in METRICS)] for s, v in summary["settings"].items()]
        c, meta = summary["counts"], summary.get("meta", {})
        options = meta.get("options", {})
        reader = READER_WORDS.get(meta.get("reader"), str(meta.get("reader")))
        footer = (f"{c['questions']} questions on {c['images_asked']} of {c['images']} images (up to "
                  f"{options.get('per_image', '?')} yes + as many no per image), seed {meta.get('seed', '?')}; "
                  f"reader: {reader}")
        counts = meta.get("counts_source")
        if isinstance(counts, dict):
            at = f" @ {counts['revision']}" if counts.get("revision") else ""
            footer += f"; popular and adversarial counted on {counts.get('ic')}{at}"
        return grid(rows) + "\n\n" + footer

    def compare(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CompareRow]:
        settings = list(dict.fromkeys([*a.get("settings", {}), *b.get("settings", {})]))
        return delta_rows([(f"{s}.{m}", _setting(a, s, m), _setting(b, s, m)) for s in settings for m in METRICS])

    def check_summary(self, summary: Any) -> Optional[str]:
        if not isinstance(summary, dict) or not isinstance(summary.get("settings"), dict):
            return "no 'settings' object"
        return None


def _setting(summary: Mapping[str, Any], setting: str, metric: str) -> Optional[float]:
    value = summary.get("settings", {}).get(setting)
    return value.get(metric) if isinstance(value, dict) else None


__all__ = ["AnswerTokens", "Ask", "CountsSource", "METRICS", "NO_FORMS", "ObjectIndex", "PER_IMAGE", "PopeBench",
           "Question", "READERS", "Reply", "SETTINGS", "TEMPLATE", "YES_FORMS", "export_questions", "host_scores",
           "image_questions", "index_objects", "logits_replies", "object_key", "parse_answer", "pope_metrics",
           "pope_questions", "question_set", "read_answers", "summarize", "text_replies", "yes_no_scores"]
