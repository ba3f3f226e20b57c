"""The one training loop both world models use: AdamW, linear warmup then cosine decay,
gradient clipping at 1, a tqdm bar with the running loss. Deterministic given the model's
init and the batches (every batch is a pure function of its step)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch


def fit(params: Sequence[torch.nn.Parameter], loss_at: Callable[[int], torch.Tensor], *, steps: int,
        learning_rate: float, warmup_steps: int, weight_decay: float, desc: str, show_progress: bool,
        log_every: int = 100, after_step: Optional[Callable[[], None]] = None) -> list[float]:
    """Run `steps` optimizer steps on `loss_at(step)`; the mean loss every `log_every` steps."""
    from tqdm.auto import tqdm

    params = list(params)
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup_steps)
                                              * 0.5 * (1 + np.cos(np.pi * s / steps)))
    losses: list[float] = []
    running = 0.0
    bar = tqdm(range(steps), desc=desc, disable=not show_progress)
    for step in bar:
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if after_step is not None:
            after_step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            losses.append(running / log_every)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            running = 0.0
    return losses
