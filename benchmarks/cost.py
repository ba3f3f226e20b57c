"""What one preference pair costs, counted: jfhub's pair against plain decoding, and the CLIP
verifier against an MLLM judge (issue 16: the paper's cost claim, counted).

Nothing here needs weights. Each model is built on PyTorch's `meta` device from its real config
(benchmarks/configs/*.json, sources in benchmarks/configs/README.md) and its own forward code runs
on shapes only: FLOPs are what torch.utils.flop_counter.FlopCounterMode counts (matrix products,
attention, convolutions; element-wise work is not counted), bytes read are the weights each
forward reads plus the KV cache each decode step reads (activations are not counted). Per pair, at
the recipe's settings (recipes/llava.json, recipes/qwen2.5-vl.json: max_new_tokens T, batch size
B, prompt, mix strategy, verifier):

(a) positive only, as plain decoding writes one answer: the image through the vision tower, one
    prefill of image + prompt (it yields the first token), then T - 1 decode steps on a KV cache.
(b) jfhub's pair: the rows are those the mix strategy's own plan() lays out for a batch of B
    samples (strategies/mix.py): per sample an image-conditioned positive row, an
    image-conditioned negative row and the negative's image-free row. The backend's prefill runs
    each distinct (prompt, image) once (backends/hf.py): the two image rows of a sample share one
    prefill, and the image-free rows of the batch (one prompt, no image) are ONE prefill row, left-
    padded to the image rows' length, so it and its cache are as long as an image row's. Then
    T - 1 steps over every row (backends/decoding.py), each row reading its own padded cache; the
    shared prefix is copied to each row once (keep_rows). When h is clipped to 1 the negative is
    its image-free row alone (2 rows): the table counts 0 < h < 1 and a note gives the expectation.
(c) the CLIP verifier (verifiers/clip.py, open_clip ViT-L-14-336 from open_clip's own config): the
    pair's image once and both answers. With long_text = sentence_mean an answer over the text
    context (77 tokens with start and end) scores as the mean of its sentences, and both answers
    of a pair split if either does; every text forward is 77 tokens (open_clip pads).
(d) an MLLM judge, as RLAIF-V uses one: the same 7B model, and a 34B-class judge
    (LLaVA-NeXT-34B: Yi-34B language model, CLIP ViT-L/14-336 tower, anyres), each reading the
    image, an instruction and both answers in one prompt, then writing a short verdict.

To run in seconds, two exact shortcuts: decode steps are counted at two KV lengths and summed in
closed form (a step's FLOPs are affine in its KV length), and each stack of identical layers is
counted on 1- and 2-layer copies of the model and extended to its depth. tests/unit/test_cost.py
checks both against the full count (every step, every layer), and the counts against 2 FLOPs per
weight per token plus attention.

    python benchmarks/cost.py                       # both shipped models: ~13 s on 2 busy CPU cores
    python benchmarks/cost.py --config benchmarks/configs/qwen2.5-vl-7b.json --tokens 128
    python benchmarks/cost.py --time                # also time reduced (c) and (d) on this CPU
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = HERE / "configs"
DEFAULT_CONFIGS = (CONFIGS / "llava-1.5-7b.json", CONFIGS / "qwen2.5-vl-7b.json")
DEFAULT_JUDGE = CONFIGS / "llava-next-34b.json"
FAMILIES = ("llava", "llava_next", "qwen2_5_vl")
# The recipe whose generation settings a model family is counted at (--recipe overrides).
RECIPES = {"llava": ROOT / "recipes" / "llava.json", "llava_next": ROOT / "recipes" / "llava-next.json",
           "qwen2_5_vl": ROOT / "recipes" / "qwen2.5-vl.json"}
# Tokens of the chat template and prompt around the image, for "Describe this image in detail."
# Estimated (no tokenizer offline): LLaVA-1.5 "USER: <image>\n... ASSISTANT:" (Llama SentencePiece,
# BOS included); Qwen2.5-VL's template with its default system turn and the vision start/end tokens.
PROMPT_TOKENS = {"llava": 17, "llava_next": 17, "qwen2_5_vl": 27}
# Qwen2.5-VL-7B-Instruct's preprocessor_config.json pixel limits (28 x 28 pixels per image token).
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 3136, 12845056
CLIP_MODEL = "ViT-L-14-336"

GIGA, TERA = 1e9, 1e12


# -- counting on the meta device -----------------------------------------------------------------
def count_flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    """FLOPs FlopCounterMode counts while fn runs, and fn's result."""
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return counter.get_total_flops(), out


def read_config(path: str | Path):
    """A transformers config from a config.json (AutoConfig.for_model on its fields)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(**json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class Image:
    """What one image becomes in a model: vision-tower input and image tokens of the LLM."""

    tokens: int
    crops: int = 1  # CLIP-tower families: tiles of image_size x image_size
    grid: Optional[tuple[int, int, int]] = None  # Qwen2.5-VL: (t, h, w) patches


def anyres_tokens(width: int, height: int, pinpoints: Sequence[Sequence[int]], size: int, patch: int) -> tuple[int, int]:
    """LLaVA-NeXT's anyres: (image tokens, crops through the tower) for a width x height image,
    as its processor counts them (best grid resolution, unpadded grid features, one newline
    token per feature row, plus the base image's patches; the CLS is dropped)."""
    from transformers.image_processing_utils import select_best_resolution

    best_h, best_w = select_best_resolution((height, width), [list(p) for p in pinpoints])
    rows, cols = best_h // size, best_w // size
    side = size // patch
    cur_h, cur_w = side * rows, side * cols
    if width / height > cur_w / cur_h:
        cur_h -= 2 * ((cur_h - int(round(height * (cur_w / width), 7))) // 2)
    else:
        cur_w -= 2 * ((cur_w - int(round(width * (cur_h / height), 7))) // 2)
    return cur_h * cur_w + cur_h + side * side, 1 + rows * cols


class MetaVLM:
    """A vision-language model built on the meta device from its config: shapes, no weights.

    Counts one image's vision forward, one row's prefill and one row's decode steps; a batch of
    R rows costs R times one row (every product is per row), so rows are multiplied in.

    Counting a forward takes time per layer (every op passes the counter), so by default each
    stack of identical layers is counted on 1- and 2-layer copies of the model and extended to
    its depth: c1 + (depth - 1) (c2 - c1), exact because the layers are identical (Qwen2.5-VL's
    vision tower has two kinds of block, window and full attention: one more copy). The tests
    check this against the full model (`depth_shortcut=False`)."""

    def __init__(self, config, name: str = "model", depth_shortcut: bool = True):
        from transformers import AutoModelForImageTextToText

        if config.model_type not in FAMILIES:
            raise ValueError(f"{name}: model_type {config.model_type!r} is not counted here "
                             f"(supported: {', '.join(FAMILIES)})")
        self.config, self.name, self.family = config, name, config.model_type
        self.depth_shortcut = depth_shortcut
        with torch.device("meta"):
            self.model = AutoModelForImageTextToText.from_config(config).eval()
        self.lm = self.model.get_decoder()
        self.text = config.text_config
        self.depth = self.text.num_hidden_layers
        self._shallow = ([self._copy(text={"num_hidden_layers": k}) for k in (1, 2)]
                         if depth_shortcut and self.depth > 2 else None)
        self._step: Optional[tuple[int, int]] = None  # (a, b): one row's step at KV length n = a + b n
        self._prefill: dict[int, int] = {}
        self._vision: dict[Image, int] = {}
        self._kv_per_token: Optional[int] = None
        embed = self.lm.get_input_embeddings().weight
        head = self.model.get_output_embeddings().weight
        lm_ids = {id(p) for p in self.lm.parameters()} | {id(head)}
        self.params = sum(p.numel() for p in self.model.parameters())
        # Weights a language-model forward reads: all of it but the input embedding table (a
        # lookup reads a few rows), plus the output head (read whole) unless it is that table.
        self.lm_params = (sum(p.numel() for p in self.lm.parameters()) - embed.numel()
                          + (head.numel() if head is not embed else embed.numel()))
        self.vision_params = sum(p.numel() for p in self.model.parameters() if id(p) not in lm_ids)

    def _copy(self, text: Optional[dict] = None, vision: Optional[dict] = None):
        """The model on meta with some text_config / vision_config fields replaced."""
        from transformers import AutoConfig, AutoModelForImageTextToText

        raw = self.config.to_dict()
        if text:
            raw["text_config"].update(text, layer_types=None)
            if "max_window_layers" in raw["text_config"]:
                raw["text_config"]["max_window_layers"] = min(text["num_hidden_layers"],
                                                              raw["text_config"]["max_window_layers"])
        raw["vision_config"].update(vision or {})
        with torch.device("meta"):
            return AutoModelForImageTextToText.from_config(AutoConfig.for_model(**raw)).eval()

    def _vision_copy(self, **vision):
        """A copy with these vision_config fields, for counting its vision tower (a 1-layer
        language model: it is not run)."""
        return self._copy(text={"num_hidden_layers": 1}, vision=vision)

    # -- the image ----------------------------------------------------------------------------
    def image(self, width: int, height: int) -> Image:
        c = self.config
        if self.family == "qwen2_5_vl":
            from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

            v = c.vision_config
            h, w = smart_resize(height, width, factor=v.patch_size * v.spatial_merge_size,
                                min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS)
            grid = (1, h // v.patch_size, w // v.patch_size)
            return Image(tokens=grid[1] * grid[2] // v.spatial_merge_size ** 2, grid=grid)
        v = c.vision_config
        if self.family == "llava_next":
            tokens, crops = anyres_tokens(width, height, c.image_grid_pinpoints, v.image_size, v.patch_size)
            return Image(tokens=tokens, crops=crops)
        return Image(tokens=c.image_seq_length)  # LLaVA-1.5: every image is resized to one tile

    def vision_flops(self, image: Image) -> int:
        """The vision tower and projector on one image (Qwen2.5-VL: patch merger included)."""
        if image not in self._vision:
            self._vision[image] = self._vision_count(image)
        return self._vision[image]

    def _vision_count(self, image: Image) -> int:
        v = self.config.vision_config
        if not self.depth_shortcut:
            return self.vision_flops_of(self.model, image)
        if self.family == "qwen2_5_vl":
            one, two, full = (self.vision_flops_of(self._vision_copy(depth=d, fullatt_block_indexes=f), image)
                              for d, f in ((1, []), (2, []), (1, [0])))
            window = two - one
            base = one - window
            n_full = len(v.fullatt_block_indexes)
            return base + (v.depth - n_full) * window + n_full * (full - base)
        if v.num_hidden_layers <= 2:
            return self.vision_flops_of(self.model, image)
        one, two = (self.vision_flops_of(self._vision_copy(num_hidden_layers=k), image) for k in (1, 2))
        return one + (v.num_hidden_layers - 1) * (two - one)

    @torch.inference_mode()
    def vision_flops_of(self, model, image: Image) -> int:
        """Counted on `model` (this model or a copy of it)."""
        c = model.config
        v = c.vision_config
        if self.family == "qwen2_5_vl":
            from transformers import vision_utils

            grid = torch.tensor([image.grid])
            window, cu_window = vision_utils.get_vision_window_index(
                grid, v.spatial_merge_size, v.window_size, v.patch_size)
            # The data-dependent indices are computed on the CPU from the grid, as the processor's
            # grid would give them; the tensors that meet the weights go to the meta device.
            kw = {"position_ids": vision_utils.get_vision_position_ids(grid, v.spatial_merge_size).to("meta"),
                  "cu_seqlens": vision_utils.get_vision_cu_seqlens(grid),
                  "window_index": window.to("meta"), "cu_window_seqlens": cu_window}
            patch_dim = v.in_channels * v.temporal_patch_size * v.patch_size ** 2
            pixels = torch.empty(math.prod(image.grid), patch_dim, device="meta")
            flops, _ = count_flops(lambda: model.model.visual(pixels, grid_thw=grid, **kw))
            return flops
        pixels = torch.empty(image.crops, v.num_channels, v.image_size, v.image_size, device="meta")
        core = model.model

        def run():
            hidden = core.vision_tower(pixels, output_hidden_states=True).hidden_states[c.vision_feature_layer]
            if c.vision_feature_select_strategy == "default":
                hidden = hidden[:, 1:]
            return core.multi_modal_projector(hidden)

        flops, _ = count_flops(run)
        return flops

    # -- the language model ---------------------------------------------------------------
    def _positions(self, start: int, length: int, rows: int = 1) -> torch.Tensor:
        """Position ids [rows, length]; Qwen2.5-VL's M-RoPE takes one per axis [3, rows, length]
        (text positions: the same on every axis)."""
        pos = torch.arange(start, start + length, device="meta").expand(rows, length)
        return pos.expand(3, rows, length) if self.family == "qwen2_5_vl" else pos

    def _forward(self, model, cache, start: int, length: int) -> int:
        """One row's forward over `length` new tokens after `start` cached ones, logits for the
        last position only (jfhub's prefill passes logits_to_keep=1; a step has one position)."""
        embeds = torch.empty(1, length, self.text.hidden_size, device="meta")

        def run():
            hidden = model.get_decoder()(inputs_embeds=embeds, position_ids=self._positions(start, length),
                                         cache=cache, use_cache=True).last_hidden_state
            return model.lm_head(hidden[:, -1:])

        flops, _ = count_flops(run)
        return flops

    @torch.inference_mode()
    def counts_of(self, model, length: int) -> tuple[int, int, int, int]:
        """For one row of `model`: a prefill of `length` tokens, the next two decode steps (KV
        lengths length + 1 and length + 2), and the KV-cache values per token (off the cache)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config.get_text_config())
        prefill = self._forward(model, cache, 0, length)
        kv = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) // length
        first = self._forward(model, cache, length, 1)
        second = self._forward(model, cache, length + 1, 1)
        return prefill, first, second, kv

    def counts(self, length: int) -> tuple[int, int, int, int]:
        """counts_of the full model (from its 1- and 2-layer copies, see the class)."""
        if self._shallow is None:
            return self.counts_of(self.model, length)
        one, two = (self.counts_of(m, length) for m in self._shallow)
        return tuple(c1 + (self.depth - 1) * (c2 - c1) for c1, c2 in zip(one, two, strict=True))

    def prefill_flops(self, length: int) -> int:
        """One row's prefill of `length` prompt tokens (image tokens included), vision excluded."""
        if length not in self._prefill:
            prefill, first, second, kv = self.counts(length)
            self._prefill[length] = prefill
            if self._step is None:  # a step is affine in its KV length n: a + b n
                slope = second - first
                self._step, self._kv_per_token = (first - slope * (length + 1), slope), kv
        return self._prefill[length]

    def step_coefficients(self) -> tuple[int, int]:
        """(a, b): one row's decode step, its KV length n counting the new token, is a + b n FLOPs."""
        if self._step is None:
            self.prefill_flops(8)
        return self._step

    def decode_flops(self, prompt: int, steps: int, rows: int = 1) -> int:
        """`steps` decode steps after a `prompt`-token prefill, for `rows` rows (closed form)."""
        a, b = self.step_coefficients()
        return rows * (steps * a + b * (steps * prompt + steps * (steps + 1) // 2))

    @torch.inference_mode()
    def decode_flops_stepwise(self, prompt: int, steps: int, rows: int = 1) -> int:
        """The same, counted step by step on the full model with one cache of `rows` rows (no
        shortcut: for the tests)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.text)
        hidden = self.text.hidden_size
        self.lm(inputs_embeds=torch.empty(rows, prompt, hidden, device="meta"),
                position_ids=self._positions(0, prompt, rows), cache=cache, use_cache=True)

        def step(k: int):
            embeds = torch.empty(rows, 1, hidden, device="meta")
            out = self.lm(inputs_embeds=embeds, position_ids=self._positions(prompt + k, 1, rows),
                          cache=cache, use_cache=True)
            return self.model.lm_head(out.last_hidden_state)

        return sum(count_flops(partial(step, k))[0] for k in range(steps))

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """Bytes of one token's keys and values over every layer, read off a real (meta) cache."""
        self.step_coefficients()
        return self._kv_per_token * dtype_bytes


class MetaClip:
    """An open_clip model on the meta device from a model config (open_clip's JSON)."""

    def __init__(self, model_cfg: dict, name: str = CLIP_MODEL):
        import open_clip

        self.name, self.cfg = name, model_cfg
        with torch.device("meta"):
            self.model = open_clip.CLIP(**model_cfg).eval()
        self.context = model_cfg["text_cfg"].get("context_length", 77)
        visual = {id(p) for p in self.model.visual.parameters()}
        self.params = sum(p.numel() for p in self.model.parameters())
        self.vision_params = sum(p.numel() for p in self.model.visual.parameters())
        # Weights a text forward reads: the text tower but its token table (a lookup of 77 rows).
        self.text_params = (sum(p.numel() for p in self.model.parameters() if id(p) not in visual)
                            - self.model.token_embedding.weight.numel())
        size = model_cfg["vision_cfg"]["image_size"]
        with torch.inference_mode():
            self.image_flops, _ = count_flops(lambda: self.model.encode_image(
                torch.empty(1, 3, size, size, device="meta"), normalize=True))
            self.text_flops, _ = count_flops(lambda: self.model.encode_text(
                torch.zeros(1, self.context, dtype=torch.long, device="meta"), normalize=True))

    @classmethod
    def named(cls, name: str = CLIP_MODEL) -> "MetaClip":
        import open_clip

        return cls(open_clip.get_model_config(name), name)


# -- the settings and the four costs ---------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    tokens: int  # T: new tokens per answer (the recipe's max_new_tokens)
    batch: int  # B: samples per batch (the recipe's model.batch_size)
    prompt_tokens: int  # chat template + prompt around the image
    width: int = 640
    height: int = 480
    verdict_tokens: int = 32
    judge_prompt_tokens: int = 64  # the judge's instruction and chat template
    dtype_bytes: int = 2
    clip_dtype_bytes: int = 4  # jfhub's verifier loads open_clip in float32
    clip_batch: int = 64  # the recipe's verifier.batch_size
    sentence_tokens: int = 24
    long_text: str = "sentence_mean"


@dataclass
class Cost:
    """One pair's share of a batch's work."""

    vision: float = 0.0
    prefill: float = 0.0
    decode: float = 0.0
    weight_bytes: float = 0.0
    kv_bytes: float = 0.0
    detail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def flops(self) -> float:
        return self.vision + self.prefill + self.decode

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes


@dataclass(frozen=True)
class Layout:
    """What a batch of B samples runs: vision forwards, prefill rows, decode rows."""

    images: int  # distinct images through the vision tower
    image_prefills: int  # distinct image rows prefilled
    free_prefills: int  # distinct image-free rows prefilled (padded to the image rows' length)
    decode_rows: int  # rows of every decode step
    samples: int

    @property
    def prefill_rows(self) -> int:
        return self.image_prefills + self.free_prefills


def layout_of(rows: Sequence[Any], samples: int) -> Layout:
    """The layout of planned rows (Branch: prompt, image or None), deduplicated as the backend's
    prefill does: one prefill per distinct (prompt, image object)."""
    distinct = {(r.prompt, id(r.image)): r for r in rows}.values()
    return Layout(images=len({id(r.image) for r in rows if r.image is not None}),
                  image_prefills=sum(r.image is not None for r in distinct),
                  free_prefills=sum(r.image is None for r in distinct),
                  decode_rows=len(rows), samples=samples)


def plan_layouts(options: dict, seed: int, batch: int, prompt: str) -> dict[str, Layout]:
    """Layouts of B samples (one prompt, distinct images): plain decoding (one row each), and the
    mix strategy's own plan() (the recipe's options) with h fixed inside (0, 1), and at 1."""
    from PIL import Image as PILImage

    from judgefree_hub.backends import Branch
    from judgefree_hub.records import LoadedSample, Sample
    from judgefree_hub.strategies import STRATEGIES

    samples = [LoadedSample(Sample(f"cost-{i}", "cost", prompt, lambda: None), PILImage.new("RGB", (4, 4)))
               for i in range(batch)]
    out = {"positive": layout_of([Branch(s.sample.prompt, s.image) for s in samples], batch)}
    for label, h in (("pair", 0.5), ("pair_h1", 1.0)):
        fixed = {**options, "negative_ratio": {"distribution": "fixed", "value": h}}
        rows, _, _ = STRATEGIES.get("mix")(fixed, seed).plan(samples)
        out[label] = layout_of(rows, batch)
    return out


def clipped_to_one(dist: Any) -> float:
    """P(h = 1): the probability that the recipe's negative ratio is clipped to 1."""
    if dist.distribution == "fixed":
        return float(dist.value >= 1)
    if dist.max < 1:
        return 0.0
    return 0.5 * math.erfc((1.0 - dist.mean) / (dist.std * math.sqrt(2)))


def decoding_cost(m: MetaVLM, layout: Layout, s: Settings, image: Image, vision: int) -> Cost:
    """One pair's share of decoding a batch laid out as `layout`: T tokens per answer (the
    prefill's logits give the first, then T - 1 steps over every row)."""
    length = image.tokens + s.prompt_tokens
    steps = s.tokens - 1
    per = 1.0 / layout.samples
    kv = m.kv_bytes_per_token(s.dtype_bytes)
    copied = layout.decode_rows if layout.decode_rows > layout.prefill_rows else 0  # keep_rows
    kv_read = layout.decode_rows * kv * (steps * length + steps * (steps + 1) // 2) + copied * kv * length
    return Cost(vision=layout.images * vision * per,
                prefill=layout.prefill_rows * m.prefill_flops(length) * per,
                decode=m.decode_flops(length, steps, layout.decode_rows) * per,
                weight_bytes=(layout.images > 0) * m.vision_params * s.dtype_bytes * per
                + s.tokens * m.lm_params * s.dtype_bytes * per,
                kv_bytes=kv_read * per,
                detail=f"{layout.decode_rows / layout.samples:g} row(s) per sample x {steps} steps")


def clip_pieces(s: Settings, context: int) -> int:
    """Text forwards per answer of T tokens, as verifiers/clip.py splits it: over the context
    (start and end tokens counted, one CLIP token per LLM token assumed) and sentence_mean, one
    forward per sentence of `sentence_tokens`; else one forward."""
    if s.long_text == "sentence_mean" and s.tokens + 2 > context:
        return math.ceil(s.tokens / s.sentence_tokens)
    return 1


def verifier_cost(clip: MetaClip, s: Settings) -> Cost:
    """The pair's image once (score() encodes an image object once) and both answers' pieces;
    weights are read once per verifier batch (batch_size items), images of one model batch."""
    pieces = 2 * clip_pieces(s, clip.context)
    image_batches = math.ceil(s.batch / s.clip_batch)
    text_batches = math.ceil(s.batch * pieces / s.clip_batch)
    return Cost(vision=clip.image_flops, prefill=pieces * clip.text_flops,
                weight_bytes=(image_batches * clip.vision_params + text_batches * clip.text_params)
                * s.clip_dtype_bytes / s.batch,
                detail=f"1 image + {pieces} texts of {clip.context}", extra={"pieces": pieces})


def judge_cost(m: MetaVLM, s: Settings) -> Cost:
    """One judge call per pair: prefill of image + instruction + both answers, then the verdict
    (its first token from the prefill, V - 1 steps); batched B calls per forward like (a)."""
    image = m.image(s.width, s.height)
    length = image.tokens + s.judge_prompt_tokens + 2 * s.tokens
    steps = s.verdict_tokens - 1
    kv = m.kv_bytes_per_token(s.dtype_bytes)
    return Cost(vision=m.vision_flops(image), prefill=m.prefill_flops(length),
                decode=m.decode_flops(length, steps),
                weight_bytes=(m.vision_params + s.verdict_tokens * m.lm_params) * s.dtype_bytes / s.batch,
                kv_bytes=kv * (steps * length + steps * (steps + 1) // 2),
                detail=f"{image.tokens} image + {length - image.tokens} text tokens, {s.verdict_tokens}-token verdict",
                extra={"length": length, "image_tokens": image.tokens})


@dataclass
class Report:
    name: str
    model: MetaVLM
    settings: Settings
    image: Image
    positive: Cost
    pair: Cost
    pair_h1: Cost
    p_h1: float
    verifier: Cost
    judges: list[tuple[str, Cost]]
    recipe: str


def count_model(m: MetaVLM, s: Settings, strategy: Any, prompt: str, clip: MetaClip,
                judges: Sequence[MetaVLM], recipe: str = "") -> Report:
    """All four costs for generator `m`; `strategy` is the recipe's mix strategy."""
    image = m.image(s.width, s.height)
    vision = m.vision_flops(image)
    layouts = plan_layouts(dict(strategy.options), strategy.seed, s.batch, prompt)
    costs = {k: decoding_cost(m, lay, s, image, vision) for k, lay in layouts.items()}
    judged = [(j.name, judge_cost(j, s)) for j in [m, *judges]]
    return Report(m.name, m, s, image, costs["positive"], costs["pair"], costs["pair_h1"],
                  clipped_to_one(strategy.negative_ratio), verifier_cost(clip, s), judged, recipe)


# -- the table -------------------------------------------------------------------------------------
def table(r: Report) -> str:
    s, m = r.settings, r.model
    out = [f"{r.name}: {m.family}, {m.params / GIGA:.2f}B parameters ({m.vision_params / GIGA:.2f}B vision); "
           f"settings of {r.recipe}",
           f"  T = {s.tokens} tokens per answer, batch {s.batch}, image {s.width}x{s.height} -> {r.image.tokens} "
           f"image tokens, prompt {r.image.tokens + s.prompt_tokens} tokens, {s.dtype_bytes}-byte weights and KV cache",
           f"  {'per pair':42} {'TFLOPs':>9} {'vision':>9} {'prefill':>9} {'decode':>9} {'GB read':>9}  rows, tokens"]
    rows = [("(a) positive only", r.positive), ("(b) jfhub pair: positive + mixed negative", r.pair),
            (f"(c) CLIP verifier {CLIP_MODEL}", r.verifier)]
    rows += [(f"(d) judge {name}", cost) for name, cost in r.judges]
    for label, c in rows:
        out.append(f"  {label:42} {_tf(c.flops)} {_tf(c.vision)} {_tf(c.prefill)} {_tf(c.decode)} {_gb(c.bytes)}"
                   f"  {c.detail}")
    a, b = r.positive, r.pair
    expected = (1 - r.p_h1) * r.pair.flops + r.p_h1 * r.pair_h1.flops
    out.append(f"  (b)/(a): FLOPs {b.flops / a.flops:.2f}x, bytes {b.bytes / a.bytes:.2f}x: the pair's extra cost "
               f"over plain decoding (FLOPs {expected / a.flops:.2f}x expected over h: 2 rows when h = 1, "
               f"P = {r.p_h1:.2%})")
    out.append("  (d)/(c): " + "; ".join(f"{name} judge FLOPs {c.flops / r.verifier.flops:.1f}x, "
                                         f"bytes {c.bytes / r.verifier.bytes:.0f}x" for name, c in r.judges))
    return "\n".join(out)


def _tf(x: float) -> str:
    return f"{x / TERA:9.3f}" if x < 10 * TERA else f"{x / TERA:9.1f}"


def _gb(x: float) -> str:
    return f"{x / GIGA:9.3f}" if x < 10 * GIGA else f"{x / GIGA:9.1f}"


def assumptions(s: Settings, clip: MetaClip, pieces: int) -> str:
    return "\n".join([
        "Assumptions:",
        "- FLOPs: FlopCounterMode on the meta device (matrix products, attention, convolutions; no element-wise",
        "  work). Bytes read: weights once per forward, shared by the batch's B samples, plus each decode step",
        "  reading every row's KV cache (padded length) and keep_rows copying the shared prefix to each row;",
        "  activations and the copies transformers' DynamicCache makes as it grows (alike for (a) and (b)) not counted.",
        "- Every answer is T tokens (no early EOS): the prefill's logits give token 1, then T - 1 steps.",
        f"- Prompt tokens besides the image, estimated without a tokenizer: {PROMPT_TOKENS}; every image is "
        f"{s.width}x{s.height},",
        "  so the image rows of a batch have one length; one prompt per batch, so its image-free rows are one prefill.",
        f"- (c) CLIP ({clip.params / GIGA:.3f}B parameters, float32 as jfhub loads it): a T-token answer is ~T CLIP "
        f"tokens; over {clip.context}",
        f"  it is split into sentences of {s.sentence_tokens} tokens -> {pieces // 2} text forwards of {clip.context} "
        "tokens per answer (in the prefill column).",
        f"- (d) one judge call per pair, batched B per forward: image + {s.judge_prompt_tokens} instruction and "
        f"template tokens + 2 x T answer tokens, a {s.verdict_tokens}-token verdict.",
        "  RLAIF-V's divide-and-conquer judge (one call per claim) costs more: this is the judge's lower bound.",
    ])


# -- --time: reduced models, real forwards on this CPU ---------------------------------------------
REDUCED_TEXT = {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
                "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 64}
REDUCED_CLIP = {"embed_dim": 128,
                "vision_cfg": {"image_size": 336, "layers": 4, "width": 128, "head_width": 64, "patch_size": 14},
                "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 4}}


def reduced_config(path: str | Path):
    """The model's architecture and token geometry (image size, patches, vocabulary), narrower
    and shallower: 256-wide 4-layer language model, 128-wide 4-layer vision tower."""
    raw = json.loads(Path(path).read_text())
    if raw["model_type"] == "qwen2_5_vl":
        raw.update({**REDUCED_TEXT, "num_key_value_heads": 2, "max_window_layers": 4,
                    "rope_scaling": {"mrope_section": [8, 12, 12], "rope_type": "default", "type": "default"}})
        raw.pop("head_dim")
        raw["vision_config"].update({"depth": 4, "hidden_size": 128, "intermediate_size": 344, "num_heads": 2,
                                     "out_hidden_size": 256, "fullatt_block_indexes": [1, 3]})
    elif raw["model_type"] in ("llava", "llava_next"):
        raw["text_config"].update(REDUCED_TEXT)
        raw["vision_config"].update({"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4,
                                     "num_attention_heads": 2, "projection_dim": 128})
    else:
        raise ValueError(f"--time: no reduced config for model_type {raw['model_type']!r}")
    from transformers import AutoConfig

    return AutoConfig.for_model(**raw)


def best_ms(fns: Sequence[Callable[[], Any]], repeats: int) -> list[float]:
    """Each function's best wall time in ms over `repeats` runs after a warm-up; the functions
    take turns, so a change in the machine's load falls on both alike."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [b * 1e3 for b in best]


def judge_inputs(config, image: Image, length: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A judge prompt of `length` tokens holding one image's placeholders, and its pixels."""
    c = config
    if c.model_type not in ("llava", "qwen2_5_vl"):
        raise ValueError("--time times the judge of a llava or qwen2_5_vl generator")
    text = torch.randint(100, 1000, (length,), generator=gen)  # ordinary tokens in every vocabulary here
    image_id = c.image_token_id if c.model_type == "qwen2_5_vl" else c.image_token_index
    text[text == image_id] = 100  # placeholders only where the image goes
    if c.model_type == "qwen2_5_vl":
        v = c.vision_config
        text[5] = c.vision_start_token_id
        text[6:6 + image.tokens] = c.image_token_id
        text[6 + image.tokens] = c.vision_end_token_id
        patch_dim = v.in_channels * v.temporal_patch_size * v.patch_size ** 2
        extra = {"pixel_values": torch.randn(math.prod(image.grid), patch_dim, generator=gen),
                 "image_grid_thw": torch.tensor([image.grid])}
    else:
        text[1:1 + image.tokens] = c.image_token_index
        size = c.vision_config.image_size
        extra = {"pixel_values": torch.randn(1, 3, size, size, generator=gen)}
    return {"input_ids": text[None], "attention_mask": torch.ones(1, length, dtype=torch.long), **extra}


@torch.inference_mode()
def run_judge(model, inputs: dict[str, torch.Tensor], verdict: int) -> None:
    """Prefill (logits of the last position) and verdict - 1 greedy steps on one cache."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config.get_text_config())
    out = model(**inputs, cache=cache, use_cache=True, logits_to_keep=1)
    mask = inputs["attention_mask"]
    for _ in range(verdict - 1):
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        mask = torch.cat([mask, mask.new_ones(1, 1)], dim=-1)
        out = model(input_ids=token, attention_mask=mask, cache=cache, use_cache=True)


def time_reduced(path: Path, s: Settings, pieces: int, repeats: int) -> str:
    """(c) and (d) at a reduced size, real forwards with random weights on this CPU, at the token
    counts counted above; with the FLOPs the same code counts for these reduced models."""
    import open_clip
    from transformers import AutoModelForImageTextToText

    config = reduced_config(path)
    counted = MetaVLM(config, f"reduced {path.stem}")
    image = counted.image(s.width, s.height)
    timed = replace(s, batch=1, dtype_bytes=4, clip_dtype_bytes=4)  # as run here: one pair, float32
    judge = judge_cost(counted, timed)
    clip_counted = MetaClip(REDUCED_CLIP, "reduced CLIP")
    verifier = verifier_cost(clip_counted, timed)
    assert verifier.extra["pieces"] == pieces
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config).eval()
    inputs = judge_inputs(config, image, judge.extra["length"], gen)
    clip = open_clip.CLIP(**REDUCED_CLIP).eval()
    pixels = torch.randn(1, 3, 336, 336, generator=gen)
    texts = torch.randint(1, 49405, (pieces, 77), generator=gen)

    @torch.inference_mode()
    def verify():
        clip.encode_image(pixels, normalize=True)
        clip.encode_text(texts, normalize=True)

    clip_ms, judge_ms = best_ms([verify, partial(run_judge, model, inputs, s.verdict_tokens)], repeats)
    return "\n".join([
        f"  reduced CLIP (vision 128 x 4 layers at 336/14, text 128 x 4): 1 image + {pieces} texts of 77 tokens: "
        f"{clip_ms:8.1f} ms, counted {verifier.flops / GIGA:7.2f} GFLOPs, {verifier.bytes / GIGA:6.3f} GB read",
        f"  reduced {path.stem} judge (language model 256 x 4 layers, vision 128 x 4): {judge.extra['length']}-token "
        f"prompt + {s.verdict_tokens}-token verdict: {judge_ms:8.1f} ms, counted {judge.flops / GIGA:7.2f} GFLOPs, "
        f"{judge.bytes / GIGA:6.3f} GB read",
        f"  (d)/(c) reduced: measured time {judge_ms / clip_ms:.1f}x, counted FLOPs {judge.flops / verifier.flops:.1f}x, "
        f"bytes {judge.bytes / verifier.bytes:.1f}x (one pair, float32; the real vocabularies make decode steps "
        "bandwidth-bound)",
    ])


# -- main ------------------------------------------------------------------------------------------
def recipe_settings(recipe_path: Path, family: str, args: argparse.Namespace):
    """Settings and the mix strategy from a recipe, flags overriding."""
    from judgefree_hub.recipe import load_recipe, thaw
    from judgefree_hub.strategies import STRATEGIES

    recipe = load_recipe(recipe_path)
    if recipe.strategy.kind != "mix":
        raise ValueError(f"{recipe_path}: strategy {recipe.strategy.kind!r}; the pair is counted for mix")
    strategy = STRATEGIES.get("mix")(recipe.strategy.options, recipe.seed)
    verifier = thaw(recipe.verifier.options)
    prompts = [p for src in recipe.sources for p in thaw(src.options).get("prompts") or []]
    width, height = (int(x) for x in args.image_size.lower().split("x"))
    settings = Settings(
        tokens=args.tokens or recipe.model.generation.max_new_tokens,
        batch=args.batch or recipe.model.batch_size,
        prompt_tokens=args.prompt_tokens if args.prompt_tokens is not None else PROMPT_TOKENS[family],
        width=width, height=height, verdict_tokens=args.verdict_tokens,
        judge_prompt_tokens=args.judge_prompt_tokens, dtype_bytes=args.dtype_bytes,
        clip_dtype_bytes=args.clip_dtype_bytes, clip_batch=int(verifier.get("batch_size", 64)),
        sentence_tokens=args.sentence_tokens, long_text=verifier.get("long_text", "sentence_mean"))
    return settings, strategy, (prompts[0] if prompts else "Describe this image in detail.")


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", type=Path,
                    help="a model config.json (repeatable; default: the two shipped generator configs)")
    ap.add_argument("--judge-config", action="append", type=Path,
                    help=f"a larger judge's config.json (repeatable; default {DEFAULT_JUDGE.relative_to(ROOT)})")
    ap.add_argument("--recipe", type=Path, help="recipe to read settings from (default: by model_type)")
    ap.add_argument("--tokens", type=int, help="T, new tokens per answer (default: the recipe's max_new_tokens)")
    ap.add_argument("--batch", type=int, help="samples per batch (default: the recipe's model.batch_size)")
    ap.add_argument("--verdict-tokens", type=int, default=32, help="tokens the judge writes (default 32)")
    ap.add_argument("--judge-prompt-tokens", type=int, default=64,
                    help="judge instruction + chat template tokens besides image and answers (default 64)")
    ap.add_argument("--prompt-tokens", type=int,
                    help=f"generation prompt tokens besides the image (default by family: {PROMPT_TOKENS})")
    ap.add_argument("--image-size", default="640x480", help="WIDTHxHEIGHT of the images (default COCO's 640x480)")
    ap.add_argument("--sentence-tokens", type=int, default=24,
                    help="tokens per sentence when the verifier splits an answer (default 24)")
    ap.add_argument("--dtype-bytes", type=int, default=2, help="bytes per weight and KV value of the VLMs (default 2)")
    ap.add_argument("--clip-dtype-bytes", type=int, default=4, help="bytes per CLIP weight (default 4: float32)")
    ap.add_argument("--time", action="store_true", help="also time reduced (c) and (d) on this CPU")
    ap.add_argument("--repeats", type=int, default=3, help="--time: best of this many runs (default 3)")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", args.image_size.lower()):
        ap.error(f"--image-size {args.image_size!r}: give WIDTHxHEIGHT, e.g. 640x480")
    for name in ("tokens", "batch", "verdict_tokens", "sentence_tokens", "dtype_bytes", "clip_dtype_bytes", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse(argv)
    t0 = time.perf_counter()
    clip = MetaClip.named()
    judges = [MetaVLM(read_config(p), p.stem) for p in (args.judge_config or [DEFAULT_JUDGE])]
    reports = []
    for path in args.config or DEFAULT_CONFIGS:
        config = read_config(path)
        model = MetaVLM(config, path.stem)
        recipe = args.recipe or RECIPES.get(model.family)
        settings, strategy, prompt = recipe_settings(recipe, model.family, args)
        shown = recipe.relative_to(ROOT) if recipe.is_relative_to(ROOT) else recipe
        report = count_model(model, settings, strategy, prompt, clip, judges, str(shown))
        reports.append(report)
        print(table(report), end="\n\n", flush=True)
    last = reports[-1]
    print(assumptions(last.settings, clip, last.verifier.extra["pieces"]))
    print(f"counted in {time.perf_counter() - t0:.1f} s")
    if args.time:
        print(f"\n--time: real forwards on this CPU ({torch.get_num_threads()} threads, float32, random weights), "
              "reduced models, the token counts above")
        for path, report in zip(args.config or DEFAULT_CONFIGS, reports, strict=True):
            t1 = time.perf_counter()
            print(time_reduced(path, report.settings, report.verifier.extra["pieces"], args.repeats))
            name, judge = report.judges[0]
            print(f"  (d)/(c) full size, counted: FLOPs {judge.flops / report.verifier.flops:.1f}x "
                  f"({name} judge); timed in {time.perf_counter() - t1:.1f} s", flush=True)


if __name__ == "__main__":
    main()
