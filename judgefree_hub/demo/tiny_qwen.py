"""tiny-qwen2-vl, tiny-qwen2.5-vl: randomly initialised Qwen2-VL / Qwen2.5-VL checkpoints.

They exist so the qwen2_vl backend is tested on the real classes (config, processor with its
image and video processors, Qwen2 tokenizer, the model's own get_rope_index and generate()),
saved and reloaded like Hub checkpoints, without any download. What makes them useful:
- the tokenizer is trained here with Qwen's own normaliser and pre-tokeniser and holds every
  special token the processor and the Instruct chat template use, so it reloads identically;
- the image processor's pixel limits (PIXEL COUNTS, not edges) keep photos at 4-16 image
  tokens, on a grid of more than one row and column, so M-RoPE positions differ from 1-D ones;
- initializer_range 0.15 (not 0.02) makes greedy text depend on the input (equality tests
  need varied text); unreadable tokens (specials, control bytes) get zero output weights.
Weights are random: these models are for backend tests only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2TokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from judgefree_hub.demo.llava import unreadable_ids
from judgefree_hub.demo.tokenizer import corpus_lines

SEED = 2024
VOCAB_SIZE = 1024
INIT_STD = 0.15
PATCH, MERGE, TEMPORAL = 14, 2, 2
FACTOR = PATCH * MERGE  # resized sides are multiples of 28 pixels; one image token per 28x28
MIN_PIXELS, MAX_PIXELS = FACTOR * FACTOR * 4, FACTOR * FACTOR * 16
TEXT = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=2048, max_window_layers=2)
MROPE_SECTION = [4, 6, 6]  # temporal, height, width: sums to head_dim / 2 = 128 / 4 / 2

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)

# Qwen2-VL-7B-Instruct's template (Qwen2.5-VL's is the same): a default system turn, one
# vision block per image or video part.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen2's pre-tokenisation split (tokenization_qwen2.py), so training and reloading agree.
_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
          r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")


def build_tokenizer() -> Qwen2TokenizerFast:
    """A byte-level BPE trained (single-threaded, deterministic) on the demo corpus in Qwen's
    chat layout, handed to Qwen2TokenizerFast as vocab + merges: the class rebuilds its own
    pipeline from those, exactly as from_pretrained will."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    chats = [f"{IM_START}user\n{line}{IM_END}\n{IM_START}assistant\n" for line in corpus_lines()]
    tok.train_from_iterator(corpus_lines() + chats, trainer=trainer)
    bpe = json.loads(tok.to_str())["model"]
    named = {"image_token": IMAGE_PAD, "video_token": VIDEO_PAD,
             "vision_start_token": VISION_START, "vision_end_token": VISION_END}
    tokenizer = Qwen2TokenizerFast(
        vocab=bpe["vocab"], merges=[tuple(m) for m in bpe["merges"]], eos_token=IM_END,
        pad_token=PAD, unk_token=None, extra_special_tokens=named,
        model_max_length=TEXT["max_position_embeddings"], padding_side="left")
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _token_ids(tokenizer) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    return dict(zip(SPECIAL_TOKENS, ids, strict=True))


def _text_config(tokenizer) -> dict:
    ids = _token_ids(tokenizer)
    rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": MROPE_SECTION}
    return dict(TEXT, vocab_size=len(tokenizer), initializer_range=INIT_STD, bos_token_id=None,
                eos_token_id=ids[IM_END], pad_token_id=ids[PAD], rope_parameters=rope)


def _family_ids(tokenizer) -> dict:
    ids = _token_ids(tokenizer)
    return dict(image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
                vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END])


def qwen2_vl_config(tokenizer) -> Qwen2VLConfig:
    """Qwen2-VL: a 2-layer ViT (32 wide) whose merger projects 2x2 patches to the language width
    (`hidden_size`; `embed_dim` is the vision width), then a 2-layer Qwen2 language model."""
    vision = dict(depth=2, embed_dim=32, hidden_size=TEXT["hidden_size"], num_heads=2, mlp_ratio=2,
                  patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL,
                  initializer_range=INIT_STD)
    return Qwen2VLConfig(text_config=_text_config(tokenizer), vision_config=vision,
                         **_family_ids(tokenizer))


def qwen2_5_vl_config(tokenizer) -> Qwen2_5_VLConfig:
    """Qwen2.5-VL: the same shape with its ViT (windowed attention in layer 0, full in layer 1,
    SwiGLU); `hidden_size` is the vision width and `out_hidden_size` the language width."""
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                  out_hidden_size=TEXT["hidden_size"], patch_size=PATCH, spatial_merge_size=MERGE,
                  temporal_patch_size=TEMPORAL, window_size=56, fullatt_block_indexes=[1],
                  initializer_range=INIT_STD)  # windows of 2x2 merged tokens in layer 0
    return Qwen2_5_VLConfig(text_config=_text_config(tokenizer), vision_config=vision,
                            **_family_ids(tokenizer))


def _save(folder: Path, model_class, config, processor_class, tokenizer) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = model_class(config).eval()
    with torch.no_grad():
        model.lm_head.weight[unreadable_ids(tokenizer)] = 0.0
    ids = _token_ids(tokenizer)
    model.generation_config = GenerationConfig(eos_token_id=[ids[IM_END], ids[PAD]],
                                               pad_token_id=ids[PAD], do_sample=False,
                                               max_new_tokens=64)
    pixels = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    image_processor = Qwen2VLImageProcessor(size=pixels, patch_size=PATCH, merge_size=MERGE,
                                            temporal_patch_size=TEMPORAL)
    video_processor = Qwen2VLVideoProcessor(size=pixels, patch_size=PATCH, merge_size=MERGE,
                                            temporal_patch_size=TEMPORAL)
    processor = processor_class(image_processor=image_processor, tokenizer=tokenizer,
                                video_processor=video_processor, chat_template=CHAT_TEMPLATE)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)


def build_qwen2_vl(folder: Path, cache_dir: Path | None = None) -> None:
    """Write a complete tiny Qwen2-VL checkpoint (processor + model) into `folder`."""
    tokenizer = build_tokenizer()
    _save(Path(folder), Qwen2VLForConditionalGeneration, qwen2_vl_config(tokenizer),
          Qwen2VLProcessor, tokenizer)


def build_qwen2_5_vl(folder: Path, cache_dir: Path | None = None) -> None:
    """Write a complete tiny Qwen2.5-VL checkpoint (processor + model) into `folder`."""
    tokenizer = build_tokenizer()
    _save(Path(folder), Qwen2_5_VLForConditionalGeneration, qwen2_5_vl_config(tokenizer),
          Qwen2_5_VLProcessor, tokenizer)
