"""The batched mixed decoding loop against transformers' own generate()."""

import dataclasses

import pytest
import torch

from judgefree_hub.backends.decoding import AnswerPlan, Branch, decode_answers


def generate_alone(backend, prompt, image, max_new_tokens):
    enc = backend.processor(text=[backend.chat_prompt(prompt, image is not None)],
                            images=[image] if image is not None else None, return_tensors="pt")
    out = backend.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return backend.decode_text(out[0, enc["input_ids"].shape[1]:].tolist())


@pytest.fixture(scope="module")
def gen(demo_recipe):
    return dataclasses.replace(demo_recipe.model.generation, max_new_tokens=12)


def test_h0_equals_plain_decoding_row_by_row(tiny_backend, photos, gen):
    rows = [Branch(p, im) for p, im in photos]
    got = decode_answers(tiny_backend, rows, [AnswerPlan(i, None, 0.0) for i in range(len(rows))], gen, "logits")
    assert got == [generate_alone(tiny_backend, p, im, gen.max_new_tokens) for p, im in photos]
    assert len(set(got)) > 1  # the photos lead to different answers


@pytest.mark.parametrize("space", ["logits", "logprobs", "probs"])
def test_h1_equals_text_only_decoding_in_a_mixed_batch(tiny_backend, photos, gen, space):
    rows, answers = [], []
    prompts = [p + " Be brief." * i for i, (p, _) in enumerate(photos)]  # different lengths -> padding
    for prompt, (_, im) in zip(prompts, photos):
        answers.append(AnswerPlan(len(rows), len(rows) + 1, 1.0))
        rows += [Branch(prompt, im), Branch(prompt, None)]
    got = decode_answers(tiny_backend, rows, answers, gen, space)
    assert got == [generate_alone(tiny_backend, p, None, gen.max_new_tokens) for p in prompts]


def test_mixed_ratio_answer_does_not_depend_on_batch_mates(tiny_backend, photos, gen):
    def plan(items):
        rows, answers = [], []
        for p, im in items:
            answers.append(AnswerPlan(len(rows), len(rows) + 1, 0.5))
            rows += [Branch(p, im), Branch(p, None)]
        return rows, answers

    together = decode_answers(tiny_backend, *plan(photos), gen, "logits")
    alone = decode_answers(tiny_backend, *plan(photos[1:2]), gen, "logits")
    assert together[1] == alone[0]


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
    assert torch.is_tensor(tiny_backend.prefill(rows))


def test_mix_strategy_pairs_match_plain_and_text_only_decoding(tiny_backend, photos, gen):
    """The positive (h=0) and the negative (fixed h=1) of each sample share one batch and one
    prefilled image prefix, and still equal decoding each alone."""
    from judgefree_hub.records import LoadedSample, Sample
    from judgefree_hub.strategies.mix import MixStrategy

    strategy = MixStrategy({"space": "logits", "positive_ratio": 0.0, "unconditional": "no_image",
                            "negative_ratio": {"distribution": "fixed", "value": 1.0}}, seed=0)
    batch = [LoadedSample(Sample(f"k{i}", "s", p, lambda: im), im) for i, (p, im) in enumerate(photos)]
    pairs = strategy.generate(batch, tiny_backend, gen)
    for pair, (p, im) in zip(pairs, photos):
        assert pair.positive == generate_alone(tiny_backend, p, im, gen.max_new_tokens)
        assert pair.negative == generate_alone(tiny_backend, p, None, gen.max_new_tokens)
        assert (pair.positive_ratio, pair.negative_ratio) == (0.0, 1.0)
