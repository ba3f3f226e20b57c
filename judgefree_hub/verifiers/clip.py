"""The CLIP verifier: s = cosine(E_img(image), E_txt(answer)) with open_clip (method.md, section 2).

open_clip and torch are imported lazily so that `jfhub --help` and `jfhub validate` stay light.
"""

from __future__ import annotations

import difflib
import os
import pickle
import re
from dataclasses import dataclass, fields
from typing import Any, Literal, Mapping, Optional, Sequence

from PIL import Image

from judgefree_hub.errors import ModelLoadError
from judgefree_hub.records import Pair
from judgefree_hub.verifiers.base import VERIFIERS, Judgement, Verifier, decide, text_drop

LongText = Literal["sentence_mean", "truncate"]

_SCHEMAS = ("local-dir:", "hf-hub:")  # open_clip ignores `pretrained` for these
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# What open_clip, torch.load and huggingface_hub raise for a bad name, tag, file or folder.
_LOAD_ERRORS = (RuntimeError, OSError, ValueError, KeyError, pickle.UnpicklingError)
_HOWTO = ("offline, pass a local weights file as pretrained, "
          "or model local-dir:/path holding open_clip_config.json and weights")


@dataclass(frozen=True)
class Params:
    """The recipe's `verifier` object; defaults match clip.schema.json and base.json."""

    model: str = "ViT-L-14-336"
    pretrained: Optional[str] = "openai"
    long_text: LongText = "sentence_mean"
    reverse_margin: float = 0.0
    min_gap: float = 0.0
    batch_size: int = 32
    device: str = "auto"
    reverse: bool = True


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer: split after . ! ? followed by whitespace, and at newlines."""
    return [piece.strip() for piece in _SENTENCE_BREAK.split(text) if piece.strip()]


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens the text model would see without truncation, start/end tokens included."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer, basic_clean, canonicalize_text

    if isinstance(tokenizer, SimpleTokenizer):
        return len(tokenizer.encode(text)) + 2  # encode() cleans, adds no sot/eot
    if isinstance(tokenizer, HFTokenizer):
        clean = tokenizer.clean_fn(text)
        if tokenizer.tokenizer_mode == "clips":  # bos + tokens + eos + class token
            return len(tokenizer.tokenizer(clean, add_special_tokens=False)["input_ids"]) + 3
        return len(tokenizer.tokenizer(clean, truncation=False)["input_ids"])
    # SigLipTokenizer: a HF tokenizer behind open_clip's canonical cleaning.
    clean = canonicalize_text(basic_clean(text))
    return len(tokenizer.tokenizer(clean, truncation=False)["input_ids"])


def resolve_model_name(model: str) -> str:
    """open_clip model name for a recipe value; demo:<name> becomes local-dir:<folder>."""
    if not model.startswith("demo:"):
        return model
    from judgefree_hub import demo  # lazy: only demo recipes need it

    return "local-dir:" + str(demo.resolve(model))


def _check_builtin(name: str) -> None:
    """Fail early and briefly on a typo; open_clip's own error lists every model it knows."""
    import open_clip

    if name.startswith(_SCHEMAS) or open_clip.get_model_config(name.replace("/", "-")):
        return
    close = difflib.get_close_matches(name, open_clip.list_models(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ModelLoadError(f"verifier model {name!r}: unknown open_clip model{hint}; use a name "
                         "from open_clip.list_models(), local-dir:/path, hf-hub:org/repo or demo:")


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@VERIFIERS.register("clip")
class ClipVerifier(Verifier):
    """Scores answers with a contrastive image-text model; loads it on first use."""

    def __init__(self, params: Params):
        self.params = params
        self.device = ""
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ClipVerifier:
        """From the recipe's verifier object (defaults filled); `kind` is ignored."""
        return cls(Params(**{f.name: options[f.name] for f in fields(Params) if f.name in options}))

    def describe(self) -> str:
        p = self.params
        return f"open_clip `{p.model}`" + (f" / `{p.pretrained}`" if p.pretrained else "")

    def describe_id(self) -> str:
        """e.g. clip:ViT-L-14-336/openai; local paths keep only their last part, so rows do not
        carry this machine's folders."""
        model, pretrained = self.params.model, self.params.pretrained
        if model.startswith("local-dir:"):
            model = "local-dir:" + os.path.basename(os.path.normpath(model[len("local-dir:"):]))
        if model.startswith(_SCHEMAS) or model.startswith("demo:") or not pretrained:
            return f"clip:{model}"
        return f"clip:{model}/{os.path.basename(pretrained)}"

    @property
    def context_length(self) -> int:
        self.load()
        return int(self._tokenizer.context_length or self._model.context_length)

    def load(self) -> ClipVerifier:
        """Load model, transform and tokenizer once; any failure is one ModelLoadError line."""
        if self._model is not None:
            return self
        import open_clip

        from judgefree_hub.devices import pick_device

        p = self.params
        device = str(pick_device(p.device))
        try:
            name = resolve_model_name(p.model)
            _check_builtin(name)
            pretrained = None if name.startswith(_SCHEMAS) else p.pretrained
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=device)
            tokenizer = open_clip.get_tokenizer(name)
        except ModelLoadError:
            raise  # already one clear line (unknown name, demo resolution)
        except _LOAD_ERRORS as exc:
            raise ModelLoadError(
                f"verifier model {p.model!r} (pretrained={p.pretrained!r}) cannot be loaded: "
                f"{_one_line(exc)}; {_HOWTO}") from exc
        self._model, self._preprocess, self._tokenizer = model.eval(), preprocess, tokenizer
        self.device = device
        return self

    def score(self, images: Sequence[Image.Image], texts: Sequence[str],
              split: Optional[Sequence[bool]] = None) -> list[float]:
        """Cosine similarity of each (images[i], texts[i]).

        An image object passed several times is encoded once. texts[i] scores as the mean of
        its sentences when split[i]; by default when it is longer than the text context under
        "sentence_mean".
        """
        import torch

        if not texts:
            return []
        self.load()
        if split is None:
            split = [self._too_long(text) for text in texts]
        slots: dict[int, int] = {}
        unique, image_of, pieces, owner = [], [], [], []
        for i, (image, text) in enumerate(zip(images, texts, strict=True)):
            if id(image) not in slots:
                slots[id(image)] = len(unique)
                unique.append(image)
            image_of.append(slots[id(image)])
            for piece in (split_sentences(text) or [text]) if split[i] else [text]:
                pieces.append(piece)
                owner.append(i)
        with torch.inference_mode():
            image_emb = self._encode(unique, self._encode_images)
            text_emb = self._encode(pieces, self._encode_texts)
            rows = torch.tensor([image_of[i] for i in owner], dtype=torch.long)
            sims = (image_emb[rows] * text_emb).sum(dim=-1).tolist()
        totals, counts = [0.0] * len(texts), [0] * len(texts)
        for i, sim in zip(owner, sims, strict=True):
            totals[i] += sim
            counts[i] += 1
        return [total / count for total, count in zip(totals, counts, strict=True)]

    def judge(self, pairs: Sequence[Pair]) -> list[Judgement]:
        """Text-only drops first, one scoring pass for the rest, then `decide`."""
        results = [text_drop(pair) for pair in pairs]
        todo = [i for i, result in enumerate(results) if result is None]
        images = [pairs[i].sample.image for i in todo for _ in range(2)]
        texts = [text for i in todo for text in (pairs[i].positive, pairs[i].negative)]
        # Both answers of a pair are scored the same way: by sentences if either is too long
        # (a whole-text score and a sentence mean are different estimators).
        split = [either for i in todo
                 for either in [self._too_long(pairs[i].positive) or self._too_long(pairs[i].negative)] * 2]
        scores = self.score(images, texts, split) if todo else []
        p = self.params
        for n, i in enumerate(todo):
            results[i] = decide(pairs[i], scores[2 * n], scores[2 * n + 1],
                                p.reverse_margin, p.min_gap, p.reverse)
        return results  # type: ignore[return-value]  # every None was replaced

    def _too_long(self, text: str) -> bool:
        """Over the text context, with long_text = sentence_mean (truncate never splits)."""
        self.load()
        return (self.params.long_text == "sentence_mean"
                and count_tokens(self._tokenizer, text) > self.context_length)

    def _encode(self, items: Sequence[Any], encode: Any) -> Any:
        """Batched by batch_size (>= 1 item); float64 on CPU, so the sums add no more rounding."""
        import torch

        size = self.params.batch_size
        chunks = [encode(items[i:i + size]) for i in range(0, len(items), size)]
        return torch.cat(chunks).to("cpu", torch.float64)

    def _encode_images(self, images: Sequence[Image.Image]) -> Any:
        import torch

        batch = torch.stack([self._preprocess(image) for image in images]).to(self.device)
        return self._model.encode_image(batch, normalize=True)

    def _encode_texts(self, texts: Sequence[str]) -> Any:
        tokens = self._tokenizer(list(texts)).to(self.device)
        return self._model.encode_text(tokens, normalize=True)
