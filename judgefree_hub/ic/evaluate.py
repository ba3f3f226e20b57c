"""`jfhub eval`: caption an IC dataset with a model (the builder's generation code) or take
captions made elsewhere, then score them judge-free (ic_score.py) and write reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from PIL import Image

from ..errors import SourceError
from ..recipe import ModelSpec
from .score import CaptionScore, Element, ImageTruth, load_vocabulary, score_caption, summarize


@dataclass(frozen=True)
class ICItem:
    truth: ImageTruth
    image: Image.Image
    caption_prompt: str


def _item(record: Mapping[str, Any], image: Image.Image) -> ICItem:
    elements = tuple(Element(e["name"], tuple(e.get("synonyms") or ()), e["kind"], e.get("of"))
                     for e in record["elements"])
    return ICItem(ImageTruth(record["id"], record["domain"], elements), image.convert("RGB"),
                  record.get("caption_prompt") or "Describe this image in detail.")


def load_ic(source: str, revision: Optional[str] = None) -> list[ICItem]:
    """An IC dataset from a local build folder or a Hub repo at a revision."""
    import datasets

    from ..hub import build_rows, dataset_errors

    local = Path(source)
    with dataset_errors(source, revision):
        if local.is_dir():
            if not (local / "manifest.json").is_file():
                raise SourceError(f"{local}: not a complete jfhub build (no manifest.json)")
            builder = _builder(local)
            if builder not in (None, "ic"):
                raise SourceError(f"{source}: not an IC dataset: a {builder!r} build (its recipe.json)")
        else:  # IC sets are published as split "test", preference sets as "train"
            splits = datasets.get_dataset_split_names(source, revision=revision)
            if "test" not in splits:
                raise SourceError(f"{source}: not an IC dataset: it has no 'test' split (splits: {splits}; "
                                  f"a preference dataset?)")
        if build_rows(source, revision) == 0:
            raise SourceError(f"{source}: the IC dataset has no images")
        if local.is_dir():
            files = {"test": str(local / "data" / "train-*.tar")}
            ds = datasets.load_dataset("webdataset", data_files=files, split="test")
        else:
            ds = datasets.load_dataset(source, revision=revision, split="test")
    image_col = next((c for c in ("jpg", "png", "webp") if c in ds.column_names), None)
    if "json" not in ds.column_names or image_col is None:
        raise SourceError(f"{source}: not an IC dataset (columns {ds.column_names}; need json + jpg/png/webp)")
    if len(ds) == 0:
        raise SourceError(f"{source}: the IC dataset has no images")
    fields = ds.features["json"]
    missing = [k for k in ("id", "domain", "elements") if not isinstance(fields, dict) or k not in fields]
    if missing:
        raise SourceError(f"{source}: not an IC dataset: its rows have no {', '.join(map(repr, missing))} "
                          f"(a preference build?)")
    return [_item(row["json"], row[image_col]) for row in ds]


def _builder(build: Path) -> Optional[str]:
    """The builder a jfhub build folder was made by, from its resolved recipe.json (if any)."""
    path = build / "recipe.json"
    recipe = json.loads(path.read_text()) if path.is_file() else None
    return recipe.get("builder") if isinstance(recipe, dict) else None


def caption_images(items: Sequence[ICItem], spec: ModelSpec, prompt: Optional[str] = None,
                   show_progress: bool = False) -> dict[str, str]:
    """One greedy caption per image, decoded in batches by the builder's backend and loop;
    `show_progress`: a "captioning" bar (images done, images/s) once the model is loaded."""
    from ..backends import AnswerPlan, Branch, load_backend, self_check
    from ..output.progress import ItemProgress

    backend = load_backend(spec)
    if items:
        self_check(backend, Branch(prompt or items[0].caption_prompt, items[0].image), spec.id)
    out: dict[str, str] = {}
    with ItemProgress(len(items), "captioning", "image", enabled=show_progress) as progress:
        for start in range(0, len(items), spec.batch_size):
            batch = items[start:start + spec.batch_size]
            rows = [Branch(prompt or it.caption_prompt, it.image) for it in batch]
            texts = backend.decode(rows, [AnswerPlan(i, None, 0.0) for i in range(len(rows))],
                                   spec.generation, "logits")
            out.update({it.truth.id: text for it, text in zip(batch, texts, strict=True)})
            progress.update(len(batch))
    return out


def read_captions(path: Path) -> dict[str, str]:
    """Captions made elsewhere: one {"id": ..., "caption": ...} per line."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SourceError(f"{path}:{lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("caption"), str):
            raise SourceError(f"{path}:{lineno}: each line needs string fields 'id' and 'caption'")
        out[obj["id"]] = obj["caption"]
    return out


# Words annotators use for scene filler, or that are mostly verbs/adjectives in captions ("it
# stands", "light blue"): as dataset-wide object words they would count as hallucinations in
# every other image, so they do not extend the vocabulary (they still score in their own image).
NOT_OBJECT_WORDS = frozenset({"background", "foreground", "surface", "scene", "stand", "light",
                              "view", "area", "side", "top", "bottom", "front", "back", "part"})


def dataset_vocabulary(items: Sequence[ICItem]) -> dict[str, tuple[str, ...]]:
    """The dataset's object elements as extra vocabulary entries (name -> synonyms)."""
    extra: dict[str, tuple[str, ...]] = {}
    for it in items:
        for e in it.truth.elements:
            if e.kind == "object" and e.name not in NOT_OBJECT_WORDS:
                extra.setdefault(e.name, tuple(x for x in e.synonyms if x not in NOT_OBJECT_WORDS))
    return extra


# Scenery ("stuff" more than things): annotators list it only when they annotate scenery at all,
# and a caption names it in passing ("on the grass", "under a blue sky"). Under "extended" such
# a word is scored (recalled, or hallucinated where the image lacks it) only when the dataset
# annotates that object in at least one image; otherwise it is neutral (neither hallucinated nor
# counted as a mention): a COCO-derived or objects-only set never punishes "on the water".
SCENE_OBJECTS = frozenset({"sky", "cloud", "water", "sea", "river", "lake", "beach", "sand", "snow",
                           "grass", "forest", "tree", "mountain", "hill", "rock", "road", "building"})
VOCABULARIES = ("extended", "coco")


def neutral_scenery(items: Sequence[ICItem], vocab) -> frozenset[str]:
    """The scene objects no image of the dataset annotates (as an object element)."""
    annotated = {vocab.canonical(f) for it in items for e in it.truth.elements if e.kind == "object"
                 for f in e.forms}
    return SCENE_OBJECTS - annotated


def score_all(items: Sequence[ICItem], captions: Mapping[str, str],
              vocabulary: str = "extended") -> tuple[list[CaptionScore], dict]:
    """Score every image's caption; the summary says which `vocabulary` scored.

    "extended": objects.json (80 COCO categories + everyday objects) extended by the dataset's
    own objects, each named object counted once per caption, unannotated scenery neutral
    (SCENE_OBJECTS). "coco": CHAIR on the 80 COCO categories only, with CHAIR's synonyms,
    every mention counted; the dataset's other elements are ignored (chair.py)."""
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary must be one of {', '.join(VOCABULARIES)}, got {vocabulary!r}")
    missing = [it.truth.id for it in items if it.truth.id not in captions]
    if missing:
        raise SourceError(f"no caption for {len(missing)} image(s), e.g. {missing[:3]}")
    if vocabulary == "coco":
        from .chair import load_coco_vocabulary, score_caption_coco

        coco = load_coco_vocabulary()
        scores = [score_caption_coco(it.truth, captions[it.truth.id], coco) for it in items]
    else:
        vocab = load_vocabulary(dataset_vocabulary(items))
        neutral = neutral_scenery(items, vocab)
        scores = [score_caption(it.truth, captions[it.truth.id], vocab, neutral) for it in items]
    return scores, summarize(scores, vocabulary)


def write_reports(out_dir: Path, scores: Iterable[CaptionScore], summary: dict, meta: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "per_image.jsonl", "w", encoding="utf-8") as f:
        for s in scores:
            f.write(json.dumps(s.to_json(), sort_keys=True) + "\n")
    (out_dir / "summary.json").write_text(json.dumps({**summary, "meta": meta}, indent=2, sort_keys=True) + "\n")


def eval_model_spec(model: str, revision: Optional[str], device: str, batch_size: int, max_new_tokens: int,
                    backend: str = "auto") -> ModelSpec:
    """Greedy decoding settings for captioning an IC set with `model`."""
    from ..recipe import GenerationSpec

    gen = GenerationSpec(max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    return ModelSpec(id=model, revision=revision, dtype="auto", device=device, batch_size=batch_size,
                     generation=gen, backend=backend)


__all__ = ["ICItem", "SCENE_OBJECTS", "VOCABULARIES", "caption_images", "eval_model_spec", "load_ic",
           "read_captions", "score_all", "write_reports"]
