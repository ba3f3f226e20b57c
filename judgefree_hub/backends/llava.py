"""LLaVA-1.5 (llava-hf/llava-1.5-*): one image becomes a fixed run of image tokens inside the
prompt, and the language model uses 1-D rotary positions, so the transformers base's positions
from the attention mask are right. This is the family the demo models are built in."""

from __future__ import annotations

from .base import BACKENDS
from .hf import HFVisionBackend


@BACKENDS.register("llava")
class LlavaBackend(HFVisionBackend):
    name = "llava"
    model_types = ("llava",)
