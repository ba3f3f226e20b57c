"""The backend extension point (BACKENDS): what decoding needs from one model family.

A backend owns everything family-specific (chat template, image preprocessing, positions, KV
cache); strategies only plan rows (`Branch`) and answers (`AnswerPlan`) and hand them to
`Backend.decode`. This module imports no torch, so strategies can name these types for free.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Optional, Protocol, Sequence

from PIL import Image

from ..registry import Registry

if TYPE_CHECKING:
    import torch

    from ..recipe import GenerationSpec, ModelSpec


@dataclass(frozen=True)
class Branch:
    """One row of the batched forward: a prompt and its image, or None for the image-free row."""

    prompt: str
    image: Optional[Image.Image]


@dataclass(frozen=True)
class AnswerPlan:
    """One answer to decode from row `cond` (and row `uncond` when ratio > 0) with
    z = (1 - ratio) z_cond + ratio z_uncond. `seed` drives its sampling when enabled."""

    cond: int
    uncond: Optional[int]
    ratio: float
    seed: int = 0


class StepModel(Protocol):
    """What the decoding loop (decoding.py) needs; rows keep their order across calls."""

    eos_token_ids: frozenset[int]

    def prefill(self, rows: Sequence[Branch], max_new_tokens: int) -> "torch.Tensor":
        """Encode and run the prompts, with room for `max_new_tokens` more (a static cache is
        sized by it); return last-position logits [R, V]."""

    def step(self, tokens: "torch.Tensor") -> "torch.Tensor":
        """Feed one token per live row; return logits [R, V]."""

    def keep_rows(self, keep: "torch.Tensor") -> None:
        """Drop every row not in `keep` (indices into the live rows) from the batch state."""

    def decode_text(self, tokens: list[int]) -> str: ...


class Backend(abc.ABC):
    """A loaded model of one family. Registered by name; `model_types` are the config.json
    `model_type` values that `model.backend: auto` maps to it."""

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abc.abstractmethod
    def load(cls, spec: "ModelSpec") -> "Backend":
        """Load processor and weights as the spec says (id, revision, dtype, device, options)."""

    @abc.abstractmethod
    def decode(self, rows: Sequence[Branch], answers: Sequence[AnswerPlan], gen: "GenerationSpec",
               space: str) -> list[str]:
        """Every answer's text, in the order of `answers`."""

    @abc.abstractmethod
    def reference_text(self, row: Branch, max_new_tokens: int) -> str:
        """The model's own greedy answer for one row (its `generate()`), as `decode` writes text."""


BACKENDS: Registry[type[Backend]] = Registry("backend")
