"""ClipVerifier on a tiny open_clip model built here and loaded through the real loading path."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

import judgefree_hub
from judgefree_hub.errors import ModelLoadError
from judgefree_hub.records import Dropped, DropReason, LoadedSample, Pair, Sample, VerifiedPair
from judgefree_hub.verifiers import ClipVerifier
from judgefree_hub.verifiers.clip import Params, count_tokens, split_sentences

TINY = "jfhub-tiny-clip-test"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8,
                   "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}
SENTENCE = "The small brown dog runs across the green field near a tall old tree today."
LONG = " ".join([SENTENCE, "A red kite flies high above the calm blue lake in the morning.",
                 "Two children sit on a wooden bench and eat cold vanilla ice cream.",
                 "Behind them a white fence runs along a narrow dirt road!",
                 "Is there a bicycle leaning against the fence?\nYes, a yellow one.",
                 "Far away, grey clouds gather over the hills and a storm is coming."])


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """Config registered with open_clip plus a weights file: (model name, weights, folder)."""
    root = tmp_path_factory.mktemp("tiny_clip")
    (root / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(root / f"{TINY}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    weights = root / "tiny.pt"
    torch.save(model.state_dict(), weights)
    local = root / "local"
    local.mkdir()
    (local / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG}))
    torch.save(model.state_dict(), local / "open_clip_pytorch_model.bin")
    return TINY, str(weights), local


@pytest.fixture(scope="module")
def params(tiny_files):
    return Params(model=tiny_files[0], pretrained=tiny_files[1], batch_size=3, device="cpu")


@pytest.fixture(scope="module")
def verifier(params):
    return ClipVerifier(params).load()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    ramp = np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (40, 1))
    return noise, Image.fromarray(np.stack([ramp, ramp.T, 255 - ramp], axis=-1))


def direct_scores(v: ClipVerifier, image: Image.Image, texts: list[str]) -> list[float]:
    """Cosine computed straight from open_clip, as the reference."""
    with torch.inference_mode():
        img = v._model.encode_image(v._preprocess(image)[None], normalize=True)
        txt = v._model.encode_text(v._tokenizer(texts), normalize=True)
    return (txt @ img.T)[:, 0].tolist()


def test_scores_match_open_clip_and_are_deterministic(verifier, images):
    texts = ["a dog", "a photo of a cat", "a red car on a road", "a tree"]
    first = verifier.score([images[0]] * 4, texts)
    assert first == verifier.score([images[0]] * 4, texts)
    assert all(type(s) is float and -1.0 <= s <= 1.0 for s in first)
    assert len(set(first)) == 4
    assert first == pytest.approx(direct_scores(verifier, images[0], texts), abs=1e-6)
    assert verifier.score([], []) == []
    other = verifier.score([images[1]] * 4, texts)
    assert other == pytest.approx(direct_scores(verifier, images[1], texts), abs=1e-6)
    assert other != pytest.approx(first, abs=1e-4)


def test_each_image_encoded_once(verifier, images, monkeypatch):
    seen: list[int] = []
    original = verifier._encode_images

    def counting(batch):
        seen.append(len(batch))
        return original(batch)

    monkeypatch.setattr(verifier, "_encode_images", counting)
    a, b = images
    scores = verifier.score([a, b, a, b, a], ["x", "y", "z", "w", "v"])
    assert seen == [2]
    assert scores[0] == pytest.approx(direct_scores(verifier, a, ["x"])[0], abs=1e-6)


def test_token_counts_simple_tokenizer(verifier):
    tok = verifier._tokenizer
    assert count_tokens(tok, "a photo of a cat") == 7
    assert count_tokens(tok, "") == 2
    assert count_tokens(tok, LONG) == int((tok([LONG], context_length=500) != 0).sum())
    assert count_tokens(tok, LONG) > 77 >= count_tokens(tok, SENTENCE)
    assert verifier.context_length == 77


def test_token_counts_hf_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "cat": 4, "sits": 5}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]", pad_token="[UNK]").save_pretrained(tmp_path)
    tok = open_clip.tokenizer.HFTokenizer(str(tmp_path), context_length=4)
    assert count_tokens(tok, "a cat  sits a cat") == 7
    assert tok(["a cat sits a cat"]).shape == (1, 4)  # the model would truncate


def test_split_sentences():
    text = "One. Two!  Three?\nFour\n\n five.5 stays.. six"
    assert split_sentences(text) == ["One.", "Two!", "Three?", "Four", "five.5 stays..", "six"]


def test_sentence_mean_on_long_answer(verifier, images):
    sentences = split_sentences(LONG)
    assert len(sentences) == 7
    per_sentence = verifier.score([images[0]] * 7, sentences)
    assert len(set(per_sentence)) == 7
    [long_score] = verifier.score([images[0]], [LONG])
    assert long_score == pytest.approx(sum(per_sentence) / 7, abs=1e-6)


def test_truncate_differs_on_long_and_agrees_on_short(params, verifier, images):
    trunc = ClipVerifier(replace(params, long_text="truncate")).load()
    [t_long] = trunc.score([images[0]], [LONG])
    assert t_long == pytest.approx(direct_scores(trunc, images[0], [LONG])[0], abs=1e-6)
    assert abs(t_long - verifier.score([images[0]], [LONG])[0]) > 1e-4
    assert trunc.score([images[0]], [SENTENCE]) == verifier.score([images[0]], [SENTENCE])


def test_judge_on_tiny_model_records_rounded_floats(verifier, images):
    """The answer CLIP scores higher is chosen, with its own score, whichever way round the pair
    came: judged both ways, exactly one of the two is a reversal."""
    texts = ["a dog", "a photo of a cat"]
    scores = dict(zip(texts, verifier.score([images[1]] * 2, texts), strict=True))
    high, low = sorted(texts, key=scores.get, reverse=True)
    assert abs(scores[high] - scores[low]) > 1e-5
    both = verifier.judge([make_pair(images[1], *texts, "p1"),
                           make_pair(images[1], *texts[::-1], "p2")])
    for out in both:
        assert isinstance(out, VerifiedPair)
        assert (out.chosen, out.rejected) == (high, low)
        assert out.chosen_score == round(scores[high], 6)
        assert out.rejected_score == round(scores[low], 6)
        assert out.reversed is (out.pair.positive == low)
        assert type(out.chosen_score) is float
    assert sorted(out.reversed for out in both) == [False, True]


def test_local_dir_and_demo_refs_ignore_pretrained(tiny_files, verifier, images, monkeypatch):
    local = tiny_files[2]
    fake = types.ModuleType("judgefree_hub.demo")
    fake.resolve = lambda ref: str(local) if ref == "demo:tiny" else None
    monkeypatch.setitem(sys.modules, "judgefree_hub.demo", fake)
    monkeypatch.setattr(judgefree_hub, "demo", fake, raising=False)
    expected = verifier.score([images[0]], ["a tree"])
    for ref in (f"local-dir:{local}", "demo:tiny"):
        v = ClipVerifier(Params(model=ref, pretrained="openai", device="cpu")).load()
        assert v.score([images[0]], ["a tree"]) == pytest.approx(expected, abs=1e-6)


def test_unknown_model_name():
    with pytest.raises(ModelLoadError) as info:
        ClipVerifier(Params(model="ViT-B-33", device="cpu")).load()
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, OSError)
    assert msg.startswith("verifier model 'ViT-B-33': unknown open_clip model (did you mean 'ViT-")


def test_pretrained_tag_offline(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    with pytest.raises(ModelLoadError) as info:
        ClipVerifier(Params(model="RN50", pretrained="openai", device="cpu")).load()
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("verifier model 'RN50' (pretrained='openai') cannot be loaded: ")
    assert msg.endswith("offline, pass a local weights file as pretrained, or model "
                        "local-dir:/path holding open_clip_config.json and weights")


def test_missing_weights_file(tiny_files, tmp_path):
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(ModelLoadError, match="is not a known tag or valid file path"):
        ClipVerifier(Params(model=tiny_files[0], pretrained=missing, device="cpu")).load()


def test_from_options_ignores_name():
    v = ClipVerifier.from_options({"name": "clip", "model": "demo:x", "pretrained": None,
                                   "long_text": "truncate", "reverse_margin": 0.1,
                                   "min_gap": 0.0, "batch_size": 8, "device": "cpu"})
    assert v.params == Params("demo:x", None, "truncate", 0.1, 0.0, 8, "cpu")


@pytest.mark.parametrize("model, pretrained, expected", [
    ("ViT-L-14-336", "openai", "clip:ViT-L-14-336/openai"),
    ("ViT-B-32", "/home/me/weights/tiny.pt", "clip:ViT-B-32/tiny.pt"),
    ("local-dir:/data/models/my-clip/", "openai", "clip:local-dir:my-clip"),
    ("hf-hub:org/repo", "openai", "clip:hf-hub:org/repo"),
    ("demo:tiny-clip", None, "clip:demo:tiny-clip"),
])
def test_describe_id(model, pretrained, expected):
    assert ClipVerifier(Params(model=model, pretrained=pretrained)).describe_id() == expected


class StubVerifier(ClipVerifier):
    """Scores chosen by a table, so judge()'s plumbing is tested without a model."""

    TABLE = {"pos a": 0.30, "neg a": 0.20, "pos b": 0.10, "neg b": 0.40,
             "pos c": 0.50, "neg c": 0.51}

    def __init__(self, params: Params):
        super().__init__(params)
        self.calls: list[tuple[list, list[str]]] = []

    def score(self, images, texts, split=None):
        self.calls.append((list(images), list(texts)))
        return [self.TABLE[t] for t in texts]

    def _too_long(self, text):
        return False  # no tokenizer here: every answer fits


def make_pair(image, positive, negative, key):
    sample = Sample(key=key, source_id="s", prompt="Describe.", load_image=lambda: image)
    return Pair(LoadedSample(sample, image), positive, negative, 0.0, 0.5)


def test_judge_keeps_order_reverses_and_drops(images):
    stub = StubVerifier(Params(model="none", min_gap=0.05, device="cpu"))
    a, b = images
    pairs = [make_pair(a, "pos a", "neg a", "ka"), make_pair(b, "pos b", "neg b", "kb"),
             make_pair(a, "same  text", "same text", "kd"), make_pair(b, "pos c", " ", "ke"),
             make_pair(a, "pos c", "neg c", "kc")]
    out = stub.judge(pairs)
    assert [type(o).__name__ for o in out] == ["VerifiedPair", "VerifiedPair", "Dropped",
                                               "Dropped", "Dropped"]
    assert (out[0].chosen, out[0].reversed, out[0].chosen_score) == ("pos a", False, 0.3)
    assert (out[1].chosen, out[1].reversed, out[1].chosen_score) == ("neg b", True, 0.4)
    assert (out[1].chosen_ratio, out[1].rejected_ratio) == (0.5, 0.0)
    assert [(o.key, o.reason) for o in out[2:]] == [
        ("kd", DropReason.IDENTICAL_ANSWERS), ("ke", DropReason.EMPTY_ANSWER),
        ("kc", DropReason.BELOW_MIN_GAP)]
    [(called_images, called_texts)] = stub.calls
    assert called_texts == ["pos a", "neg a", "pos b", "neg b", "pos c", "neg c"]
    assert [id(i) for i in called_images] == [id(a), id(a), id(b), id(b), id(a), id(a)]
    assert isinstance(out[2], Dropped)


def test_judge_without_scorable_pairs_never_scores(images):
    stub = StubVerifier(Params(model="none", device="cpu"))
    out = stub.judge([make_pair(images[0], "", "x", "k0")])
    assert out == [Dropped("k0", DropReason.EMPTY_ANSWER, "positive answer is empty")]
    assert stub.calls == []


@pytest.mark.parametrize("long_first", [True, False])
def test_both_answers_of_a_pair_are_scored_the_same_way(verifier, images, long_first):
    """One answer over the context makes both sentence means: a whole-text score against a
    sentence mean would compare two different estimators."""
    short = "A cat sits. A dog runs."
    pos, neg = (LONG, short) if long_first else (short, LONG)
    [out] = verifier.judge([make_pair(images[0], pos, neg, "p")])
    halves = verifier.score([images[0]] * 2, ["A cat sits.", "A dog runs."])
    short_as_sentences = round(sum(halves) / 2, 6)
    [short_whole] = verifier.score([images[0]], [short])
    assert abs(short_whole - sum(halves) / 2) > 1e-4  # the two estimators differ on this text
    assert short_as_sentences in (out.chosen_score, out.rejected_score)
    [two_short] = verifier.judge([make_pair(images[0], short, "A bird flies.", "q")])
    assert round(short_whole, 6) in (two_short.chosen_score, two_short.rejected_score)  # no long answer: whole
