"""The on-disk row of a preference dataset: `KEY.<img>` + `KEY.json`, and its TRL mapping.

Every field is written in every row (null when empty): `datasets` infers the json struct from
the first shard and silently drops keys absent there.
"""

from __future__ import annotations

import io
import json
from typing import Any, Mapping

from PIL import Image

from .records import VerifiedPair

FIELDS = (
    "prompt", "chosen", "rejected", "chosen_score", "rejected_score", "chosen_ratio",
    "rejected_ratio", "reversed", "strategy", "source_id", "model_id", "verifier_id",
)

_PIL_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def encode_image(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("jpg", "webp") else {}
    image.convert("RGB").save(buf, format=_PIL_FORMAT[fmt], **kwargs)
    return buf.getvalue()


def pair_row(vp: VerifiedPair, strategy: str, model_id: str, verifier_id: str) -> dict[str, Any]:
    row = {
        "prompt": vp.pair.sample.sample.prompt,
        "chosen": vp.chosen,
        "rejected": vp.rejected,
        "chosen_score": vp.chosen_score,
        "rejected_score": vp.rejected_score,
        "chosen_ratio": vp.chosen_ratio,
        "rejected_ratio": vp.rejected_ratio,
        "reversed": vp.reversed,
        "strategy": strategy,
        "source_id": vp.pair.sample.sample.source_id,
        "model_id": model_id,
        "verifier_id": verifier_id,
    }
    assert tuple(row) == FIELDS
    return row


def shard_members(key: str, image: bytes, fmt: str, row: Mapping[str, Any]) -> dict[str, Any]:
    text = json.dumps(dict(row), sort_keys=True, ensure_ascii=False)
    return {"__key__": key, fmt: image, "json": text.encode("utf-8")}


def to_trl(row: Mapping[str, Any], image: Image.Image) -> dict[str, Any]:
    """TRL's conversational vision preference format (images + prompt/chosen/rejected turns);
    scores and ratios are kept as extra columns."""
    extra = {k: row[k] for k in FIELDS if k not in ("prompt", "chosen", "rejected")}
    return {
        "images": [image],
        "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row["prompt"]}]}],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": row["chosen"]}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": row["rejected"]}]}],
        **extra,
    }
