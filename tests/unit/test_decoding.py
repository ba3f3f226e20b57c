"""The batched mixed decoding loop on the demo recipe's tiny LLaVA: seeded sampling and the row
checks. Its greedy answers against transformers' own generate() (h=0, h=1 in mixed batches in
every space, mixed ratios, the mix strategy) are in test_backend_conformance.py ([llava])."""

import dataclasses

import pytest
import torch

from judgefree_hub.backends.decoding import AnswerPlan, Branch, decode_answers


@pytest.fixture(scope="module")
def gen(demo_recipe):
    return dataclasses.replace(demo_recipe.model.generation, max_new_tokens=12)


def test_seeded_sampling_repeats(tiny_backend, photos, gen):
    sampled = dataclasses.replace(gen, do_sample=True, temperature=1.0)
    rows = [Branch(p, im) for p, im in photos[:2]]
    answers = [AnswerPlan(0, None, 0.0, seed=1), AnswerPlan(1, None, 0.0, seed=2)]
    a = decode_answers(tiny_backend, rows, answers, sampled, "logits")
    b = decode_answers(tiny_backend, rows, answers, sampled, "logits")
    c = decode_answers(tiny_backend, rows, [AnswerPlan(0, None, 0.0, seed=3), answers[1]], sampled, "logits")
    assert a == b and a[0] != c[0]


def test_rows_must_belong_to_one_answer(tiny_backend, photos, gen):
    rows = [Branch(p, im) for p, im in photos[:2]]
    with pytest.raises(ValueError, match="exactly one answer"):
        decode_answers(tiny_backend, rows, [AnswerPlan(0, None, 0.0)], gen, "logits")
    with pytest.raises(ValueError, match="needs an image-free row"):
        decode_answers(tiny_backend, rows, [AnswerPlan(0, None, 0.5), AnswerPlan(1, None, 0.0)], gen, "logits")
    # the refused calls left the backend usable: a prefill gives one row of scores per row
    logits = tiny_backend.prefill(rows, 8)
    assert logits.shape == (2, tiny_backend.model.config.text_config.vocab_size)
    assert not torch.equal(logits[0], logits[1])  # two photos, two different next-token scores
