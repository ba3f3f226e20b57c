"""CHAIR (Rohrbach et al. 2018, "Object Hallucination in Image Captioning") on the 80 COCO
categories: `score_all(..., vocabulary="coco")`, comparable with the numbers papers report.

Definitions, as in CHAIR's utils/chair.py (github.com/LisaAnne/Hallucination):

- A caption's *mentions* are its words and two-word phrases that are a COCO category or one of
  its synonyms (coco_objects.json), read left to right, a phrase before its words. Every
  mention counts, a repeated one too ("a dog and another dog" is two dog mentions).
- A mention is *hallucinated* when its category is not among the image's ground-truth objects.
  CHAIR's ground truth is the union of COCO's segmentation labels and the objects named in the
  image's reference captions; the COCO reader (coco.py) writes both as the image's elements.
  For any other IC set, an object element whose name (else first synonym) is a COCO form makes
  that category present; all other elements (non-COCO objects, attributes, counts, text) are
  ignored, except that the object an attribute or count is `of` is present too.
- CHAIR-i = hallucinated mentions / all mentions; CHAIR-s = captions with at least one
  hallucinated mention / all captions (a caption naming no COCO object counts, unhallucinated).

CHAIR's special cases, read as CHAIR reads them:

- Two-word categories and forms (hot dog, teddy bear, fire hydrant, stop sign, traffic light,
  wine glass, cell phone, baseball bat, sports ball, ...) are one mention: the longest phrase
  wins, so a hot dog is not a dog, a teddy bear not a bear, a wine glass names no glass.
- "baby" or "adult" before one of the ten animal categories (bird, cat, dog, horse, sheep, cow,
  elephant, bear, zebra, giraffe) names the animal only, not a person; "baby animal", "baby cub"
  and their "adult" forms name nothing. As in CHAIR, only the category names: "baby puppy" is a
  person and a dog, "male dog" a person and a dog.
- "passenger jet" is an airplane and "passenger train" a train, no person; "train track" and
  "home plate" name nothing.
- "bow tie" is a tie; "toilet seat" is a toilet, and when a caption names a toilet its "seat"
  is no chair.
- Plurals are read as singulars (vocab.py), possessives dropped.
- CHAIR reads some words that are mostly something else as objects, and so does this list:
  "table" (dining table), "seat" (chair), "bow" (tie), "pitcher" and "player" (person),
  "container" (bowl), "orange" also as a colour. "microwave oven" is a microwave and an oven.

A known difference from CHAIR's code, left alone: CHAIR lemmatizes with NLTK's part-of-speech
tagger and WordNet, where this reads plurals by rule (vocab.py), so a rare word may be read
differently. (CHAIR's list has the three-word form "stove top oven", which its reading of two
words at a time never matches; it is left out here, so both read stove + oven.)

Precision, recall and F1 are counted over distinct categories as under "extended" (recall is
None for an image without COCO objects); they are not part of CHAIR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping, Optional

from .score import CaptionScore, ImageTruth, _f1, _ratio
from .vocab import Phrase, Vocabulary, load_vocabulary, segment

COCO_FILE = "coco_objects.json"
ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
QUALIFIERS = ("baby", "adult")
PASSENGER = {"airplane": ("jet",), "train": ("train",)}
"""CHAIR's "passenger jet" and "passenger train": the vehicle only."""
_NAMES_NOTHING = (*(f"{q} {w}" for q in QUALIFIERS for w in ("animal", "cub")), "train track", "home plate")
NAME_NOTHING = tuple(f"{phrase}{s}" for phrase in _NAMES_NOTHING for s in ("", "s"))
"""Phrases that name no object, singular and plural: their last words are no vocabulary word,
so the plural rule (vocab.py) does not read them."""
DROPPED_WITH = {"toilet": ("seat",)}
"""When a caption names the key object, these forms of it are not mentions (CHAIR's toilet seat)."""


def _listed_forms() -> dict[str, tuple[str, ...]]:
    data = json.loads(resources.files(__package__).joinpath(COCO_FILE).read_text(encoding="utf-8"))
    return {name: tuple(forms) for name, forms in data.items() if not name.startswith("_")}


def _generated_forms() -> dict[str, list[str]]:
    """CHAIR's qualified animal and passenger-vehicle phrases, which name the animal or vehicle
    only."""
    out: dict[str, list[str]] = {name: [f"{q} {name}" for q in QUALIFIERS] for name in ANIMALS}
    for name, words in PASSENGER.items():
        out[name] = [f"passenger {w}" for w in words]
    return out


@dataclass(frozen=True)
class CocoVocabulary:
    """The 80 COCO categories with CHAIR's synonyms and special cases."""

    vocab: Vocabulary
    name_nothing: frozenset[Phrase]
    dropped: Mapping[str, frozenset[Phrase]]
    synonyms: Mapping[str, tuple[str, ...]]
    """Each category's forms as coco_objects.json lists them, the name first."""

    def forms(self, category: str) -> tuple[str, ...]:
        return self.synonyms[category]

    @property
    def categories(self) -> frozenset[str]:
        return self.vocab.objects

    def category(self, text: str) -> Optional[str]:
        """The COCO category `text` names as a whole ("puppies" -> "dog"), or None."""
        return self.vocab.canonical(text)

    def mentions(self, text: str) -> list[str]:
        """The COCO category of every mention in `text`, in order, repeats kept."""
        keys = self.vocab.phrase(text)
        found = segment(keys, lambda p: p in self.vocab.phrases or p in self.name_nothing,
                        self.vocab.max_len)
        named = [(self.vocab.phrases[p], p) for p in found if p in self.vocab.phrases]
        objects = {c for c, _ in named}
        drop = {p for c, forms in self.dropped.items() if c in objects for p in forms}
        return [c for c, p in named if p not in drop]


@lru_cache(maxsize=1)
def load_coco_vocabulary() -> CocoVocabulary:
    listed = _listed_forms()
    vocab = load_vocabulary(base=COCO_FILE, more_forms=_generated_forms())
    return CocoVocabulary(vocab, frozenset(vocab.phrase(t) for t in NAME_NOTHING),
                          {c: frozenset(vocab.phrase(f) for f in forms) for c, forms in DROPPED_WITH.items()},
                          listed)


def coco_elements(truth: ImageTruth, coco: CocoVocabulary) -> tuple[tuple[str, ...], frozenset[str]]:
    """The image's COCO categories from its object elements (each once, in element order), and
    every category present (those, plus what an attribute or count element is `of`)."""
    found: list[str] = []
    for e in truth.elements:
        if e.kind != "object":
            continue
        category = next((c for c in map(coco.category, e.forms) if c), None)
        if category and category not in found:
            found.append(category)
    owners = {coco.category(e.of) for e in truth.elements if e.of and e.kind != "object"}
    return tuple(found), frozenset(found) | (owners - {None})


def score_caption_coco(truth: ImageTruth, caption: str, coco: CocoVocabulary) -> CaptionScore:
    """CHAIR's view of one caption (module docstring); recalled, missed and hallucinated name
    COCO categories, `mentioned` counts every mention."""
    elements, present = coco_elements(truth, coco)
    mentions = coco.mentions(caption)
    named = set(mentions)
    recalled = tuple(c for c in elements if c in named)
    missed = tuple(c for c in elements if c not in named)
    hallucinated = tuple(sorted(named - present))
    wrong = sum(c not in present for c in mentions)
    precision = _ratio(len(recalled), len(recalled) + len(hallucinated))
    recall = _ratio(len(recalled), len(elements))
    return CaptionScore(truth.id, truth.domain, caption, recalled, missed, hallucinated, len(mentions),
                        precision, recall, _f1(precision, recall), _ratio(wrong, len(mentions)), wrong)


__all__ = ["CocoVocabulary", "coco_elements", "load_coco_vocabulary", "score_caption_coco"]
