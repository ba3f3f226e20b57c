"""A build's progress bar: samples done, pairs per second and the reversal rate so far."""

from __future__ import annotations

import time
from typing import Sequence

from tqdm.auto import tqdm

from ..records import VerifiedPair


class BuildProgress:
    def __init__(self, total: int, enabled: bool = True):
        self.bar = tqdm(total=total, unit="sample", desc="building", disable=not enabled, dynamic_ncols=True)
        self.pairs = 0
        self.reversed = 0
        self.t0 = time.perf_counter()

    def update(self, n_samples: int, judged: Sequence[object] = ()) -> None:
        """`n_samples` more done; `judged` (pairs and drops) feeds the pairs/s and reversal
        figures, which only a preference build has."""
        if not judged:
            self.bar.update(n_samples)
            return
        kept = [j for j in judged if isinstance(j, VerifiedPair)]
        self.pairs += len(kept)
        self.reversed += sum(j.reversed for j in kept)
        rate = self.pairs / max(time.perf_counter() - self.t0, 1e-9)
        rev = self.reversed / self.pairs if self.pairs else 0.0
        self.bar.set_postfix({"pairs/s": f"{rate:.2f}", "reversed": f"{rev:.0%}"}, refresh=False)
        self.bar.update(n_samples)

    def __enter__(self) -> "BuildProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
