"""tiny-idefics3: a random Idefics3 (SmolVLM's architecture), saved like a Hub checkpoint.

It exists so the idefics3 backend is tested on the family's real processor and model classes
(image splitting into tiles plus a global view, `<fake_token_around_image>` / `<row_i_col_j>` /
`<global-img>` markers, SigLIP tower, pixel-shuffle connector, Llama text model) without any
download. Tiles are 32 px and images are scaled to a longest edge of 96 px, so photos of other
aspect ratios split into other tile grids (3x3, 2x3, 3x2, 1x3) and the batch holds rows with
different numbers of image tokens. Weights are random; the text init (0.15, not 0.02) makes
greedy text depend on the input, which the backend's equality tests need.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessor,
    Idefics3Processor,
    Idefics3VisionConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

from judgefree_hub.demo.llava import unreadable_ids
from judgefree_hub.demo.tokenizer import corpus_lines

SEED = 4321
TILE = 32  # the vision encoder's input side (max_image_size) = one tile
PATCH = 8
SCALE_FACTOR = 2  # the connector's pixel shuffle
# <image> tokens per tile, given to the processor; the model derives the same from its config
IMAGE_SEQ_LEN = (TILE // PATCH) ** 2 // SCALE_FACTOR**2
LONGEST_EDGE = 3 * TILE  # images are resized to this longest edge, then cut into TILE squares
TEXT_INIT_STD = 0.15
VOCAB_SIZE = 1024

BOS, EOS, PAD, UNK = "<|im_start|>", "<end_of_utterance>", "<|im_end|>", "<unk>"
IMAGE, FAKE, GLOBAL = "<image>", "<fake_token_around_image>", "<global-img>"
ROW_COL = tuple(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))  # processor's 6x6
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK, IMAGE, FAKE, GLOBAL, *ROW_COL)

# SmolVLM-Instruct's layout ("<|im_start|>User:<image>Describe.<end_of_utterance>\nAssistant:"),
# with string content accepted too, so TRL's conversational rows and plain chats both render.
CHAT_TEMPLATE = (
    "<|im_start|>"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the demo corpus with every token Idefics3's processor and chat
    template use; deterministic (single-threaded training over a fixed corpus)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=1,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    lines = [line.replace("USER:", "User:").replace("ASSISTANT:", "Assistant:")
             for line in corpus_lines()]  # the roles as this chat template writes them
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE}, padding_side="left", model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_config(tokenizer) -> Idefics3Config:
    """SigLIP-style tower (64 wide, 2 layers) -> pixel shuffle + linear -> Llama (128, 2 layers)."""
    ids = tokenizer.convert_tokens_to_ids
    vision = Idefics3VisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, image_size=TILE, patch_size=PATCH)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=2048, initializer_range=TEXT_INIT_STD,
                       rms_norm_eps=1e-5, bos_token_id=ids(BOS), eos_token_id=ids(EOS),
                       pad_token_id=ids(PAD), tie_word_embeddings=False)
    return Idefics3Config(vision_config=vision, text_config=text, scale_factor=SCALE_FACTOR,
                          image_token_id=ids(IMAGE), pad_token_id=ids(PAD),
                          tie_word_embeddings=False)


def make_processor(tokenizer) -> Idefics3Processor:
    """Splitting on: resize to LONGEST_EDGE, cut into TILE squares, add the global view."""
    image_processor = Idefics3ImageProcessor(do_image_splitting=True,
                                             size={"longest_edge": LONGEST_EDGE},
                                             max_image_size={"longest_edge": TILE})
    return Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                             image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)


def build(folder: str | Path, cache_dir: str | Path | None = None) -> None:
    """Write processor, config, generation config and safetensors weights into `folder`."""
    folder = Path(folder)
    tokenizer = build_tokenizer()
    config = make_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Idefics3ForConditionalGeneration(config)
    if model.model.image_seq_len != IMAGE_SEQ_LEN:
        raise AssertionError(f"processor image_seq_len {IMAGE_SEQ_LEN} != the model's "
                             f"{model.model.image_seq_len}")
    with torch.no_grad():  # greedy text is words: specials but EOS, control bytes never win
        model.lm_head.weight[unreadable_ids(tokenizer)] = 0.0
    model.eval()
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False,
                                               max_new_tokens=64)
    model.save_pretrained(folder, safe_serialization=True)
    make_processor(tokenizer).save_pretrained(folder)
