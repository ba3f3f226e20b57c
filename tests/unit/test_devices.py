"""Device-correctness without a GPU: the mixing, the sampling and the whole decoding loop run
on logits that live on the `meta` device. Any tensor the code makes on the CPU and combines
with them fails here exactly as it would on CUDA ("not on the expected device")."""

import pytest
import torch

from judgefree_hub.backends import decoding
from judgefree_hub.backends.base import AnswerPlan, Branch
from judgefree_hub.backends.mixing import mix_scores, next_tokens, sample_from
from judgefree_hub.recipe import GenerationSpec

META = torch.device("meta")
V = 11


def gen(do_sample=False, max_new_tokens=5, top_k=0, top_p=1.0):
    return GenerationSpec(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=0.7, top_k=top_k,
                          top_p=top_p)


def test_a_cpu_tensor_meets_a_meta_tensor_and_fails():
    """The premise: meta refuses to mix with CPU tensors, as CUDA does."""
    with pytest.raises(RuntimeError, match="device"):
        torch.zeros(2, V, device=META) * torch.ones(2, 1)


@pytest.mark.parametrize("space", ["logits", "probs"])
def test_mixing_follows_the_logits_device_whatever_the_ratios_device(space):
    cond, uncond = torch.zeros(3, V, device=META), torch.zeros(3, V, device=META)
    out = mix_scores(cond, uncond, torch.tensor([0.0, 0.5, 1.0]), space)
    assert out.device == META and out.shape == (3, V)


@pytest.mark.parametrize("do_sample,top_k,top_p", [(False, 0, 1.0), (True, 0, 1.0), (True, 3, 1.0), (True, 0, 0.9),
                                                   (True, 4, 0.8)])
def test_token_choice_stays_on_the_scores_device(do_sample, top_k, top_p):
    gens = [torch.Generator().manual_seed(i) for i in range(3)] if do_sample else None
    picked = next_tokens(torch.zeros(3, V, device=META), do_sample, 0.7, top_k, top_p, gens)
    assert picked.device == META and picked.shape == (3,)


class MetaModel:
    """A StepModel whose logits live on `meta`; it checks that what the loop hands back (tokens
    to feed, rows to keep) was made on that device too."""

    eos_token_ids = frozenset({0})

    def __init__(self):
        self.rows = 0
        self.fed: list[torch.Size] = []

    def prefill(self, rows, max_new_tokens):
        self.rows = len(rows)
        return torch.zeros(self.rows, V, device=META)

    def step(self, tokens):
        assert tokens.device == META and len(tokens) == self.rows
        self.fed.append(tokens.shape)
        return torch.zeros(self.rows, V, device=META)

    def keep_rows(self, keep):
        assert keep.device == META
        self.rows = len(keep)

    def decode_text(self, tokens):
        return " ".join(map(str, tokens))


@pytest.mark.parametrize("do_sample", [False, True])
@pytest.mark.parametrize("space", ["logits", "probs"])
def test_the_whole_loop_runs_on_meta_logits(monkeypatch, do_sample, space):
    """Host values are faked (meta has none): answer 1 ends at step 2, the others run to the end,
    so rows leave the batch and the cache mid-decoding."""
    steps = iter(range(100))

    def fake_host(picked):
        assert picked.device == META
        step = next(steps)
        return [0 if (step == 1 and i == 1) else 5 for i in range(picked.shape[0])]

    monkeypatch.setattr(decoding, "host_tokens", fake_host)
    rows = [Branch("a", None), Branch("b", None), Branch("b", None), Branch("c", None), Branch("c", None)]
    answers = [AnswerPlan(0, None, 0.0, 1), AnswerPlan(1, 2, 0.5, 2), AnswerPlan(3, 4, 1.0, 3)]
    model = MetaModel()
    texts = decoding.decode_answers(model, rows, answers, gen(do_sample), space)
    assert texts == ["5 5 5 5 5", "5", "5 5 5 5 5"]
    assert model.rows == 3 and len(model.fed) == 4  # answer 1's two rows left after step 2


def test_inverse_cdf_sampling_reads_the_cumulative_distribution():
    probs = torch.tensor([[0.2, 0.0, 0.5, 0.3]] * 6)
    u = torch.tensor([0.0, 0.1, 0.2, 0.69, 0.7, 0.999], dtype=torch.float64)
    assert sample_from(probs, u).tolist() == [0, 0, 2, 2, 3, 3]  # token 1 (p = 0) never


def test_inverse_cdf_sampling_has_the_right_frequencies():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    u = torch.rand(40_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    counts = torch.bincount(sample_from(probs.expand(len(u), -1), u), minlength=4).double() / len(u)
    assert torch.allclose(counts, probs.double(), atol=0.01) and counts[1] == 0


def test_seeded_draws_do_not_depend_on_batch_mates():
    scores = torch.randn(3, V, generator=torch.Generator().manual_seed(1))
    seeds = [torch.Generator().manual_seed(s) for s in (7, 8, 9)]
    together = next_tokens(scores, True, 1.0, 0, 1.0, seeds).tolist()
    alone = next_tokens(scores[1:2], True, 1.0, 0, 1.0, [torch.Generator().manual_seed(8)]).tolist()
    assert together[1] == alone[0]
