import pytest
from PIL import Image

from judgefree_hub.errors import SourceError
from judgefree_hub.ic.evaluate import ICItem, dataset_vocabulary, read_captions, score_all
from judgefree_hub.ic.score import Element, ImageTruth


def item(id_, *elements):
    return ICItem(ImageTruth(id_, "d", tuple(elements)), Image.new("RGB", (4, 4)), "Describe.")


def test_dataset_objects_extend_the_vocabulary_but_not_scene_filler():
    a = item("a", Element("tasmanian devil", ("devil",), "object"), Element("background", (), "object"),
             Element("dark", (), "attribute"))
    b = item("b", Element("guitar", ("stand",), "object"))
    assert dataset_vocabulary([a, b]) == {"tasmanian devil": ("devil",), "guitar": ()}


def test_score_all_uses_the_extension_and_needs_every_caption():
    a = item("a", Element("tasmanian devil", ("devil",), "object"), Element("rock", (), "object"))
    b = item("b", Element("dog", (), "object"))
    scores, summary = score_all([a, b], {"a": "A devil on a rock.", "b": "A dog next to a tasmanian devil."})
    assert scores[0].recall == 1.0 and scores[0].hallucinated == ()
    assert scores[1].hallucinated == ("tasmanian devil",)  # a dataset object, absent from image b
    assert summary["overall"]["chair_s"] == 0.5
    with pytest.raises(SourceError, match=r"no caption for 1 image\(s\), e\.g\. \['b'\]"):
        score_all([a, b], {"a": "x"})


def test_read_captions_names_the_bad_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": "a", "caption": "x"}\n{"id": "b"}\n')
    with pytest.raises(SourceError, match=r"c\.jsonl:2: each line needs string fields 'id' and 'caption'"):
        read_captions(p)
    p.write_text('{"id": "a", "caption": "x"}\n\n')
    assert read_captions(p) == {"a": "x"}
