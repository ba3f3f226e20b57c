"""tiny-llava: a randomly initialised LLaVA-1.5-architecture model, saved like a Hub checkpoint.

It exists so the demo and the tests exercise the exact loading path of real models
(AutoProcessor / AutoModelForImageTextToText.from_pretrained on a folder) without any download.
Weights are random, but the init is chosen so greedy text depends on the image and varies:
with the library defaults (0.02 std) answers loop over 2-4 tokens and different photos give
near-identical text, which would make the demo's preference pairs identical (measured on the
scikit-image photos; see the tests).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import torch
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from judgefree_hub.demo.tokenizer import build_tokenizer

SEED = 1234
IMAGE_SIZE = 32
PATCH_SIZE = 8
IMAGE_SEQ_LENGTH = (IMAGE_SIZE // PATCH_SIZE) ** 2  # CLS dropped by the "default" strategy
# Chosen by measuring greedy outputs on real photos: 0.1 (not 0.02) gives sharper attention and
# logits, so answers stop looping; a unit-gain projector makes image tokens as loud as text.
TEXT_INIT_STD = 0.1
PROJECTOR_GAIN = 1.0


def make_config(vocab_size: int, bos: int, eos: int, pad: int, image_token_id: int) -> LlavaConfig:
    """The architecture: CLIP ViT (64 wide, 2 layers) -> 2-layer MLP projector -> 2-layer Llama."""
    vision = CLIPVisionConfig(
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=64,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        initializer_range=TEXT_INIT_STD,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        image_seq_length=IMAGE_SEQ_LENGTH,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )


@torch.no_grad()
def make_image_matter(model: LlavaForConditionalGeneration, gen: torch.Generator) -> None:
    """Re-draw the projector with std gain/sqrt(fan_in): unit-scale image embeddings, so the
    image moves the answer as much as the prompt does."""
    proj = model.model.multi_modal_projector
    for lin in (proj.linear_1, proj.linear_2):
        std = PROJECTOR_GAIN / lin.weight.shape[1] ** 0.5
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * std)
        lin.bias.zero_()


def unreadable_ids(tokenizer) -> list[int]:
    """Ids greedy decoding should never pick: specials but EOS, and byte pieces that decode to
    control characters or broken UTF-8 (a random model emits them as often as words)."""
    ids = [i for i in tokenizer.all_special_ids if i != tokenizer.eos_token_id]
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i])
        if i not in ids and i != tokenizer.eos_token_id and (
            "\ufffd" in text or any(unicodedata.category(c)[0] == "C" for c in text)
        ):
            ids.append(i)
    return sorted(set(ids))


@torch.no_grad()
def make_text_readable(model: LlavaForConditionalGeneration, tokenizer) -> None:
    """Zero the output rows of unreadable tokens: their logit stays 0 while the best of ~900
    random logits is far above it, so greedy text is words and never holds <image> or <pad>."""
    model.lm_head.weight[unreadable_ids(tokenizer)] = 0.0


def build(folder: str | Path, cache_dir: str | Path | None = None) -> None:
    """Write processor, config, generation config and safetensors weights into `folder`."""
    folder = Path(folder)
    tokenizer = build_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(tokenizer.image_token)
    config = make_config(
        len(tokenizer),
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
        image_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlavaForConditionalGeneration(config)
        make_image_matter(model, torch.Generator().manual_seed(SEED + 1))
        make_text_readable(model, tokenizer)
    model.eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=64,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
        chat_template=tokenizer.chat_template,
    )
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
