"""Qwen2-VL and Qwen2.5-VL (Qwen/Qwen2-VL-*, Qwen/Qwen2.5-VL-*): M-RoPE, 3-D rotary positions.

An image's tokens get (temporal, height, width) positions from its patch grid, and the text
after it resumes at the image's start + its largest grid side, not at its token count; 1-D
positions from the attention mask therefore decode other text (the self-check catches it).
So prefill positions come from the model's own `get_rope_index`, laid out as its generate()
lays them out (`_prepare_position_ids_for_generation`, transformers 5.x): [4, R, L], row 0 the
1-D text positions from the attention mask (the model builds the mask from it when packed),
rows 1-3 the M-RoPE axes; text-only batches repeat the text positions on all three. Each
generated token is text, so every axis advances by one, as in the base class: the per-row
rope delta (M-RoPE minus 1-D) lives in the positions carried from prefill, not in the model.
"""

from __future__ import annotations

import torch

from .base import BACKENDS
from .hf import HFVisionBackend


@BACKENDS.register("qwen2_vl")
class Qwen2VLBackend(HFVisionBackend):
    name = "qwen2_vl"
    model_types = ("qwen2_vl", "qwen2_5_vl")

    def prefill_positions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[4, R, L]: the text positions (from the mask), then the three M-RoPE axes."""
        text = super().prefill_positions(batch)
        if batch.get("image_grid_thw") is None and batch.get("video_grid_thw") is None:
            mrope = text[None].expand(3, -1, -1)
        else:  # left padding is skipped through attention_mask; image and text rows may mix
            rest = {k: v for k, v in batch.items() if k != "input_ids"}
            mrope, _ = self.model.model.get_rope_index(batch["input_ids"], **rest)
        return torch.cat([text[None], mrope], dim=0)
