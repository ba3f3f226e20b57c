"""The on-disk row of a preference dataset: `KEY.<img>` + `KEY.json`, and its TRL mapping.

Every field is written in every row (null when empty): `datasets` infers the json struct from
the first shard and silently drops keys absent there.
"""

from __future__ import annotations

import io
import json
from typing import Any, Mapping

from PIL import Image

from ..records import VerifiedPair

FIELD_TYPES = {
    "prompt": "string", "chosen": "string", "rejected": "string",
    "chosen_score": "float64", "rejected_score": "float64",
    "chosen_ratio": "float64", "rejected_ratio": "float64", "reversed": "bool",
    "strategy": "string", "source_id": "string", "model_id": "string", "verifier_id": "string",
}
FIELDS = tuple(FIELD_TYPES)


def features_yaml(image_format: str, indent: int = 2) -> str:
    """`dataset_info.features` for the card, in the order and types `datasets`' webdataset
    loader produces, so the declared schema is the loaded one even when a whole shard has
    null ratios (which inference alone would type as null)."""
    pad = " " * indent
    lines = [f"{pad}- name: {image_format}", f"{pad}  dtype: image", f"{pad}- name: json", f"{pad}  struct:"]
    for name in sorted(FIELD_TYPES):
        lines += [f"{pad}  - name: {name}", f"{pad}    dtype: {FIELD_TYPES[name]}"]
    for name in ("__key__", "__url__"):
        lines += [f"{pad}- name: {name}", f"{pad}  dtype: string"]
    return "\n".join(lines)

_PIL_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def encode_image(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("jpg", "webp") else {}
    image.convert("RGB").save(buf, format=_PIL_FORMAT[fmt], **kwargs)
    return buf.getvalue()


THUMBNAIL_PX = 160  # longest side of a card's example thumbnail
THUMBNAIL_QUALITY = 85


def thumbnail_jpeg(image: bytes) -> bytes:
    """A small JPEG of an encoded image, for the card (deterministic: same bytes in, same out)."""
    with Image.open(io.BytesIO(image)) as im:
        small = im.convert("RGB")
        small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=False)
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
