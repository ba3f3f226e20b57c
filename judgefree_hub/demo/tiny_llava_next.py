"""tiny-llava-next and tiny-llava-onevision: random "anyres" checkpoints saved like Hub ones.

They exist so the LLaVA-NeXT and LLaVA-OneVision backends are tested on the real loading path
(AutoProcessor / AutoModelForImageTextToText.from_pretrained on a folder) without a download.
Both are built from the family's own config and processor classes, so the image token count
really depends on the image size: a 32-pixel tile grid with a few pinpoints gives portrait,
landscape and square photos different numbers of image tokens. The init follows tiny-llava
(std 0.1, a unit-gain projector, unreadable tokens never picked) so greedy text varies with
the input, which the equality tests need.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    GenerationConfig,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessor,
    LlavaNextProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    MistralConfig,
    Qwen2Config,
    Qwen2Tokenizer,
    SiglipVisionConfig,
)

from judgefree_hub.demo.llava import make_image_matter, make_text_readable
from judgefree_hub.demo.tokenizer import VOCAB_SIZE, build_tokenizer, corpus_lines

SEED = 4321
TILE = 32  # the vision tower's input side (real models: 336 / 384)
PATCH = 8  # so one tile is a 4 x 4 grid of patch features
# (height, width) grids the image is tiled to, scaled down from the real lists; which one a
# photo gets, and how much of it is padding, sets its number of image tokens.
PINPOINTS_NEXT = [[32, 64], [64, 32], [64, 64], [32, 96], [96, 32]]
PINPOINTS_OV = [[32, 32], [32, 64], [64, 32], [64, 64], [32, 96], [96, 32]]
TEXT_INIT_STD = 0.1

# Both templates read a message's content as a string or as parts (TRL's conversational rows).
_PARTS = ("{% set c = message['content'] %}"
          "{% set parts = [{'type': 'text', 'text': c}] if c is string else c %}"
          "{% set text = parts | selectattr('type', 'equalto', 'text') | map(attribute='text') "
          "| join('\\n') %}")


def _each(kind: str, out: str) -> str:
    """Jinja writing `out` once per content part of type `kind`."""
    loop = f"{{% for p in parts | selectattr('type', 'equalto', '{kind}') %}}"
    return loop + f"{{{{ '{out}' }}}}{{% endfor %}}"


# llava-v1.6-mistral's layout: "[INST] <image>\n... [/INST]", answers end with </s>.
NEXT_TEMPLATE = (
    "{% for message in messages %}" + _PARTS
    + "{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + text + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}"
    + _each("image", "<image>\\n") + "{{ text + ' [/INST]' }}"
    "{% else %}{{ ' ' + text + '</s> ' }}{% endif %}"
    "{% endfor %}"
)

# llava-onevision-qwen2's ChatML layout: "<|im_start|>user <image>\n...<|im_end|>\n"; an answer
# turn starts exactly as the generation prompt does, so a prompt is a prefix of prompt + answer.
OV_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
OV_TEMPLATE = (
    "{% for message in messages %}" + _PARTS
    + "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + ' ' }}" + _each("image", "<image>")
    + _each("video", "<video>") + "{{ '\\n' }}{% endif %}"
    "{{ text + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Qwen2's pre-tokenizer split, so the trained merges fit what Qwen2Tokenizer rebuilds on load.
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _text_config(cls, tokenizer, **extra):
    """A 2-layer language model (GQA, 1-D RoPE) over the tokenizer's vocabulary."""
    return cls(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               max_position_embeddings=1024, initializer_range=TEXT_INIT_STD,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
               tie_word_embeddings=False, **extra)


def _vision(cls, **extra):
    """A 2-layer ViT over one TILE x TILE tile."""
    return cls(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
               image_size=TILE, patch_size=PATCH, **extra)


def _seeded(cls, config):
    """The model at a fixed seed, without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return cls(config)


def _save(model, processor, tokenizer, folder: Path) -> None:
    """Projector and output rows as tiny-llava's, a plain greedy generation config, then save."""
    make_image_matter(model, torch.Generator().manual_seed(SEED + 1))
    make_text_readable(model, tokenizer)
    model.eval().generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False, max_new_tokens=64)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)


def build_next(folder: Path, cache_dir: Path) -> None:
    """LLaVA-NeXT (llava-v1.6-mistral layout): CLIP tiles -> projector (+ newline) -> Mistral."""
    tokenizer = build_tokenizer()  # Llama-style specials: <s> </s> <pad> <unk> <image>
    tokenizer.chat_template = NEXT_TEMPLATE
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaNextConfig(
        vision_config=_vision(CLIPVisionConfig, projection_dim=64),
        text_config=_text_config(MistralConfig, tokenizer, bos_token_id=tokenizer.bos_token_id),
        image_token_index=image_token, image_grid_pinpoints=PINPOINTS_NEXT,
        vision_feature_select_strategy="default", vision_feature_layer=-2,
        image_seq_length=(TILE // PATCH) ** 2)
    model = _seeded(LlavaNextForConditionalGeneration, config)
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": TILE},
                                              crop_size={"height": TILE, "width": TILE},
                                              image_grid_pinpoints=PINPOINTS_NEXT)
    processor = LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,  # CLS
        chat_template=NEXT_TEMPLATE)
    _save(model, processor, tokenizer, Path(folder))


def ov_tokenizer() -> Qwen2Tokenizer:
    """A byte-level BPE trained on the demo corpus with Qwen2's split and ChatML specials, as the
    family's own tokenizer class (which rebuilds itself from vocab + merges)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=list(OV_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ") if isinstance(m, str) else m) for m in model["merges"]]
    qwen = Qwen2Tokenizer(
        vocab=model["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
        model_max_length=1024, padding_side="left")
    # ChatML's opening marker is special too (never generated: see make_text_readable)
    qwen.add_special_tokens({"extra_special_tokens": ["<|im_start|>"]})
    qwen.chat_template = OV_TEMPLATE
    return qwen


def build_onevision(folder: Path, cache_dir: Path) -> None:
    """LLaVA-OneVision (qwen2-ov layout): SigLIP tiles -> projector (+ image newline) -> Qwen2."""
    tokenizer = ov_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = LlavaOnevisionConfig(
        vision_config=_vision(SiglipVisionConfig, vision_use_head=False),
        text_config=_text_config(Qwen2Config, tokenizer),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"),
        image_grid_pinpoints=PINPOINTS_OV, vision_feature_select_strategy="full",
        vision_feature_layer=-1, vision_aspect_ratio="anyres_max_9")
    model = _seeded(LlavaOnevisionForConditionalGeneration, config)
    size = {"height": TILE, "width": TILE}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=PINPOINTS_OV),
        tokenizer=tokenizer, video_processor=LlavaOnevisionVideoProcessor(size=size),
        num_image_tokens=(TILE // PATCH) ** 2, vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9", chat_template=OV_TEMPLATE)
    _save(model, processor, tokenizer, Path(folder))
