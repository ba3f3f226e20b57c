"""Judge-free IC caption scoring on hand-made captions; every expected value is worked out by
hand in the comments (R = recalled elements, H = hallucinated objects, M = objects named)."""

from __future__ import annotations

import json

import pytest

from judgefree_hub.errors import ConfigError
from judgefree_hub.ic.score import (
    Element,
    ImageTruth,
    compare,
    format_compare,
    format_table,
    score_caption,
    summarize,
)
from judgefree_hub.ic.vocab import load_vocabulary, singular

COCO_80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def obj(name, *synonyms, of=None):
    return Element(name, tuple(synonyms), "object", of)


def image(*elements, id="img", domain="general"):
    return ImageTruth(id, domain, tuple(elements))


# --- vocabulary -----------------------------------------------------------------------------

def test_every_coco_category_is_an_object(vocab):
    assert len(COCO_80) == 80
    assert [c for c in COCO_80 if c not in vocab.objects] == []
    assert all(vocab.canonical(c) == c for c in COCO_80)


@pytest.mark.parametrize("word", [
    "guitar", "drone", "camera", "tent", "mountain", "tree", "grass", "sky", "cloud", "snow",
    "water", "sea", "beach", "island", "sun", "moon", "star", "rock", "flower", "leaf", "fish",
    "turtle", "jellyfish", "headphones", "controller", "speaker", "mixer", "rocket", "astronaut",
    "helmet", "building", "road", "house", "coffee", "glass", "plate", "bottle"])
def test_everyday_objects_beyond_coco(vocab, word):
    assert vocab.canonical(word) == word


def test_can_is_an_object_but_not_the_verb(vocab):
    assert "can" in vocab.objects
    assert (vocab.canonical("can"), vocab.canonical("tin cans")) == (None, "can")


@pytest.mark.parametrize("form, canonical", [
    ("dining table", "dining table"), ("table", "dining table"), ("desk", "dining table"),
    ("television", "tv"), ("screen", "tv"), ("smartphone", "cell phone"), ("sofa", "couch"),
    ("motor bike", "motorcycle"), ("ocean", "sea"), ("women", "person"), ("soda can", "can"),
    ("bear", "bear"),
])
def test_synonym_forms(vocab, form, canonical):
    assert vocab.canonical(form) == canonical


@pytest.mark.parametrize("text, objects", [
    ("A puppy on a lawn", {"dog", "grass"}),
    ("two dogs", {"dog"}),
    ("a glass and two glasses", {"glass"}),
    ("buses and a bus", {"bus"}),
    ("people", {"person"}),
    ("knives", {"knife"}),
    ("three mice", {"mouse"}),
    ("leaves", {"leaf"}),
    ("a ski", {"skis"}),
    # a word inside another word never matches
    ("a category of concatenated strings", set()),
    ("a cart on a carpet", set()),
    ("a car, a cart and a carpet", {"car"}),
    # longest phrase wins, once
    ("a wine glass", {"wine glass"}),
    ("two wine glasses", {"wine glass"}),
    ("a cell phone", {"cell phone"}),
    ("a teddy bear", {"teddy bear"}),
    ("a dog eating a hot dog", {"dog", "hot dog"}),
    ("sea turtles", {"turtle"}),
    # "can" alone is a verb
    ("he can see a can of soda", {"can"}),
    ("this is a species of news", set()),
])
def test_mentions(vocab, text, objects):
    assert vocab.mentions(text) == objects


@pytest.mark.parametrize("plural, single", [
    ("glasses", "glass"), ("buses", "bus"), ("people", "person"), ("knives", "knife"),
    ("mice", "mouse"), ("dogs", "dog"), ("puppies", "puppy"), ("leaves", "leaf"), ("men", "man"),
    ("children", "child"), ("boxes", "box"),
    # not plurals: left alone
    ("glass", "glass"), ("bus", "bus"), ("grass", "grass"), ("species", "species"),
    ("news", "news"), ("lens", "lens"), ("this", "this"), ("is", "is"), ("fish", "fish"),
])
def test_singular(plural, single):
    assert singular(plural) == single


def test_singular_with_known_forms_takes_only_a_known_candidate():
    assert singular("houses", {"house"}) == "house"  # the rule guess would be "hous"
    assert singular("cookies", {"cookie"}) == "cookie"
    assert singular("cats", {"dog"}) == "cats"


def test_extra_vocabulary_extends_but_never_moves_a_form():
    v = load_vocabulary({"drone": ["quadcopter", "uav"], "puppy": ["pupper"],
                         "llama": ["alpaca"], "hand": ["arm", "person"], "yak": [],
                         "ibex": ["alpaca"]})
    assert v.canonical("yaks") == "yak"  # an extra name is a form even with no synonyms
    assert v.canonical("uav") == "drone"
    assert v.canonical("pupper") == "dog"  # "puppy" is a dog form: its synonyms join dog
    assert v.mentions("two alpacas") == {"llama"}  # first claim wins over "ibex"
    assert (v.canonical("arm"), v.canonical("person")) == ("hand", "person")  # never moved


def test_bad_extra_vocabulary_is_a_config_error():
    with pytest.raises(ConfigError) as e:
        load_vocabulary({"drone": "quadcopter", "kite": ["", "box kite"]})
    assert e.value.lines() == [
        "extra vocabulary: $['drone']: must be a list of synonyms, got str",
        "extra vocabulary: $['kite']: needs a list of synonyms, each with at least one word",
    ]


# --- one caption ----------------------------------------------------------------------------

def test_synonym_recalls_element(vocab):
    s = score_caption(image(obj("dog", "puppy")), "A puppy sleeps.", vocab)
    assert (s.recalled, s.missed, s.hallucinated) == (("dog",), (), ())
    assert (s.precision, s.recall, s.f1, s.chair_i, s.mentioned) == (1.0, 1.0, 1.0, 0.0, 1)


def test_vocabulary_synonym_recalls_object_element(vocab):
    # the element lists no synonyms; "hound" is a dog form in the vocabulary
    s = score_caption(image(obj("dog")), "A hound.", vocab)
    assert s.recalled == ("dog",)


def test_repeated_mentions_count_once(vocab):
    s = score_caption(image(obj("dog"), obj("frisbee")), "A dog, a dog and another dog.", vocab)
    # R = 1 (dog), H = 0, M = 1 -> P = 1/1, recall = 1/2, F1 = 2*1*0.5/1.5 = 2/3
    assert (s.recalled, s.missed, s.mentioned) == (("dog",), ("frisbee",), 1)
    assert (s.precision, s.recall) == (1.0, 0.5)
    assert s.f1 == pytest.approx(2 / 3)


def test_hallucinated_object(vocab):
    s = score_caption(image(obj("dog")), "A dog chases a cat and two cats.", vocab)
    # R = 1, H = 1 (cat, once), M = 2 -> P = 1/2, recall = 1, F1 = 2*0.5*1/1.5 = 2/3, CHAIR-i 1/2
    assert s.hallucinated == ("cat",)
    assert (s.precision, s.recall, s.chair_i, s.mentioned) == (0.5, 1.0, 0.5, 2)
    assert s.f1 == pytest.approx(2 / 3)


def test_teddy_bear_is_not_a_bear(vocab):
    s = score_caption(image(obj("bear")), "A teddy bear.", vocab)
    # R = 0, H = 1 -> P = 0/1 = 0, recall 0, F1 0 (both zero), CHAIR-i 1/1
    assert (s.recalled, s.hallucinated) == ((), ("teddy bear",))
    assert (s.precision, s.recall, s.f1, s.chair_i) == (0.0, 0.0, 0.0, 1.0)


def test_attribute_text_and_count_elements(vocab):
    truth = image(obj("stop sign"), Element("red", (), "attribute", "stop sign"),
                  Element("STOP", (), "text"), obj("car"), Element("2", (), "count", "car"),
                  Element("Open 24 Hours", (), "text"), Element("CATS", (), "text"))
    s = score_caption(truth, "Two cars wait at a red stop sign that says Stop; "
                             "a shop reads OPEN 24 HOURS and has a cat poster.", vocab)
    # "two" = count 2; text matched case-insensitively; text is never singularised, so "cat"
    # does not recall "CATS", and cat is a hallucinated object: R = 6, H = 1, M = 3
    assert s.recalled == ("stop sign", "red", "STOP", "car", "2", "Open 24 Hours")
    assert s.missed == ("CATS",)
    assert s.hallucinated == ("cat",)
    assert (s.precision, s.recall, s.chair_i) == (6 / 7, 6 / 7, 1 / 3)


def test_attribute_word_is_not_read_as_an_object(vocab):
    truth = image(obj("car"), Element("orange", (), "attribute", "car"))
    s = score_caption(truth, "An orange car.", vocab)
    # "orange" is this image's colour, not the fruit: R = 2, H = 0, M = 1 (car)
    assert (s.recalled, s.hallucinated, s.mentioned, s.precision) == (("car", "orange"), (), 1,
                                                                      1.0)


def test_of_makes_its_object_present(vocab):
    truth = image(Element("red", (), "attribute", "car"), obj("sky"))
    s = score_caption(truth, "A red car under the sky.", vocab)
    # car is named and present (red is "of" car) but is no element: neither right nor wrong
    # R = 2 (red, sky), H = 0, M = 2 -> P = 1, CHAIR-i 0/2
    assert (s.recalled, s.hallucinated, s.mentioned, s.chair_i) == (("red", "sky"), (), 2, 0.0)


def test_element_outside_the_vocabulary_matches_its_plural(vocab):
    s = score_caption(image(obj("llama", "alpaca")), "Two alpacas graze.", vocab)
    assert (s.recalled, s.precision, s.mentioned, s.chair_i) == (("llama",), 1.0, 0, None)


def test_caption_that_mentions_nothing(vocab):
    s = score_caption(image(obj("mountain"), obj("snow")), "A beautiful view.", vocab)
    assert (s.precision, s.recall, s.f1, s.chair_i, s.mentioned) == (None, 0.0, None, None, 0)
    assert s.missed == ("mountain", "snow")


def test_to_json_is_plain_and_rounded(vocab):
    s = score_caption(image(obj("dog"), obj("cat"), obj("sky")), "A dog.", vocab)
    out = json.loads(json.dumps(s.to_json()))
    assert out["recalled"] == ["dog"] and out["missed"] == ["cat", "sky"]
    assert out["recall"] == 0.3333 and out["f1"] == 0.5  # 1/3; 2*1*(1/3)/(4/3) = 1/2


def test_bad_element_kind_and_empty_image_are_config_errors(vocab):
    with pytest.raises(ConfigError, match="kind: must be one of"):
        Element("dog", (), "animal")
    with pytest.raises(ConfigError, match="needs at least one element"):
        score_caption(image(), "A dog.", vocab)


# --- many captions --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three(vocab):
    a = score_caption(
        image(obj("dog", "puppy"), obj("frisbee"), obj("grass"),
              Element("red", (), "attribute", "frisbee"), id="a", domain="nature"),
        "A puppy catches a red frisbee on the grass next to a cat.", vocab)
    b = score_caption(
        image(obj("wine glass"), obj("knife"), obj("cell phone"), obj("table"),
              Element("OPEN", (), "text"), id="b", domain="kitchen"),
        "Two knives and a wine glass on the table next to a laptop.", vocab)
    c = score_caption(image(obj("mountain"), obj("snow"), obj("tent"), id="c", domain="nature"),
                      "A beautiful view.", vocab)
    return a, b, c


def test_three_captions_one_by_one(three):
    a, b, c = three
    # a: R = 4 (dog, frisbee, grass, red), H = 1 (cat), M = 4, elements 4
    #    P = 4/5 = 0.8, recall 4/4 = 1, F1 = 2*0.8*1/1.8 = 8/9, CHAIR-i 1/4
    assert (a.precision, a.recall, a.chair_i, a.hallucinated) == (0.8, 1.0, 0.25, ("cat",))
    assert a.f1 == pytest.approx(8 / 9)
    # b: R = 3 (wine glass, knife, table), H = 1 (laptop), M = 4, elements 5
    #    P = 3/4, recall 3/5, F1 = 2*0.75*0.6/1.35 = 2/3, CHAIR-i 1/4
    assert (b.recalled, b.missed) == (("wine glass", "knife", "table"), ("cell phone", "OPEN"))
    assert (b.precision, b.recall, b.chair_i, b.hallucinated) == (0.75, 0.6, 0.25, ("laptop",))
    assert b.f1 == pytest.approx(2 / 3)
    # c: nothing countable, elements 3
    assert (c.precision, c.recall, c.mentioned) == (None, 0.0, 0)


def test_summarize_micro_macro_chair_and_domains(three):
    assert summarize(three) == {
        "counts": {"images": 3, "captions": 3, "nothing_countable": 1},
        "overall": {
            # micro: R 4+3+0 = 7, H 1+1+0 = 2, elements 4+5+3 = 12
            #   P = 7/9 = 0.7778, recall = 7/12 = 0.5833, F1 = 2*(7/9)*(7/12)/(7/9+7/12) = 2/3
            "micro": {"precision": 0.7778, "recall": 0.5833, "f1": 0.6667},
            # macro: P (0.8+0.75)/2 = 0.775 (c skipped), recall (1+0.6+0)/3 = 0.5333,
            #   F1 (8/9 + 2/3)/2 = 7/9 = 0.7778 (c skipped)
            "macro": {"precision": 0.775, "recall": 0.5333, "f1": 0.7778},
            "chair_i": 0.25,  # H 2 / M (4+4+0) = 0.25
            "chair_s": 0.6667,  # a and b hallucinate, c does not: 2/3
        },
        "domains": {
            # b alone
            "kitchen": {"captions": 1, "precision": 0.75, "recall": 0.6, "f1": 0.6667,
                        "chair_i": 0.25, "chair_s": 1.0},
            # a + c: P 4/5, recall 4/7 = 0.5714, F1 = 2*(4/5)*(4/7)/(4/5+4/7) = 2/3,
            #   CHAIR-i 1/4, CHAIR-s 1/2
            "nature": {"captions": 2, "precision": 0.8, "recall": 0.5714, "f1": 0.6667,
                       "chair_i": 0.25, "chair_s": 0.5},
        },
    }


def test_summarize_nothing():
    out = summarize([])
    assert out["counts"] == {"images": 0, "captions": 0, "nothing_countable": 0}
    assert out["overall"]["micro"] == {"precision": None, "recall": None, "f1": None}
    assert (out["overall"]["chair_i"], out["overall"]["chair_s"]) == (None, None)
    assert out["domains"] == {}


def test_compare_deltas(three):
    a, b, _ = three
    rows = compare(summarize(three), summarize([a, b]))
    # without c: micro R 7/9 = 0.7778 (elements 9); macro recall (1+0.6)/2 = 0.8;
    # CHAIR-s 2/2; nature = a alone, F1 8/9 = 0.8889
    assert rows == [
        ("micro.precision", 0.7778, 0.7778, 0.0),
        ("micro.recall", 0.5833, 0.7778, 0.1945),
        ("micro.f1", 0.6667, 0.7778, 0.1111),
        ("macro.precision", 0.775, 0.775, 0.0),
        ("macro.recall", 0.5333, 0.8, 0.2667),
        ("macro.f1", 0.7778, 0.7778, 0.0),
        ("chair_i", 0.25, 0.25, 0.0),
        ("chair_s", 0.6667, 1.0, 0.3333),
        ("domains.kitchen.f1", 0.6667, 0.6667, 0.0),
        ("domains.nature.f1", 0.6667, 0.8889, 0.2222),
    ]


def test_compare_domain_on_one_side_only(three):
    a, b, _ = three
    rows = compare(summarize([a]), summarize([b]))
    assert rows[-2:] == [("domains.kitchen.f1", None, 0.6667, None),
                         ("domains.nature.f1", 0.8889, None, None)]


def test_format_table(three):
    lines = format_table(summarize(three)).splitlines()
    assert lines[0].split() == ["metric", "micro", "macro"]
    assert lines[1].split() == ["precision", "0.7778", "0.7750"]
    assert lines[4].split() == ["CHAIR-i", "0.2500"]
    assert lines[9].split() == ["nature", "2", "0.8000", "0.5714", "0.6667", "0.2500", "0.5000"]
    assert lines[-1] == "3 captions of 3 images; 1 mention nothing countable"
    domain_rows = lines[7:10]
    assert len({len(line) for line in domain_rows}) == 1  # right-aligned numbers


def test_format_compare(three):
    a, b, _ = three
    lines = format_compare(compare(summarize([a]), summarize([a, b]))).splitlines()
    assert lines[0].split() == ["metric", "a", "b", "delta"]
    assert lines[2].split() == ["micro.recall", "1.0000", "0.7778", "-0.2222"]
    assert lines[-2].split() == ["domains.kitchen.f1", "-", "0.6667", "-"]
    assert len({len(line) for line in lines}) == 1
