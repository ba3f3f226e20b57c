"""Mixing the image-conditioned and image-free next-token scores, and picking the next token.

z = (1 - h) * z_cond + h * z_uncond, in logits or in probabilities. (Log-probabilities are not a
third space: log_softmax shifts each branch by a per-row constant, so their mix differs from
the logit mix by a per-row constant, which the softmax cancels.) h = 0 must reproduce plain
decoding and h = 1 text-only decoding exactly, so those ends bypass the arithmetic (0 * -inf
would be NaN and would also perturb the last bits).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

SPACES = ("logits", "probs")


def mix_scores(cond: torch.Tensor, uncond: torch.Tensor, h: torch.Tensor, space: str) -> torch.Tensor:
    """Mixed scores [A, V] (log-domain for every space) for per-row ratios h [A]."""
    if space not in SPACES:
        raise ValueError(f"unknown mixing space {space!r}; known: {', '.join(SPACES)}")
    cond, uncond = cond.float(), uncond.float()
    h_col = h.to(cond.device, cond.dtype).unsqueeze(-1)  # ratios may come from the host
    if space == "probs":
        p = (1 - h_col) * cond.softmax(-1) + h_col * uncond.softmax(-1)
        mixed = p.log()
        cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
    else:
        mixed = (1 - h_col) * cond + h_col * uncond
        # A token masked (-inf) in either branch stays masked, never NaN.
        mixed = torch.where(torch.isneginf(cond) | torch.isneginf(uncond), float("-inf"), mixed)
    mixed = torch.where(h_col == 0, cond, mixed)
    return torch.where(h_col == 1, uncond, mixed)


def filter_top_k_top_p(scores: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    if top_k > 0:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        sorted_scores, idx = scores.sort(dim=-1, descending=True)
        cum = sorted_scores.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_scores.softmax(-1) >= top_p  # keep the token crossing top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, idx, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores


def next_tokens(
    scores: torch.Tensor,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generators: Optional[Sequence[torch.Generator]] = None,
) -> torch.Tensor:
    """Greedy argmax, or one seeded draw per row, on the scores' device.

    Each row has its own CPU generator (so a row's tokens do not depend on which other rows
    share the batch); it gives one uniform number per step, moved to the scores' device, and
    the token is read off the cumulative distribution there. The draws are the same on every
    device; only the probabilities are computed where the model runs.
    """
    if not do_sample:
        return scores.argmax(-1)
    probs = filter_top_k_top_p(scores / temperature, top_k, top_p).softmax(-1)
    u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in generators])
    return sample_from(probs, u.to(probs.device))


def sample_from(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: per row the first token whose cumulative probability exceeds
    u * total (u in [0, 1)); a token of probability 0 is never chosen."""
    cdf = probs.double().cumsum(-1)
    target = (u * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)
