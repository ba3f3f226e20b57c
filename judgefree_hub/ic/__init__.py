"""Judge-free caption evaluation on IC sets: the annotated manifest (manifest.py), the object
vocabulary (vocab.py, objects.json), the scorer (score.py) and `jfhub eval` (evaluate.py)."""

from .evaluate import (
    ICItem, caption_images, eval_model_spec, load_ic, read_captions, score_all, write_reports,
)
from .manifest import ICRow, read_manifest
from .score import (
    CaptionScore, Element, ImageTruth, compare, format_compare, format_table, score_caption,
    summarize,
)
from .vocab import load_vocabulary

__all__ = ["CaptionScore", "Element", "ICItem", "ICRow", "ImageTruth", "caption_images", "compare",
           "eval_model_spec", "format_compare", "format_table", "load_ic", "load_vocabulary", "read_captions",
           "read_manifest", "score_all", "score_caption", "summarize", "write_reports"]
