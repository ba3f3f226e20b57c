"""jfhub's own progress displays (a build's bar: samples done, pairs per second and the reversal
rate so far; evaluation's bar: images captioned) and the switch that mutes the libraries' own
bars and logs, so that each long step shows one display and nothing else."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional, Sequence

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


class ItemProgress:
    """A plain bar over N items (e.g. "captioning", unit "image"), with tqdm's rate."""

    def __init__(self, total: Optional[int], desc: str, unit: str, enabled: bool = True):
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def __enter__(self) -> "ItemProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


# Python loggers of libraries that log through the standard `logging` module (no handler of their
# own: Python's last-resort handler prints their warnings to stderr).
STDLIB_LOGGERS = ("trl", "accelerate", "peft")


def quiet_dependencies(bars: bool = True, logs: bool = True) -> None:
    """Mute the libraries' own output at its source: `bars` switches off the progress bars of
    huggingface_hub (downloads, uploads), transformers ("Loading weights") and datasets ("Map",
    "Generating split"); `logs` sets transformers', datasets' and the standard-logging libraries'
    (TRL, accelerate, peft) loggers to errors only. A library already imported is switched
    through its API; one not imported yet through the environment variable it reads at import
    (so that commands that never need it, e.g. a build without a Hub dataset, do not pay for
    importing it). Warnings are not touched."""
    from huggingface_hub.utils import disable_progress_bars

    transformers_logging = sys.modules.get("transformers.utils.logging")
    datasets_ = sys.modules.get("datasets")
    if bars:
        disable_progress_bars()  # transformers copies this switch when it is first imported
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if transformers_logging is not None:
            transformers_logging.disable_progress_bar()
        if datasets_ is not None:
            datasets_.disable_progress_bars()
    if logs:
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        os.environ["DATASETS_VERBOSITY"] = "error"
        if transformers_logging is not None:
            transformers_logging.set_verbosity_error()
        if datasets_ is not None:
            datasets_.logging.set_verbosity_error()
        for name in STDLIB_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
