"""The object vocabulary and the word normalisation that caption scoring matches with.

`objects.json` maps each canonical object (the 80 COCO categories, named as COCO names them,
plus everyday objects COCO lacks) to its surface forms, in the spirit of the CHAIR synonym list
(Rohrbach et al. 2018). Forms that are mostly used for something else are left out on purpose
("can" alone is a verb, so only "soda can", "tin can", "can of" name a can; "meter", "bow",
"pitcher" and "woods" are absent). A person-like object such as "astronaut" is its own entry: a
dataset that wants "a man" to count for it lists "man" among that element's synonyms.

Matching is on whole words only: text is lower-cased and split into words (letters, digits,
apostrophes), so "cat" never matches "category". Each word is reduced to a *lemma key*:
possessive "'s" dropped, number words one..twenty turned into digits, irregular plurals
(men, people, mice, ...) made singular, then, if the word is not itself a known lemma, its
singular candidates (dogs->dog, knives->knife, buses->bus, puppies->puppy) and then its plural
candidates (ski->skis, for a form written in the plural) are tried against the known lemmas.
Only a candidate that is a known lemma is taken, so "this", "species" or "glass" keep their
"s" unless the vocabulary says otherwise. Known lemmas come in layers (the vocabulary first,
then an image's own element words), and an earlier layer always wins, so adding an image's
words never changes how a vocabulary word is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Callable, Collection, Iterable, Mapping, Optional, Sequence

from ..errors import ConfigError

Phrase = tuple[str, ...]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
IRREGULAR = MappingProxyType({
    "men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
    "feet": "foot", "teeth": "tooth", "geese": "goose", "oxen": "ox", "buses": "bus",
    "lenses": "lens", "gases": "gas",
})
_IRREGULAR_PLURAL = MappingProxyType({v: k for k, v in IRREGULAR.items()})
# Words ending in "s" that are not plurals; words shorter than 4 letters or ending in
# "ss", "us" or "is" (glass, bus, this, is) are never stripped either.
NOT_PLURAL = frozenset({
    "species", "series", "news", "lens", "always", "perhaps", "sometimes", "canvas", "atlas",
    "christmas", "physics", "mathematics", "politics", "athletics", "means", "diabetes", "measles",
})
NUMBERS = MappingProxyType({w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())})


def words(text: str) -> list[str]:
    """Lower-cased words of `text`: letters, digits and inner apostrophes; the rest splits."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _plain(word: str) -> str:
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = NUMBERS.get(w, w)
    return IRREGULAR.get(w, w)


def _singulars(w: str) -> list[str]:
    """Candidate singulars of `w`, most likely first; none for words that are not plurals."""
    if len(w) < 4 or w in NOT_PLURAL or not w.endswith("s") or w.endswith(("ss", "us", "is")):
        return []
    if w.endswith("ies") and len(w) > 4:
        return [w[:-3] + "y", w[:-1]]
    if w.endswith("ves"):
        f, fe = w[:-3] + "f", w[:-3] + "fe"
        return [fe, f, w[:-1]] if w[-4] == "i" else [f, fe, w[:-1]]
    if w.endswith(("sses", "shes", "ches", "xes", "zes")):
        return [w[:-2], w[:-1]]
    if w.endswith("es"):
        return [w[:-1], w[:-2]]
    return [w[:-1]]


def _plurals(w: str) -> list[str]:
    """Candidate plurals of `w` (used when a form is written only in the plural, like skis)."""
    if len(w) < 2:
        return []
    if w in _IRREGULAR_PLURAL:
        return [_IRREGULAR_PLURAL[w]]
    if w.endswith("y") and w[-2] not in "aeiou":
        return [w[:-1] + "ies", w + "s"]
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return [w + "es"]
    if w.endswith("fe"):
        return [w[:-2] + "ves", w + "s"]
    if w.endswith("f"):
        return [w[:-1] + "ves", w + "s"]
    return [w + "s", w + "es"] if w.endswith("o") else [w + "s"]


def singular(word: str, known: Optional[Collection[str]] = None) -> str:
    """The singular of `word`. With `known`, only a candidate in `known` is taken (else the
    word itself); without, the rules' best guess ("glass", "this", "species" stay as they are)."""
    w = _plain(word)
    candidates = _singulars(w)
    if known is None:
        return candidates[0] if candidates else w
    return next((c for c in candidates if c in known), w)


@dataclass(frozen=True)
class Lemmas:
    """Known lemmas in layers; `key` reads a word against the first layer that knows it."""

    layers: tuple[frozenset[str], ...]

    def key(self, word: str) -> str:
        w = _plain(word)
        for layer in self.layers:
            if w in layer:
                return w
            for candidate in (*_singulars(w), *_plurals(w)):
                if candidate in layer:
                    return candidate
        return w

    def extended(self, tokens: Iterable[str]) -> Lemmas:
        """A new last layer with the words of `tokens` that no existing layer already reads."""
        fresh = {self.key(t) for t in tokens}
        fresh -= frozenset().union(*self.layers)
        if not fresh:
            return self
        return Lemmas(self.layers + (frozenset(singular(t, fresh) for t in fresh),))


def segment(keys: Phrase, is_phrase: Callable[[Phrase], bool], max_len: int) -> list[Phrase]:
    """Phrases found left to right, the longest at each position, without overlap, so "wine
    glass" is one wine glass and never also a glass, and "teddy bear" is never a bear."""
    found, i = [], 0
    while i < len(keys):
        for n in range(min(max_len, len(keys) - i), 0, -1):
            if is_phrase(keys[i:i + n]):
                found.append(keys[i:i + n])
                i += n
                break
        else:
            i += 1
    return found


@dataclass(frozen=True)
class Vocabulary:
    """Every surface form (as a lemma-key phrase) mapped to exactly one canonical object."""

    phrases: Mapping[Phrase, str]
    lemmas: Lemmas
    max_len: int

    @property
    def objects(self) -> frozenset[str]:
        return frozenset(self.phrases.values())

    def phrase(self, text: str, lemmas: Optional[Lemmas] = None) -> Phrase:
        """`text` as lemma keys; pass an image's extended `lemmas` to read its own words too."""
        return tuple((lemmas or self.lemmas).key(w) for w in words(text))

    def canonical(self, text: str) -> Optional[str]:
        """The object that `text` names as a whole (e.g. "puppies" -> "dog"), or None."""
        return self.phrases.get(self.phrase(text))

    def mentions(self, text: str) -> set[str]:
        """Canonical objects named in `text`; a repeated mention counts once."""
        found = segment(self.phrase(text), self.phrases.__contains__, self.max_len)
        return {self.phrases[p] for p in found}


def _entries(data: object, problems: list, named: bool) -> list[tuple[str, list[str]]]:
    """Valid (name, forms) pairs; `named`: the name is a form too, so the list may be empty."""
    if not isinstance(data, Mapping):
        problems.append(("$", "must map each object name to a list of synonyms"))
        return []
    out = []
    for name, forms in data.items():
        path = f"$[{name!r}]"
        if not isinstance(name, str) or not words(name):
            problems.append((path, "an object name needs at least one word"))
        elif isinstance(forms, str) or not isinstance(forms, Sequence):
            problems.append((path, f"must be a list of synonyms, got {type(forms).__name__}"))
        elif not (forms or named) or not all(isinstance(f, str) and words(f) for f in forms):
            problems.append((path, "needs a list of synonyms, each with at least one word"))
        else:
            out.append((name, list(forms)))
    return out


def _lemmas(entries: Sequence[tuple[str, list[str]]]) -> Lemmas:
    raw = {_plain(w) for name, forms in entries for form in (name, *forms) for w in words(form)}
    return Lemmas((frozenset(singular(w, raw) for w in raw),))


def _assign(entries, lemmas: Lemmas, phrases: dict, extra: bool, problems: list) -> None:
    """Point each form at its object; the first claim on a form wins. In the shipped file only
    the listed forms count (so the object "can" is not named by "can" alone) and a second claim
    is an error. In `extra` the name is a form too and a second claim is skipped: a dataset's
    element "hand" with synonym "person" must not move "person" away from "man" and "woman" (the
    element still makes person present in its own image)."""
    for name, forms in entries:
        key = tuple(lemmas.key(w) for w in words(name))
        target = phrases.get(key, name) if extra else name
        for i, form in enumerate((name, *forms) if extra else forms):
            key = tuple(lemmas.key(w) for w in words(form))
            if not extra and phrases.get(key, target) != target:
                problems.append((f"$[{name!r}][{i}]",
                                 f"{form!r} already names {phrases[key]!r}; keep it in one"))
            phrases.setdefault(key, target)


BUILTIN = "judgefree_hub/ic/objects.json"


def load_vocabulary(extra: Optional[Mapping[str, Sequence[str]]] = None, base: str = "objects.json",
                    more_forms: Optional[Mapping[str, Sequence[str]]] = None) -> Vocabulary:
    """The shipped vocabulary, extended by `extra` ({object: [synonyms]}): an extra object that
    is already a form (e.g. "puppy") adds its new synonyms to that object (dog); any other name
    is a new object. A form the vocabulary already has keeps its object; between extra entries
    the first claim wins, in the order given.

    `base` names the shipped file (objects.json; coco_objects.json holds CHAIR's 80 COCO
    categories, see chair.py); `more_forms` ({object: [forms]}) adds generated forms to the
    shipped file's objects, checked like the file's own (a form claimed twice is an error)."""
    problems: list[tuple[str, str]] = []
    where = f"judgefree_hub/ic/{base}"
    text = resources.files(__package__).joinpath(base).read_text(encoding="utf-8")
    data = json.loads(text)
    if isinstance(data, dict):  # "_about": what the file is, not an object
        data = {name: [*forms, *(more_forms or {}).get(name, ())] if isinstance(forms, list) else forms
                for name, forms in data.items() if not name.startswith("_")}
    base_entries = _entries(data, problems, named=False)
    if problems:
        raise ConfigError(where, problems)
    more = _entries(extra or {}, problems, named=True)
    if problems:
        raise ConfigError("extra vocabulary", problems)
    lemmas = _lemmas(base_entries + more)
    phrases: dict[Phrase, str] = {}
    _assign(base_entries, lemmas, phrases, False, problems)
    if problems:
        raise ConfigError(where, problems)
    _assign(more, lemmas, phrases, True, problems)
    return Vocabulary(MappingProxyType(phrases), lemmas, max(len(p) for p in phrases))


__all__ = [
    "IRREGULAR", "Lemmas", "NOT_PLURAL", "Phrase", "Vocabulary", "load_vocabulary", "segment",
    "singular", "words",
]
