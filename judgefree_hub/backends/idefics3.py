"""Idefics3 and SmolVLM (v1) checkpoints (HuggingFaceM4/Idefics3-*, HuggingFaceTB/SmolVLM-*):
model_type "idefics3".

Each image is cut into tiles plus a downscaled global view, so an image row holds a run of
`<fake_token_around_image><row_i_col_j><image>...` markers whose length depends on the image's
shape, and the batch's pixel values are [rows, most tiles, 3, H, W]. The processor pairs images
with texts per row: it takes one list of images per text (an empty one for an image-free row)
and pads the missing tiles with all-zero images and a zero `pixel_attention_mask`, which the model
drops before its vision tower. The language model is Llama-style with 1-D rotary positions, so
the base's positions from the attention mask are right. SmolVLM2 (model_type "smolvlm") is not
taken: its processor needs the `num2words` package, absent here, so it was never checked.
"""

from __future__ import annotations

from typing import Any, Optional

from PIL import Image

from ..recipe import ModelSpec
from .base import BACKENDS
from .hf import HFVisionBackend


@BACKENDS.register("idefics3")
class Idefics3Backend(HFVisionBackend):
    name = "idefics3"
    model_types = ("idefics3",)

    @classmethod
    def load(cls, spec: ModelSpec) -> "Idefics3Backend":
        """The base's loading, then `do_image_splitting` (if given) set on the processor itself,
        so jfhub's decoding and the self-check's generate() see the same image tokens."""
        backend = super().load(spec)
        split = spec.backend_options.get("do_image_splitting")
        if split is not None:
            backend.processor.image_processor.do_image_splitting = bool(split)
        return backend

    def processor_inputs(self, texts: list[str],
                         images: list[Optional[Image.Image]]) -> dict[str, Any]:
        """One image list per text, `[]` for the image-free rows, so the pairing never depends
        on counting `<image>` in the rendered prompts; a batch without image rows passes no
        images (the 5.24 processor fails on a list of empty lists)."""
        if all(im is None for im in images):
            return {"text": texts}
        return {"text": texts, "images": [[] if im is None else [im] for im in images]}
