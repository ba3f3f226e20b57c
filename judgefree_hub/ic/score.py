"""Judge-free caption scoring for the IC dataset (arXiv 2411.17760, section "IC dataset").

The paper asks a judge for each caption's precision (share of what it mentions that is really in
the image) and recall (share of the image's elements it mentions). Here both are counted against
the image's annotated elements and an object vocabulary (`judgefree_hub.vocab`), so a score is
deterministic and needs no model. Definitions, per caption:

- An element is *recalled* when its name or a synonym occurs in the caption as whole words
  (plural or singular). An object element is also recalled when the caption names the same
  vocabulary object by another form ("hound" recalls a "dog" element). Attribute and count
  elements match their own words (number words read as digits: "three" = "3"); text elements
  match their words case-insensitively, with no singularising.
- An object element whose name or synonym is a vocabulary form makes that object *present*; so
  does the object an element is `of`. A vocabulary object the caption names that is not present
  is *hallucinated*. A vocabulary word that is also one of the image's attribute or count
  words (the colour "orange"), or exactly one of its text words, is read as that, not as an
  object. The longest phrase wins ("teddy bear" names no bear). A repeated mention counts once.
- precision = R / (R + H), R = distinct recalled elements, H = distinct hallucinated objects;
  None when R + H = 0 (the caption mentions nothing countable). A present object the caption
  names that no element was recalled for (only an element's `of`) counts for neither.
- recall = R / number of elements. f1 = 2PR / (P + R); None when P is None, 0 when P = R = 0.
- chair_i = H / M, M = distinct vocabulary objects named (None when M = 0).
- `neutral` objects (scene words the dataset never annotates, see evaluate.SCENE_OBJECTS) are
  neither hallucinated nor counted in M when the image lacks them.

CHAIR on the 80 COCO categories (vocabulary "coco") is scored by chair.py into the same
CaptionScore: there M and `hallucinated_mentions` count every mention, as CHAIR does.

`summarize` pools captions: micro values from summed counts, macro values as the mean of the
per-caption values (skipping None; macro F1 is the mean of F1s), CHAIR-i = sum H / sum M,
CHAIR-s = share of captions with at least one hallucinated object. `hallucinated_mentions` is
CHAIR-i's numerator: here the number of distinct hallucinated objects (each named object counts
once), under vocabulary "coco" every hallucinated mention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Collection, Optional, Sequence

from ..errors import ConfigError
from .vocab import Lemmas, Phrase, Vocabulary, load_vocabulary, segment, words

KINDS = ("object", "attribute", "text", "count")
DIGITS = 4


@dataclass(frozen=True)
class Element:
    """One annotated thing in an image; `of` names the object an attribute or count is about."""

    name: str
    synonyms: tuple[str, ...]
    kind: str
    of: Optional[str] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"element {self.name!r}", [
                ("kind", f"must be one of {', '.join(KINDS)}, got {self.kind!r}")])

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class ImageTruth:
    id: str
    domain: str
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class CaptionScore:
    id: str
    domain: str
    caption: str
    recalled: tuple[str, ...]
    missed: tuple[str, ...]
    hallucinated: tuple[str, ...]
    mentioned: int
    precision: Optional[float]
    recall: Optional[float]
    f1: Optional[float]
    chair_i: Optional[float]
    hallucinated_mentions: int
    """CHAIR-i = hallucinated_mentions / mentioned (distinct objects, or every mention for "coco")."""

    def to_json(self) -> dict:
        out = asdict(self)
        for name in ("recalled", "missed", "hallucinated"):
            out[name] = list(out[name])
        for name in ("precision", "recall", "f1", "chair_i"):
            out[name] = _round(out[name])
        return out


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, DIGITS)


def _ratio(num: float, den: float) -> Optional[float]:
    return num / den if den else None


def _f1(p: Optional[float], r: Optional[float]) -> Optional[float]:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _contains(seq: Phrase, part: Phrase) -> bool:
    n = len(part)
    return n > 0 and any(seq[i:i + n] == part for i in range(len(seq) - n + 1))


@dataclass(frozen=True)
class _Read:
    """One element as the matcher sees it: lemma-key phrases (raw words for text) and the
    vocabulary objects it makes present."""

    element: Element
    forms: tuple[Phrase, ...]
    objects: frozenset[str]

    def recalled(self, found: set, named: set, keys: Phrase, raw: Phrase) -> bool:
        if self.element.kind == "object":
            return any(f in found for f in self.forms) or bool(self.objects & named)
        seq = raw if self.element.kind == "text" else keys
        return any(_contains(seq, f) for f in self.forms)


def _read(truth: ImageTruth, vocab: Vocabulary) -> tuple[Lemmas, list[_Read], frozenset[str]]:
    """The image's elements read once per caption, the image's own words added as lemmas, and
    every vocabulary object present in the image."""
    lemmas = vocab.lemmas.extended(
        w for e in truth.elements if e.kind != "text" for f in e.forms for w in words(f))
    reads = []
    for e in truth.elements:
        if e.kind == "text":
            reads.append(_Read(e, tuple(tuple(words(f)) for f in e.forms), frozenset()))
            continue
        forms = tuple(vocab.phrase(f, lemmas) for f in e.forms)
        objects = frozenset(vocab.phrases[p] for p in forms if p in vocab.phrases)
        reads.append(_Read(e, forms, objects if e.kind == "object" else frozenset()))
    owners = {vocab.phrases.get(vocab.phrase(e.of, lemmas)) for e in truth.elements if e.of}
    return lemmas, reads, frozenset().union(*(r.objects for r in reads), owners - {None})


def score_caption(truth: ImageTruth, caption: str, vocab: Vocabulary,
                  neutral: Collection[str] = frozenset()) -> CaptionScore:
    """Score one caption against its image's elements (see the module docstring); a `neutral`
    object the image lacks is ignored where the caption names it."""
    if not truth.elements:
        raise ConfigError(f"image {truth.id!r}", [("elements", "needs at least one element")])
    lemmas, reads, present = _read(truth, vocab)
    raw = tuple(words(caption))
    keys = tuple(lemmas.key(w) for w in raw)
    own = {f for r in reads if r.element.kind == "object" for f in r.forms}
    other = {f for r in reads if r.element.kind != "object" for f in r.forms}
    longest = max([vocab.max_len, *(len(f) for f in own)])
    found = set(segment(keys, lambda p: p in vocab.phrases or p in own, longest))
    named = {vocab.phrases[p] for p in found if p in vocab.phrases and p not in other}
    named -= set(neutral) - present
    hits = [r.recalled(found, named, keys, raw) for r in reads]
    recalled = tuple(r.element.name for r, hit in zip(reads, hits, strict=True) if hit)
    missed = tuple(r.element.name for r, hit in zip(reads, hits, strict=True) if not hit)
    hallucinated = tuple(sorted(named - present))
    precision = _ratio(len(recalled), len(recalled) + len(hallucinated))
    recall = len(recalled) / len(truth.elements)
    return CaptionScore(truth.id, truth.domain, caption, recalled, missed, hallucinated,
                        len(named), precision, recall, _f1(precision, recall),
                        _ratio(len(hallucinated), len(named)), len(hallucinated))


def _micro(scores: Sequence[CaptionScore]) -> dict:
    """Pooled counts: every recalled element, hallucination and mention weighs the same."""
    right = sum(len(s.recalled) for s in scores)
    wrong = sum(len(s.hallucinated) for s in scores)
    total = sum(len(s.recalled) + len(s.missed) for s in scores)
    p, r = _ratio(right, right + wrong), _ratio(right, total)
    return {"precision": p, "recall": r, "f1": _f1(p, r),
            "chair_i": _ratio(sum(s.hallucinated_mentions for s in scores), sum(s.mentioned for s in scores)),
            "chair_s": _ratio(sum(bool(s.hallucinated) for s in scores), len(scores))}


def _mean(values) -> Optional[float]:
    kept = [v for v in values if v is not None]
    return _ratio(sum(kept), len(kept))


def _rounded(d: dict) -> dict:
    return {k: _round(v) if isinstance(v, float) else v for k, v in d.items()}


def summarize(scores: Sequence[CaptionScore], vocabulary: Optional[str] = None) -> dict:
    """{"counts", "overall": {"micro", "macro", "chair_i", "chair_s"}, "domains": {name: micro
    values, CHAIR and caption count}}, every value rounded to 4 decimals (None if undefined);
    with `vocabulary` ("extended" or "coco", what scored), also {"vocabulary": ...}."""
    micro = _micro(scores)
    domains = sorted({s.domain for s in scores})
    return {
        **({"vocabulary": vocabulary} if vocabulary else {}),
        "counts": {"images": len({s.id for s in scores}), "captions": len(scores),
                   "nothing_countable": sum(s.precision is None for s in scores)},
        "overall": {
            "micro": _rounded({k: micro[k] for k in ("precision", "recall", "f1")}),
            "macro": _rounded({k: _mean(getattr(s, k) for s in scores)
                               for k in ("precision", "recall", "f1")}),
            "chair_i": _round(micro["chair_i"]),
            "chair_s": _round(micro["chair_s"]),
        },
        "domains": {d: _rounded({"captions": sum(s.domain == d for s in scores),
                                 **_micro([s for s in scores if s.domain == d])})
                    for d in domains},
    }


_OVERALL = ("micro.precision", "micro.recall", "micro.f1", "macro.precision", "macro.recall",
            "macro.f1", "chair_i", "chair_s")


def _get(summary: dict, path: str) -> Optional[float]:
    node = summary
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def compare(a: dict, b: dict) -> list[tuple[str, Optional[float], Optional[float],
                                            Optional[float]]]:
    """(metric, a, b, b - a) for the overall metrics, then each domain's micro F1 (a domain
    missing on one side gives None there). For chair_i and chair_s lower is better."""
    rows = [(m, _get(a, f"overall.{m}"), _get(b, f"overall.{m}")) for m in _OVERALL]
    for d in sorted(set(a.get("domains", {})) | set(b.get("domains", {}))):
        rows.append((f"domains.{d}.f1", a.get("domains", {}).get(d, {}).get("f1"),
                     b.get("domains", {}).get(d, {}).get("f1")))
    return [(m, x, y, None if x is None or y is None else round(y - x, DIGITS))
            for m, x, y in rows]


def _cell(x: object, signed: bool = False) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:+.{DIGITS}f}" if signed else f"{x:.{DIGITS}f}"
    return str(x)


def _grid(rows: list[list[str]]) -> str:
    """Columns aligned: the first to the left, the others (numbers) to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                  enumerate(zip(r, widths, strict=True))).rstrip() for r in rows)


def format_table(summary: dict) -> str:
    """The summary as plain-text tables: overall micro/macro, then one row per domain."""
    o = summary["overall"]
    overall = [["metric", "micro", "macro"]] + [
        [k, _cell(o["micro"][k]), _cell(o["macro"][k])] for k in ("precision", "recall", "f1")]
    overall += [["CHAIR-i", _cell(o["chair_i"]), ""], ["CHAIR-s", _cell(o["chair_s"]), ""]]
    cols = ("captions", "precision", "recall", "f1", "chair_i", "chair_s")
    per_domain = [["domain", "captions", "precision", "recall", "f1", "CHAIR-i", "CHAIR-s"]] + [
        [d, *(_cell(v[c]) for c in cols)] for d, v in summary["domains"].items()]
    c = summary["counts"]
    footer = (f"{c['captions']} captions of {c['images']} images; "
              f"{c['nothing_countable']} mention nothing countable")
    if summary.get("vocabulary"):
        footer += f"; vocabulary {summary['vocabulary']}" + (
            " (CHAIR: the 80 COCO categories, every mention counted)" if summary["vocabulary"] == "coco" else "")
    return "\n\n".join([_grid(overall), _grid(per_domain), footer])


def format_compare(rows: Sequence[tuple]) -> str:
    """`compare` rows as an aligned table with signed deltas."""
    return _grid([["metric", "a", "b", "delta"]] + [
        [m, _cell(x), _cell(y), _cell(d, signed=True)] for m, x, y, d in rows])


__all__ = [
    "CaptionScore", "Element", "ImageTruth", "KINDS", "Vocabulary", "compare", "format_compare",
    "format_table", "load_vocabulary", "score_caption", "summarize",
]
