"""The transformers base of the backends: AutoProcessor + AutoModelForImageTextToText.

Loading takes a Hub id (with revision), a local folder, or a demo: ref that the project builds
itself; all three go through the same from_pretrained calls. Rows with and without an image
share one left-padded batch and one KV cache; position ids come from the attention mask
(prefill and every step), which keeps padded rows equal to running them alone for families
with 1-D rotary positions. A family that differs (e.g. Qwen2-VL's 3-D M-RoPE) subclasses this
in its own module and overrides what differs. Not registered itself: see llava.py.
"""

from __future__ import annotations

import inspect
from typing import Optional, Sequence

import torch

from ..demo import model_path
from ..devices import pick_device, pick_dtype
from ..errors import ModelLoadError
from ..recipe import GenerationSpec, ModelSpec
from .base import AnswerPlan, Backend, Branch
from .decoding import decode_answers


class HFVisionBackend(Backend):
    """A loaded image-text-to-text model that decodes batches of branches (see decoding.py)."""

    def __init__(self, model, processor, device: torch.device, model_id: str):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.device = device
        self.model_id = model_id
        self.eos_token_ids = _eos_ids(model, self.tokenizer)
        self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._state: Optional[dict] = None

    @classmethod
    def load(cls, spec: ModelSpec) -> "HFVisionBackend":
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = pick_device(spec.device)
        path = model_path(spec.id)
        try:
            processor = AutoProcessor.from_pretrained(path, revision=spec.revision)
            model = AutoModelForImageTextToText.from_pretrained(
                path, revision=spec.revision, dtype=pick_dtype(spec.dtype, device)
            )
        except (OSError, ValueError) as e:
            raise ModelLoadError(
                f"cannot load model {spec.id!r} (revision {spec.revision or 'default'}): "
                f"{str(e).splitlines()[0]} -- give a local folder or a reachable Hub id"
            ) from e
        return cls(model.to(device), processor, device, spec.id)

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

    def encode(self, rows: Sequence[Branch]) -> dict:
        texts = [self.chat_prompt(r.prompt, r.image is not None) for r in rows]
        images = [r.image for r in rows if r.image is not None]
        batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    # -- StepModel -----------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, rows: Sequence[Branch]) -> torch.Tensor:
        """Run each distinct (prompt, image) once, then give every row its copy of the cache:
        the positive and the negative of a sample share their image-conditioned prefix, so the
        image is processed and prefilled once, not twice."""
        from transformers import DynamicCache

        unique, index = _dedupe(rows)
        batch = self.encode(unique)
        mask = batch["attention_mask"]
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        kwargs = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
        if "pixel_values" in kwargs:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(self.model.dtype)
        out = self.model(input_ids=batch["input_ids"], attention_mask=mask, position_ids=pos,
                         use_cache=True, logits_to_keep=1, **{self._cache_kw: cache}, **kwargs)
        self._state = {"mask": mask, "pos": pos[:, -1:], "cache": cache}
        index = torch.tensor(index)
        if len(unique) < len(rows):
            self.keep_rows(index)
        return out.logits[:, -1].float()[index.to(out.logits.device)]

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        st = self._state
        st["mask"] = torch.cat([st["mask"], st["mask"].new_ones(len(tokens), 1)], dim=-1)
        st["pos"] = st["pos"] + 1
        out = self.model(input_ids=tokens.to(self.device)[:, None], attention_mask=st["mask"],
                         position_ids=st["pos"], use_cache=True, **{self._cache_kw: st["cache"]})
        return out.logits[:, -1].float()

    def keep_rows(self, keep: torch.Tensor) -> None:
        st = self._state
        keep = keep.to(self.device)
        st["cache"].batch_select_indices(keep)
        st["mask"], st["pos"] = st["mask"][keep], st["pos"][keep]

    def decode_text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()


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
