"""LLaVA-NeXT (llava-hf/llava-v1.6-*) and LLaVA-OneVision (llava-hf/llava-onevision-*): "anyres"
families, where an image is tiled to a grid chosen from its size, so its number of image tokens
depends on the image. That changes nothing here: the processor expands each row's placeholder
to its own count and returns `image_sizes` (and, for OneVision, `batch_num_images`) that the
model needs, which the base passes on with the pixels; the flat image list in row order is
what both processors expect for one image per prompt (OneVision tiles only single images). Both
language models (Mistral/Llama, Qwen2) use 1-D rotary positions, so positions from the
attention mask are right. One class per registered name, as the registry's fragments require.
"""

from __future__ import annotations

from .base import BACKENDS
from .hf import HFVisionBackend


@BACKENDS.register("llava_next")
class LlavaNextBackend(HFVisionBackend):
    name = "llava_next"
    model_types = ("llava_next",)


@BACKENDS.register("llava_onevision")
class LlavaOnevisionBackend(HFVisionBackend):
    name = "llava_onevision"
    model_types = ("llava_onevision",)
