"""The static-cache decoding path writes exactly what the dynamic one writes: every family's tiny
checkpoint, both mixing spaces, greedy and sampled, with answers that end at different steps (so
finished rows stay in the batch, masked, until it halves, and are then dropped)."""

import random

import pytest
import torch

from judgefree_hub.backends import AnswerPlan, Branch, decode_answers, load_backend
from judgefree_hub.backends.hf import static_cache_for
from judgefree_hub.recipe import GenerationSpec, ModelSpec

FAMILIES = ["demo:tiny-llava", "demo:tiny-llava-next", "demo:tiny-qwen2-vl", "demo:tiny-qwen2.5-vl",
            "demo:tiny-idefics3"]


def gen(do_sample: bool) -> GenerationSpec:
    return GenerationSpec(max_new_tokens=20, do_sample=do_sample, temperature=1.0, top_k=0, top_p=1.0)


@pytest.fixture(scope="module", params=FAMILIES)
def backend(request, jfhub_cache):
    spec = ModelSpec(id=request.param, revision=None, dtype="float32", device="cpu", batch_size=8,
                     generation=gen(False), cache="dynamic")
    return load_backend(spec)


def plan(photos, seed: int):
    """Per photo: a positive (its image row alone) and a negative mixing its image row with the
    image-free row at a drawn ratio; the two image rows share one prefill."""
    rnd = random.Random(seed)
    rows, answers = [], []
    for i, (prompt, image) in enumerate(photos):
        prompt = prompt + " Answer." * rnd.randrange(3)  # prompts of other lengths: left padding
        answers.append(AnswerPlan(len(rows), None, 0.0, seed * 100 + 2 * i))
        rows.append(Branch(prompt, image))
        answers.append(AnswerPlan(len(rows), len(rows) + 1, rnd.choice([0.3, 0.7, 1.0]), seed * 100 + 2 * i + 1))
        rows += [Branch(prompt, image), Branch(prompt, None)]
    return rows, answers


def run(backend, static: bool, rows, answers, do_sample, space, eos):
    backend.static_cache = static
    saved = backend.eos_token_ids
    backend.eos_token_ids = eos
    try:
        return decode_answers(backend, rows, answers, gen(do_sample), space)
    finally:
        backend.static_cache, backend.eos_token_ids = False, saved


def cutting_tokens(tokens: list[list[int]], seed: int) -> frozenset[int]:
    """End-of-sequence ids that cut three answers in four at different steps (each at a token it
    wrote), so the batch shrinks step by step while the rest run to the end."""
    rnd = random.Random(seed)
    cut = [t for t in tokens if len(t) > 2 and rnd.random() < 0.75]
    return frozenset(t[rnd.randrange(1, len(t) - 1)] for t in cut)


@pytest.mark.parametrize("space", ["logits", "probs"])
@pytest.mark.parametrize("do_sample", [False, True])
def test_static_cache_answers_equal_dynamic(backend, photos, space, do_sample, monkeypatch):
    rows, answers = plan(photos, seed=3 + do_sample)
    written: list[list[int]] = []
    decode_text = backend.decode_text
    monkeypatch.setattr(backend, "decode_text", lambda toks: (written.append(list(toks)), decode_text(toks))[1])
    run(backend, False, rows, answers, do_sample, space, backend.eos_token_ids)
    eos = backend.eos_token_ids | cutting_tokens(written, seed=len(written))
    written.clear()
    dynamic = run(backend, False, rows, answers, do_sample, space, eos)
    lengths = [len(t) for t in written]
    assert len(set(lengths)) > 2, "answers must end at different steps for this test to mean anything"

    shapes = []
    select = type(backend)._select
    monkeypatch.setattr(type(backend), "_select",
                        lambda self, keep: (shapes.append((self._state.mask.shape[0], len(keep))),
                                            select(self, keep))[1])
    static = run(backend, True, rows, answers, do_sample, space, eos)
    assert static == dynamic
    shrinks = [(before, after) for before, after in shapes if after < before]
    assert shrinks and all(2 * after <= before for before, after in shrinks)  # only when it halves


def test_static_is_the_default_on_cuda_only():
    assert static_cache_for(torch.device("cuda", 0), "auto") and not static_cache_for(torch.device("cpu"), "auto")
    assert static_cache_for(torch.device("cpu"), "static") and not static_cache_for(torch.device("cuda"), "dynamic")
