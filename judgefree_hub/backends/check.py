"""The self-check every build and evaluation starts with: never decode the wrong text quietly.

A backend that handles a family's positions, cache or images wrongly still produces fluent-
looking text, just not the model's. So before any real work, the first row is decoded greedily
by jfhub's batched loop and by the model's own `generate()`; they must agree. One generate()
per run catches a wrong backend for any model a user brings.
"""

from __future__ import annotations

from ..errors import ModelLoadError
from ..recipe import GenerationSpec
from .base import AnswerPlan, Backend, Branch

CHECK_TOKENS = 8


class BackendMismatch(ModelLoadError):
    """jfhub's decoding of a model differs from the model's own generate()."""


def self_check(backend: Backend, row: Branch, model_id: str, tokens: int = CHECK_TOKENS) -> None:
    """Raise BackendMismatch (one line) unless the loop's greedy answer to `row` equals generate()'s."""
    gen = GenerationSpec(max_new_tokens=tokens, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    ours = backend.decode([row], [AnswerPlan(0, None, 0.0)], gen, "logits")[0]
    theirs = backend.reference_text(row, tokens)
    if ours != theirs:
        raise BackendMismatch(
            f"self-check failed for model {model_id!r} with backend {type(backend).name!r}: its own generate() "
            f"writes {theirs!r} but jfhub's decoding writes {ours!r} (first {tokens} greedy tokens); this "
            f"backend does not fit the model: set model.backend to the model's family")
