"""Any Hub preference dataset -> TRL's conversational vision preference rows.

`jfhub train` accepts datasets it did not build, so the layout is detected from column names
(and, where names are ambiguous, one row's value shapes) or given by `--columns`. Every layout
ends in the one format `preference_rows.to_trl` defines; only our own layout keeps extra columns.
"""

from __future__ import annotations

import difflib
import io
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from PIL import Image

from ..errors import DatasetLayoutError
from ..output import FIELD_TYPES, FIELDS, to_trl

ROLES = ("prompt", "chosen", "rejected", "image")
TRL_COLUMNS = ("images", "prompt", "chosen", "rejected")
IMAGE_FORMATS = ("jpg", "png", "webp")
_HELP = "map yours with --columns prompt=COL,chosen=COL,rejected=COL,image=COL"


@dataclass(frozen=True)
class Layout:
    """A detected layout: its name (shown on the model card) and role -> dataset column."""

    name: str
    columns: Mapping[str, str]


def parse_columns(spec: str) -> dict[str, str]:
    """`prompt=question,image=img` -> {"prompt": "question", "image": "img"}; roles left out
    keep their standard names."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, column = (s.strip() for s in part.partition("="))
        if not (sep and key and column):
            raise DatasetLayoutError(f"--columns: {part!r} is not ROLE=COLUMN; "
                                     "write e.g. --columns prompt=question,image=img")
        _check_role(key)
        if key in mapping:
            raise DatasetLayoutError(f"--columns: {key} is mapped twice ({mapping[key]!r} and "
                                     f"{column!r}); give each role once")
        mapping[key] = column
    return mapping


def _check_role(key: str) -> None:
    if key not in ROLES:
        close = difflib.get_close_matches(key, ROLES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise DatasetLayoutError(f"--columns: unknown role {key!r}{hint}; roles are "
                                 + ", ".join(ROLES))


def detect_layout(column_names: Sequence[str], columns: Optional[Mapping[str, str]] = None,
                  sample: Optional[Mapping[str, Any]] = None) -> Layout:
    """The layout of a dataset with these columns; an explicit mapping always wins. `sample`
    (one row, or the dataset's features) tells TRL message lists from plain strings when the
    columns are prompt/chosen/rejected + image(s); without it `images` means TRL (as in
    HuggingFaceH4/rlaif-v_formatted) and `image` means plain strings."""
    names = list(column_names)
    have = set(names)
    if columns:
        return _mapped_layout(names, columns)
    image_format = next((f for f in IMAGE_FORMATS if f in have), None)
    if "json" in have and image_format:
        fields = sample.get("json") if isinstance(sample, Mapping) else None
        missing = [k for k in ("prompt", "chosen", "rejected") if isinstance(fields, Mapping) and k not in fields]
        if missing:  # e.g. an IC set: json + jpg too, but rows of id/domain/elements
            raise DatasetLayoutError(f"dataset rows' json has no {', '.join(map(repr, missing))} (fields: "
                                     f"{sorted(fields)}): not a preference dataset (an IC set?)")
        return Layout("jfhub", {"json": "json", "image": image_format})
    image = next((c for c in ("images", "image") if c in have), None)
    if image and {"prompt", "chosen", "rejected"} <= have:
        cols = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "image": image}
        plain = _is_text(sample["prompt"]) if sample is not None else image == "image"
        return Layout("plain" if plain else "trl", cols)
    if {"question", "chosen", "rejected", "image"} <= have:
        cols = {"prompt": "question", "chosen": "chosen", "rejected": "rejected", "image": "image"}
        return Layout("rlaif_v", cols)
    raise DatasetLayoutError(
        f"dataset columns {names} match no known preference layout; need prompt/chosen/rejected "
        "+ image (or question/chosen/rejected/image, images/prompt/chosen/rejected, json + jpg); "
        + _HELP)


def _mapped_layout(names: list[str], columns: Mapping[str, str]) -> Layout:
    """The `generic` layout: `columns` over the standard names; a defaulted image role also
    accepts `images` so a mapping of only the text columns is enough."""
    for key in columns:
        _check_role(key)
    default_image = "images" if "image" not in names and "images" in names else "image"
    mapping = {**{r: r for r in ROLES}, "image": default_image, **columns}
    given = [r for r in ROLES if r in columns and columns[r] not in names]
    if given:
        pairs = ", ".join(f"{r}={columns[r]}" for r in given)
        missing = ", ".join(repr(columns[r]) for r in given)
        noun = "column" if len(given) == 1 else "columns"
        raise DatasetLayoutError(f"--columns maps {pairs} but the dataset has no {noun} "
                                 f"{missing} (columns: {names})")
    unmapped = [r for r in ROLES if mapping[r] not in names]
    if unmapped:
        r = unmapped[0]
        raise DatasetLayoutError(f"--columns leaves {r} unmapped and the dataset has no column "
                                 f"{mapping[r]!r} (columns: {names}); add {r}=COL")
    return Layout("generic", mapping)


def _is_text(value: Any) -> bool:
    """A plain string value, or a string feature (`Value("string")`)."""
    return isinstance(value, str) or getattr(value, "dtype", None) in ("string", "large_string")


def layout_of(ds, columns: Optional[Mapping[str, str]] = None) -> tuple[Layout, list[str]]:
    """(layout, column names) of a Dataset or IterableDataset. A stream may know neither its
    columns nor its features until read, so then its first row is peeked."""
    names = ds.column_names
    sample = ds.features
    if names is None or sample is None:
        sample = next(iter(ds), None) if sample is None else sample
        names = list(names or sample or [])
    return detect_layout(names, columns, sample), list(names)


def to_trl_dataset(ds, columns: Optional[Mapping[str, str]] = None):
    """`ds` mapped to TRL's conversational vision preference rows (see `to_trl`). Only our own
    layout keeps its extra columns (scores, ratios): foreign ones are not ours to interpret."""
    layout, names = layout_of(ds, columns)
    return ds.map(_converter(layout), remove_columns=names, features=_features(layout, ds.features))


def _features(layout: Layout, source: Optional[Mapping[str, Any]]):
    """The output schema, declared rather than inferred: inference types an all-null score
    column as null and may type a message's content as Json, so shards would differ by chance.
    TRL-layout turns keep their own schema (or inference, for a stream that has none)."""
    import datasets

    text = datasets.Value("string")
    turns = datasets.List({"role": text, "content": datasets.List({"type": text, "text": text})})
    out = {"images": datasets.List(datasets.Image()), "prompt": turns, "chosen": turns,
           "rejected": turns}
    if layout.name == "trl":
        if source is None:
            return None
        out.update({k: source[layout.columns[k]] for k in ("prompt", "chosen", "rejected")})
    if layout.name == "jfhub":
        out.update({k: datasets.Value(FIELD_TYPES[k]) for k in FIELDS if k not in out})
    return datasets.Features(out)


def _converter(layout: Layout) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The per-row function for `ds.map`: our layout goes through `to_trl` as is; TRL turns
    pass through; plain strings become turns."""
    c = layout.columns
    image = c["image"]
    if layout.name == "jfhub":
        return lambda row: to_trl(_json_fields(row[c["json"]]), _images(row[image], image)[0])
    if layout.name == "trl":
        return lambda row: {"images": _images(row[image], image),
                            **{k: row[c[k]] for k in ("prompt", "chosen", "rejected")}}
    return lambda row: _plain_row(row[c["prompt"]], row[c["chosen"]], row[c["rejected"]],
                                  _images(row[image], image))


def _json_fields(value: Any) -> dict[str, Any]:
    """Our `json` column; every field present (null if absent) as `to_trl` reads them all."""
    if isinstance(value, (bytes, str)):
        value = json.loads(value)
    return {**dict.fromkeys(FIELDS), **value}


def _plain_row(prompt: str, chosen: str, rejected: str,
               images: list[Image.Image]) -> dict[str, Any]:
    """TRL row from plain strings, via `to_trl` so the format is written once; one image
    placeholder per image, as TRL's processors count them."""
    row = to_trl({**dict.fromkeys(FIELDS), "prompt": prompt, "chosen": chosen,
                  "rejected": rejected}, images[0])
    row["prompt"][0]["content"][:0] = [{"type": "image"}] * (len(images) - 1)
    return {k: images if k == "images" else row[k] for k in TRL_COLUMNS}


def _images(value: Any, column: str) -> list[Image.Image]:
    """One image or a list of them, each a PIL image or an undecoded {"bytes","path"} dict,
    as RGB PIL images (the processors expect three channels)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    images = [_rgb(v, column) for v in items]
    if not images:
        raise DatasetLayoutError(f"column {column!r} has a row with no image; every preference "
                                 "pair needs one")
    return images


def _rgb(value: Any, column: str) -> Image.Image:
    if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        value = Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"])
    if not isinstance(value, Image.Image):
        raise DatasetLayoutError(
            f"column {column!r} holds {type(value).__name__}, not an image (a PIL image, a "
            "{'bytes','path'} dict, or a list of them); map the image column with "
            "--columns image=COL")
    return value if value.mode == "RGB" else value.convert("RGB")
