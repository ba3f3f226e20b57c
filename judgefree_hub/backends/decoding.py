"""Batched decoding of several answers, each from one or two branches, in ONE forward per step.

Every branch (image-conditioned or image-free) of every answer is a row of one left-padded batch
with one KV cache. At each step the backend runs one forward over all live rows; each answer
mixes its rows' scores, picks a token, and that token is fed to all of its rows. Rows of finished
answers leave the batch and the cache, so long answers do not pay for short ones.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..recipe import GenerationSpec
from .base import AnswerPlan, Branch, StepModel
from .mixing import mix_scores, next_tokens


def _check(rows: Sequence[Branch], answers: Sequence[AnswerPlan]) -> None:
    used = [a.cond for a in answers] + [a.uncond for a in answers if a.uncond is not None]
    if sorted(used) != list(range(len(rows))):
        raise ValueError("each row must belong to exactly one answer")
    for a in answers:
        if a.ratio > 0 and a.uncond is None:
            raise ValueError(f"an answer with ratio {a.ratio} needs an image-free row")


def decode_answers(
    model: StepModel, rows: Sequence[Branch], answers: Sequence[AnswerPlan], gen: GenerationSpec, space: str
) -> list[str]:
    """Decode every answer; returns their texts in the order of `answers`.

    Device-correct by construction: every tensor the loop makes is created on the device of the
    logits the model returned; the sampling randomness is drawn on the CPU from each answer's
    own generator (mixing.next_tokens), so a seed gives the same draws on any device. The one
    device-to-host copy per step is `host_tokens`.
    """
    _check(rows, answers)
    live_rows = list(range(len(rows)))  # global row ids, in batch order
    live = list(range(len(answers)))  # global answer ids still decoding
    gens = [torch.Generator().manual_seed(a.seed) for a in answers] if gen.do_sample else None
    out: list[list[int]] = [[] for _ in answers]
    row_answer = _row_owner(answers)
    logits = model.prefill(rows, gen.max_new_tokens)
    ratios = torch.tensor([a.ratio for a in answers], dtype=torch.float32, device=logits.device)
    for step in range(gen.max_new_tokens):
        where = {r: i for i, r in enumerate(live_rows)}
        cond = torch.tensor([where[answers[a].cond] for a in live], device=logits.device)
        uncond = torch.tensor([where[_uncond_or_cond(answers[a])] for a in live], device=logits.device)
        live_ratios = ratios[torch.tensor(live, device=logits.device)]
        scores = mix_scores(logits[cond], logits[uncond], live_ratios, space)
        picked = host_tokens(next_tokens(scores, gen.do_sample, gen.temperature, gen.top_k, gen.top_p,
                                         [gens[a] for a in live] if gens else None))
        done = set()
        for a, tok in zip(live, picked):
            if tok in model.eos_token_ids:
                done.add(a)
            else:
                out[a].append(tok)
        token_of = dict(zip(live, picked))
        if done:
            live = [a for a in live if a not in done]
            keep = [i for i, r in enumerate(live_rows) if row_answer[r] not in done]
            live_rows = [live_rows[i] for i in keep]
            if not live or step + 1 == gen.max_new_tokens:
                break
            model.keep_rows(torch.tensor(keep, device=logits.device))
        if step + 1 == gen.max_new_tokens:
            break
        logits = model.step(torch.tensor([token_of[row_answer[r]] for r in live_rows], device=logits.device))
    return [model.decode_text(toks) for toks in out]


def host_tokens(picked: torch.Tensor) -> list[int]:
    """The chosen token ids, copied to the host (the loop's one synchronisation per step)."""
    return picked.tolist()


def _uncond_or_cond(a: AnswerPlan) -> int:
    """With ratio 0 the answer has one row; mixing it with itself is the identity."""
    return a.uncond if a.uncond is not None else a.cond


def _row_owner(answers: Sequence[AnswerPlan]) -> dict[int, int]:
    owner = {}
    for i, a in enumerate(answers):
        owner[a.cond] = i
        if a.uncond is not None:
            owner[a.uncond] = i
    return owner
