"""The transformers base of the backends: AutoProcessor + AutoModelForImageTextToText.

Loading takes a Hub id (with revision), a local folder, or a demo: ref that the project builds
itself; all three go through the same from_pretrained calls. Rows with and without an image
share one left-padded batch and one KV cache. Position ids are always passed explicitly, at
prefill and at every step, and kept per row: by default they come from the attention mask
(right for families with 1-D rotary positions). A family that differs overrides a hook in its
own module: `prefill_positions` (e.g. Qwen2-VL's 3-D M-RoPE), `processor_inputs` (how images
are handed to its processor). Not registered itself: see llava.py.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from PIL import Image

from ..checkpoints import load_pretrained
from ..devices import pick_device, pick_dtype
from ..recipe import GenerationSpec, ModelSpec
from .base import AnswerPlan, Backend, Branch
from .decoding import decode_answers


@dataclass
class RowState:
    """Per-row decoding state; rows are indexed along dim -2 of `positions`, dim 0 of `mask`."""

    mask: torch.Tensor
    """Attention mask [R, length so far]."""
    positions: torch.Tensor
    """Position ids of each row's last token: [R, 1], or [K, R, 1] for multi-axis positions."""
    cache: Any
    live: Optional[torch.Tensor] = None
    """Static cache only: the batch row of each row still decoding. Finished rows stay in the
    batch (fed padding, their logits unread) until the live ones are half of it, so the shapes,
    and a compiled step, change only then."""


def static_cache_for(device: torch.device, setting: str) -> bool:
    """model.cache: auto = static on CUDA (decoding there is memory-bound: no re-allocation per
    step), dynamic elsewhere (a CPU gains nothing and pads to the longest answer)."""
    return setting == "static" or (setting == "auto" and device.type == "cuda")


class HFVisionBackend(Backend):
    """A loaded image-text-to-text model that decodes batches of branches (see decoding.py)."""

    def __init__(self, model, processor, device: torch.device, model_id: str, static_cache: bool = False):
        self.static_cache = static_cache
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.device = device
        self.model_id = model_id
        self.eos_token_ids = _eos_ids(model, self.tokenizer)
        self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._state: Optional[RowState] = None

    @classmethod
    def load(cls, spec: ModelSpec) -> "HFVisionBackend":
        device = pick_device(spec.device)
        processor, model = load_pretrained(spec.id, spec.revision, pick_dtype(spec.dtype, device))
        return cls(model.to(device), processor, device, spec.id, static_cache_for(device, spec.cache))

    def decode(self, rows: Sequence[Branch], answers: Sequence[AnswerPlan], gen: GenerationSpec,
               space: str) -> list[str]:
        return decode_answers(self, rows, answers, gen, space)

    # -- prompts -------------------------------------------------------------------------
    def chat_prompt(self, prompt: str, with_image: bool) -> str:
        """The model's own chat template; the image-free prompt is the same with the image
        placeholder dropped (method.md: 'removing the image')."""
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": prompt}]
        conv = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)

    def processor_inputs(self, texts: list[str], images: list[Optional[Image.Image]]) -> dict[str, Any]:
        """Keyword arguments for the processor: by default the images of the image rows, flat,
        in row order (each text holds its own image placeholder)."""
        flat = [im for im in images if im is not None]
        return {"text": texts, "images": flat or None}

    def encode(self, rows: Sequence[Branch]) -> dict[str, torch.Tensor]:
        """The processor's batch for these rows, on the model's device; floating inputs (pixel
        values) in the model's dtype."""
        texts = [self.chat_prompt(r.prompt, r.image is not None) for r in rows]
        kwargs = self.processor_inputs(texts, [r.image for r in rows])
        batch = self.processor(**kwargs, padding=True, return_tensors="pt")
        return {k: _to(v, self.device, self.model.dtype) for k, v in batch.items()}

    # -- positions (the hook a family with other positions overrides) --------------------
    def prefill_positions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Position ids of the prompt tokens [R, L] (or [K, R, L]); 1-D RoPE: from the mask."""
        return (batch["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)

    # -- StepModel -----------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, rows: Sequence[Branch], max_new_tokens: int) -> torch.Tensor:
        """Run each distinct (prompt, image) once, then give every row its copy of the cache:
        the positive and the negative of a sample share their image-conditioned prefix, so the
        image is processed and prefilled once, not twice."""
        from transformers import DynamicCache, StaticCache

        unique, index = _dedupe(rows)
        batch = self.encode(unique)
        mask = batch["attention_mask"]
        positions = self.prefill_positions(batch)
        length = mask.shape[1]
        extra = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
        if self.static_cache:
            # the cache counts its own write position (and the mask's length follows from it)
            cache = StaticCache(config=self.model.config, max_cache_len=length + max_new_tokens)
        else:
            cache = DynamicCache()
        out = self.model(input_ids=batch["input_ids"], attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1, **{self._cache_kw: cache}, **extra)
        self._state = RowState(mask=mask, positions=positions[..., -1:], cache=cache)
        logits = out.logits[:, -1].float()
        if len(unique) < len(rows):
            keep = torch.tensor(index, device=logits.device)
            self._select(keep)
            logits = logits[keep]
        if self.static_cache:
            self._state.live = torch.arange(len(rows), device=self.device)
        return logits

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        st = self._state
        tokens = tokens.to(self.device)
        if st.live is not None:  # finished rows still in the batch read padding
            full = tokens.new_full((st.mask.shape[0],), self._pad_id)
            tokens = full.index_copy(0, st.live, tokens)
        st.mask = torch.cat([st.mask, st.mask.new_ones(len(tokens), 1)], dim=-1)
        st.positions = st.positions + 1  # a generated token is text: every axis advances by one
        out = self.model(input_ids=tokens[:, None], attention_mask=st.mask, position_ids=st.positions,
                         use_cache=True, **{self._cache_kw: st.cache})
        logits = out.logits[:, -1].float()
        return logits if st.live is None else logits.index_select(0, st.live)

    def keep_rows(self, keep: torch.Tensor) -> None:
        """Dynamic cache: drop the other rows now. Static: forget them, and drop them only when
        the rows still decoding are half the batch or fewer (a new shape at most log2(R) times)."""
        st = self._state
        keep = keep.to(self.device)
        if st.live is None:
            self._select(keep)
            return
        st.live = st.live.index_select(0, keep)
        if 2 * len(st.live) <= st.mask.shape[0]:
            self._select(st.live)
            st.live = torch.arange(len(keep), device=self.device)

    def _select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) these batch rows of the cache, mask and positions."""
        st = self._state
        st.cache.reorder_cache(rows)  # index_select on every layer: dynamic and static layers alike
        st.mask = st.mask[rows]
        st.positions = st.positions.index_select(-2, rows)

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else min(self.eos_token_ids)

    def decode_text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()

    # -- the model's own decoding, for the self-check ------------------------------------
    @torch.inference_mode()
    def reference_tokens(self, row: Branch, max_new_tokens: int) -> list[int]:
        """Greedy tokens from the model's own `generate()` for one row, with a clean generation
        config (a checkpoint's sampling or repetition settings are not jfhub's greedy)."""
        from transformers import GenerationConfig

        batch = self.encode([row])
        config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                  eos_token_id=sorted(self.eos_token_ids),
                                  pad_token_id=self.tokenizer.pad_token_id)
        out = self.model.generate(**batch, generation_config=config)
        tokens = out[0, batch["input_ids"].shape[1]:].tolist()
        return next((tokens[:i] for i, t in enumerate(tokens) if t in self.eos_token_ids), tokens)

    def reference_text(self, row: Branch, max_new_tokens: int) -> str:
        return self.decode_text(self.reference_tokens(row, max_new_tokens))


def _to(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if not torch.is_tensor(value):
        return value
    return value.to(device, dtype) if value.is_floating_point() else value.to(device)


def _dedupe(rows: Sequence[Branch]) -> tuple[list[Branch], list[int]]:
    """Distinct rows (same prompt and the very same image object) and each row's index among them."""
    first: dict[tuple[str, int], int] = {}
    unique: list[Branch] = []
    index = []
    for r in rows:
        key = (r.prompt, id(r.image))
        if key not in first:
            first[key] = len(unique)
            unique.append(r)
        index.append(first[key])
    return unique, index


def _eos_ids(model, tokenizer) -> frozenset[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return frozenset(eos if isinstance(eos, (list, tuple)) else [eos])
