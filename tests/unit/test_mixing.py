import math

import pytest
import torch

from judgefree_hub.backends.mixing import filter_top_k_top_p, mix_scores, next_tokens


@pytest.fixture
def scores():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 11, generator=g), torch.randn(3, 11, generator=g)


@pytest.mark.parametrize("space", ["logits", "probs"])
def test_h0_is_conditional_and_h1_is_unconditional(scores, space):
    cond, uncond = scores
    out0 = mix_scores(cond, uncond, torch.zeros(3), space)
    out1 = mix_scores(cond, uncond, torch.ones(3), space)
    assert torch.equal(out0.argmax(-1), cond.argmax(-1))
    assert torch.equal(out1.argmax(-1), uncond.argmax(-1))
    if space == "logits":
        assert torch.equal(out0, cond) and torch.equal(out1, uncond)


def test_logits_mix_is_linear(scores):
    cond, uncond = scores
    h = torch.tensor([0.25, 0.5, 0.75])
    out = mix_scores(cond, uncond, h, "logits")
    assert torch.allclose(out, (1 - h[:, None]) * cond + h[:, None] * uncond)


def test_probs_mix_is_a_distribution(scores):
    cond, uncond = scores
    h = torch.tensor([0.3, 0.6, 0.9])
    p = mix_scores(cond, uncond, h, "probs").exp()
    assert torch.allclose(p.sum(-1), torch.ones(3))
    expected = (1 - h[:, None]) * cond.softmax(-1) + h[:, None] * uncond.softmax(-1)
    assert torch.allclose(p, expected, atol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_a_log_probability_mix_would_be_the_logit_mix_so_it_is_not_offered(seed):
    """Why there are two spaces: for any scores and any h, mixing log-softmaxes gives the same
    next-token distribution as mixing logits (and a different one from mixing probabilities)."""
    g = torch.Generator().manual_seed(seed)
    cond, uncond = 3 * torch.randn(4, 50, generator=g), 3 * torch.randn(4, 50, generator=g)
    h = torch.rand(4, generator=g)[:, None]
    logprob_mix = (1 - h) * cond.log_softmax(-1) + h * uncond.log_softmax(-1)
    logits = mix_scores(cond, uncond, h[:, 0], "logits")
    assert torch.allclose(logprob_mix.softmax(-1), logits.softmax(-1), atol=1e-6)
    assert not torch.allclose(mix_scores(cond, uncond, h[:, 0], "probs").exp(), logits.softmax(-1), atol=1e-3)
    with pytest.raises(ValueError, match="unknown mixing space 'logprobs'"):
        mix_scores(cond, uncond, h[:, 0], "logprobs")


def test_masked_tokens_stay_masked_without_nan():
    cond = torch.tensor([[0.0, -math.inf, 1.0]] * 3)
    uncond = torch.tensor([[2.0, 0.5, -math.inf]] * 3)
    for space in ("logits",):
        out = mix_scores(cond, uncond, torch.tensor([0.0, 0.5, 1.0]), space)
        assert not torch.isnan(out).any()
        assert torch.isneginf(out[1, 1]) and torch.isneginf(out[1, 2])
        assert torch.isneginf(out[0, 1]) and torch.isneginf(out[2, 2])


def test_greedy_and_seeded_sampling():
    scores = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    assert next_tokens(scores, do_sample=False).tolist() == [1, 0]
    draws = [next_tokens(scores, True, 1.0, 0, 1.0, [torch.Generator().manual_seed(s), torch.Generator().manual_seed(s + 1)])
             for s in range(3000)]
    again = [next_tokens(scores, True, 1.0, 0, 1.0, [torch.Generator().manual_seed(s), torch.Generator().manual_seed(s + 1)])
             for s in range(3000)]
    assert all(torch.equal(a, b) for a, b in zip(draws, again))  # a seed gives its draw again
    first = torch.tensor([d[0].item() for d in draws])
    freq = torch.bincount(first, minlength=3).double() / len(first)
    assert torch.allclose(freq, scores[0].softmax(-1).double(), atol=0.03)  # and the seeds sample softmax


def test_top_k_and_top_p_filtering():
    s = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    k = filter_top_k_top_p(s, 2, 1.0)
    assert torch.isfinite(k[0, :2]).all() and torch.isneginf(k[0, 2:]).all()
    p = filter_top_k_top_p(s, 0, 0.7)  # 0.5 < 0.7 so the 0.3 token is kept, the rest dropped
    assert torch.isfinite(p[0, :2]).all() and torch.isneginf(p[0, 2:]).all()
