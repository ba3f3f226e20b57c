"""CHAIR on the 80 COCO categories (vocabulary="coco") on hand-scored captions, and the
extended vocabulary's neutral scenery. Every expected value is worked out in the comments:
mentions are counted one by one (CHAIR counts every mention), h = hallucinated mentions."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from test_ic_score import COCO_80

from judgefree_hub.ic.chair import load_coco_vocabulary, score_caption_coco
from judgefree_hub.ic.evaluate import SCENE_OBJECTS, ICItem, score_all, write_reports
from judgefree_hub.ic.score import Element, ImageTruth, format_table
from judgefree_hub.ic.vocab import load_vocabulary


def obj(name, *synonyms, of=None):
    return Element(name, tuple(synonyms), "object", of)


def item(id_, *elements, domain="d"):
    return ICItem(ImageTruth(id_, domain, tuple(elements)), Image.new("RGB", (4, 4)), "Describe.")


@pytest.fixture(scope="module")
def coco():
    return load_coco_vocabulary()


def test_the_coco_vocabulary_is_the_80_categories_named_as_coco_names_them(coco):
    assert sorted(coco.categories) == sorted(COCO_80)
    assert all(coco.category(c) == c for c in COCO_80)
    assert all(coco.forms(c)[0] == c for c in COCO_80)
    # CHAIR's groupings
    pairs = {"table": "dining table", "desk": "dining table", "seat": "chair", "monitor": "tv",
             "computer": "laptop", "phone": "cell phone", "ball": "sports ball", "goat": "sheep",
             "bull": "cow", "bagel": "donut", "burger": "sandwich", "bow tie": "tie",
             "puppies": "dog", "children": "person", "kittens": "cat", "wine glasses": "wine glass"}
    assert {w: coco.category(w) for w in pairs} == pairs
    for word in ("sky", "water", "tree", "guitar", "glass", "plate", "grass", "flower"):
        assert coco.category(word) is None  # not a COCO category: never counted


def test_every_listed_form_is_one_mention_of_its_category_alone_and_in_a_sentence(coco):
    """Generated over the whole list: each form, in a sentence, is exactly one mention of its own
    category, and "baby"/"adult" before each animal category name names the animal only."""
    for category in coco.categories:
        for form in coco.forms(category):
            assert coco.category(form) == category, form
            assert coco.mentions(f"There is a {form} here.") == [category], form
    for animal in ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"):
        for qualifier in ("baby", "adult"):
            assert coco.mentions(f"A {qualifier} {animal} and a {qualifier}.") == [animal, "person"]


@pytest.mark.parametrize("caption,mentions", [
    ("A dog, a dog and another dog.", ["dog", "dog", "dog"]),  # every mention
    ("Hot dogs next to a dog.", ["hot dog", "dog"]),  # a hot dog is not a dog
    ("A teddy bear on a bed.", ["teddy bear", "bed"]),
    ("Wine glasses and a cell phone near a fire hydrant, a stop sign and a traffic light.",
     ["wine glass", "cell phone", "fire hydrant", "stop sign", "traffic light"]),
    ("A man with a baseball bat.", ["person", "baseball bat"]),
    ("A baby elephant and an adult giraffe.", ["elephant", "giraffe"]),  # no person
    ("A baby holds a puppy.", ["person", "dog"]),
    ("A baby animal.", []),
    ("Baby animals and adult cubs.", []),
    ("A baby puppy and a male dog.", ["person", "dog", "person", "dog"]),  # CHAIR: category names only
    ("A passenger jet; passengers board.", ["airplane", "person"]),
    ("A passenger train on the train tracks.", ["train"]),  # a train track names nothing
    ("A passenger plane.", ["person", "airplane"]),
    ("A microwave oven.", ["microwave", "oven"]),
    ("A stove top oven.", ["oven", "oven"]),  # CHAIR matches two words at a time
    ("Surfers, a tourist and a toddler with a mug and a hen.", []),  # not CHAIR's forms
    ("A toilet with the seat up.", ["toilet"]),  # the toilet's seat is no chair
    ("A toilet seat and a seat.", ["toilet"]),
    ("A seat in the car.", ["chair", "car"]),
    ("A man in a bow tie.", ["person", "tie"]),
    ("Blue sky over the water, trees and a guitar.", []),
])
def test_mentions(coco, caption, mentions):
    assert coco.mentions(caption) == mentions


def test_hand_scored_chair(coco):
    # 1 dog+frisbee: "A dog catches a frisbee while another dog watches." mentions dog, frisbee,
    #   dog -> 3, h 0
    # 2 person+surfboard: "Two men ride surfboards past a boat and a bird." mentions person,
    #   surfboard, boat, bird -> 4, h 2 (boat, bird)
    # 3 hot dog+dining table: "A hot dog on a table next to a dog and a dog bowl." mentions
    #   hot dog, dining table, dog, dog, bowl -> 5, h 3 (dog twice, bowl)
    # 4 elephant+tree: "A baby elephant near trees under a blue sky." mentions elephant -> 1,
    #   h 0 (baby is no person; tree and sky are no COCO objects)
    # 5 toilet+sink: "A toilet with its seat up beside a sink and a cat." mentions toilet, sink,
    #   cat -> 3, h 1 (cat)
    # 6 person: "A beautiful sunset over the hills." no mention -> 0, h 0
    # 7 giraffe + a non-COCO element: "Giraffes and zebras graze on the grass." giraffe, zebra
    #   -> 2, h 1 (zebra)
    truths = [
        (ImageTruth("1", "d", (obj("dog"), obj("frisbee"))),
         "A dog catches a frisbee while another dog watches."),
        (ImageTruth("2", "d", (obj("man", "surfer"), obj("surfboard"))),
         "Two men ride surfboards past a boat and a bird."),
        (ImageTruth("3", "d", (obj("hot dog"), obj("dining table"))),
         "A hot dog on a table next to a dog and a dog bowl."),
        (ImageTruth("4", "d", (obj("elephant"), obj("tree"))), "A baby elephant near trees under a blue sky."),
        (ImageTruth("5", "d", (obj("toilet"), obj("sink"))), "A toilet with its seat up beside a sink and a cat."),
        (ImageTruth("6", "d", (obj("person"),)), "A beautiful sunset over the hills."),
        (ImageTruth("7", "d", (obj("giraffe"), obj("savanna"))), "Giraffes and zebras graze on the grass."),
    ]
    scores = [score_caption_coco(t, c, coco) for t, c in truths]
    assert [(s.mentioned, s.hallucinated_mentions) for s in scores] == [
        (3, 0), (4, 2), (5, 3), (1, 0), (3, 1), (0, 0), (2, 1)]
    assert scores[1].hallucinated == ("bird", "boat") and scores[2].hallucinated == ("bowl", "dog")
    assert scores[2].chair_i == 0.6  # 3/5
    assert scores[3].recalled == ("elephant",) and scores[3].missed == ()  # the tree is ignored
    assert scores[5].chair_i is None and scores[5].recall == 0.0
    assert scores[6].missed == () and scores[6].recall == 1.0  # savanna is no COCO object

    items = [ICItem(t, Image.new("RGB", (4, 4)), "Describe.") for t, _ in truths]
    _, summary = score_all(items, {t.id: c for t, c in truths}, vocabulary="coco")
    assert summary["vocabulary"] == "coco"
    # CHAIR-i = (0+2+3+0+1+0+1) / (3+4+5+1+3+0+2) = 7/18; CHAIR-s = 4 of 7 (2, 3, 5, 7)
    assert summary["overall"]["chair_i"] == round(7 / 18, 4)
    assert summary["overall"]["chair_s"] == round(4 / 7, 4)


def test_coco_ignores_what_is_not_a_coco_object_and_reads_of(coco):
    # the cat is present through its colour's `of`; "orange" is read as CHAIR reads it (fruit)
    truth = ImageTruth("x", "d", (obj("astronaut"), Element("black", (), "attribute", "cat"),
                                  Element("2", (), "count", "dog"), Element("NASA", (), "text")))
    s = score_caption_coco(truth, "A black cat, two dogs and an orange.", coco)
    assert s.recalled == s.missed == ()  # no COCO object element: recall undefined
    assert s.recall is None and s.hallucinated == ("orange",) and s.mentioned == 3  # cat, dogs, orange


def test_extended_stays_the_default_and_the_summary_says_which(tmp_path):
    a = item("a", obj("dog"), obj("grass"))
    caps = {"a": "A dog on the grass by a table."}
    ext, summary = score_all([a], caps)
    assert summary["vocabulary"] == "extended"
    assert ext[0].hallucinated == ("dining table",) and ext[0].mentioned == 3
    write_reports(tmp_path, ext, summary, {"model": "m"})
    assert json.loads((tmp_path / "summary.json").read_text())["vocabulary"] == "extended"
    assert format_table(summary).endswith("; vocabulary extended")
    _, coco_summary = score_all([a], caps, vocabulary="coco")
    assert format_table(coco_summary).endswith("(CHAIR: the 80 COCO categories, every mention counted)")
    with pytest.raises(ValueError, match="vocabulary must be one of extended, coco, got 'chair'"):
        score_all([a], caps, vocabulary="chair")


def test_scenery_counts_only_where_the_dataset_annotates_it():
    vocab = load_vocabulary()
    assert all(vocab.canonical(w) == w for w in SCENE_OBJECTS)
    # no image annotates water or sky: they are neutral everywhere
    objects_only = [item("a", obj("boat")), item("b", obj("dog"))]
    caps = {"a": "A boat on the water under a blue sky.", "b": "A dog by the water."}
    scores, summary = score_all(objects_only, caps)
    assert [(s.hallucinated, s.mentioned) for s in scores] == [((), 1), ((), 1)]
    assert summary["overall"]["chair_s"] == 0.0
    # image c annotates water: the dataset scores water, so b's water is a hallucination
    annotated = [*objects_only, item("c", obj("water"), obj("fish"))]
    scores, _ = score_all(annotated, {**caps, "c": "Fish in the water."})
    assert scores[1].hallucinated == ("water",) and scores[2].recalled == ("water", "fish")
    assert scores[0].hallucinated == ("water",)  # sky is still neutral
