"""The verifier's pure rules: reversal, margin, min_gap, text-only drops (no model needed)."""

from __future__ import annotations

import pytest
from PIL import Image

from judgefree_hub.records import Dropped, DropReason, LoadedSample, Pair, Sample, VerifiedPair
from judgefree_hub.verifiers import VERIFIERS, ClipVerifier, decide
from judgefree_hub.verifiers.base import normalize_whitespace, text_drop


def make_pair(positive: str = "A red bus.", negative: str = "A blue car.", key: str = "k1") -> Pair:
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    sample = Sample(key=key, source_id="src", prompt="Describe.", load_image=lambda: image)
    return Pair(LoadedSample(sample, image), positive, negative, 0.0, 0.6)


def test_no_reversal_when_positive_wins():
    pair = make_pair()
    out = decide(pair, 0.31, 0.29, reverse_margin=0.0, min_gap=0.0)
    assert out == VerifiedPair(pair, "A red bus.", "A blue car.", 0.31, 0.29, 0.0, 0.6,
                               reversed=False)


def test_reversal_swaps_texts_scores_and_ratios():
    pair = make_pair()
    out = decide(pair, 0.30, 0.35, reverse_margin=0.0, min_gap=0.0)
    assert isinstance(out, VerifiedPair)
    assert out.reversed is True
    assert (out.chosen, out.rejected) == ("A blue car.", "A red bus.")
    assert (out.chosen_score, out.rejected_score) == (0.35, 0.30)
    assert (out.chosen_ratio, out.rejected_ratio) == (0.6, 0.0)
    assert out.pair is pair


def test_no_reversal_at_exactly_the_margin():
    out = decide(make_pair(), 0.30, 0.35, reverse_margin=0.05, min_gap=0.0)
    assert isinstance(out, VerifiedPair) and out.reversed is False
    assert out.chosen == "A red bus." and out.chosen_score == 0.30


def test_reversal_just_above_the_margin():
    out = decide(make_pair(), 0.30, 0.350001, reverse_margin=0.05, min_gap=0.0)
    assert isinstance(out, VerifiedPair) and out.reversed is True
    assert out.chosen_score == 0.350001


def test_equal_scores_kept_with_min_gap_zero():
    out = decide(make_pair(), 0.25, 0.25, reverse_margin=0.0, min_gap=0.0)
    assert isinstance(out, VerifiedPair) and out.reversed is False


@pytest.mark.parametrize("pos, neg", [(0.30, 0.31), (0.31, 0.30), (0.30, 0.319999)])
def test_below_min_gap_dropped(pos, neg):
    out = decide(make_pair(key="s7"), pos, neg, reverse_margin=0.0, min_gap=0.02)
    assert isinstance(out, Dropped)
    assert (out.key, out.reason) == ("s7", DropReason.BELOW_MIN_GAP)
    assert "min_gap 0.02" in out.detail


def test_gap_equal_to_min_gap_is_kept():
    # 0.5 - 0.3 is 0.19999999999999998 in floats; the rounded gap is compared.
    out = decide(make_pair(), 0.5, 0.3, reverse_margin=0.0, min_gap=0.2)
    assert isinstance(out, VerifiedPair) and out.chosen_score == 0.5


def test_scores_rounded_to_six_decimals():
    out = decide(make_pair(), 0.12345678, 0.0123456789, reverse_margin=0.0, min_gap=0.0)
    assert (out.chosen_score, out.rejected_score) == (0.123457, 0.012346)
    assert type(out.chosen_score) is float


def test_identical_after_whitespace_normalisation():
    pair = make_pair(" A cat\n sits  on a mat. ", "A cat sits\ton a mat.")
    out = decide(pair, 0.1, 0.9, reverse_margin=0.0, min_gap=0.0)
    assert isinstance(out, Dropped)
    assert (out.key, out.reason) == ("k1", DropReason.IDENTICAL_ANSWERS)


def test_case_difference_is_not_identical():
    assert text_drop(make_pair("A cat.", "a cat.")) is None
    assert normalize_whitespace("  a\n\tb  c ") == "a b c"


@pytest.mark.parametrize("pos, neg, which", [
    ("  \n", "A dog.", "positive"),
    ("A dog.", "", "negative"),
    ("", " ", "positive and negative"),
])
def test_empty_answers_dropped_first(pos, neg, which):
    out = decide(make_pair(pos, neg), 0.9, 0.1, reverse_margin=0.0, min_gap=0.5)
    assert out == Dropped("k1", DropReason.EMPTY_ANSWER, f"{which} answer is empty")


def test_registry_knows_clip():
    assert VERIFIERS.get("clip") is ClipVerifier
    with pytest.raises(KeyError, match="did you mean 'clip'"):
        VERIFIERS.get("clap")


def test_reverse_off_keeps_the_generation_label_but_still_drops():
    pair = make_pair()
    out = decide(pair, 0.30, 0.35, reverse_margin=0.0, min_gap=0.0, reverse=False)
    assert isinstance(out, VerifiedPair) and out.reversed is False
    assert (out.chosen, out.rejected, out.chosen_score, out.rejected_score) == ("A red bus.", "A blue car.", 0.30, 0.35)
    assert isinstance(decide(pair, 0.30, 0.30001, reverse_margin=0.0, min_gap=0.01, reverse=False), Dropped)
