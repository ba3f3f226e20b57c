"""judgefree-hub: judge-free self-improvement datasets for multimodal LLMs (arXiv 2411.17760).

Recipes (JSON) -> sources -> controlled-hallucination decoding -> CLIP verification ->
WebDataset shards + dataset card. Importing this package does not import torch.
"""

from .errors import BuildError, JfhubError, ModelLoadError, PushError, RecipeError, SourceError
from .hub import load_pairs
from .output import to_trl
from .recipe import Recipe, load_recipe
from .records import Dropped, DropReason, Pair, Sample, VerifiedPair

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "BuildError",
    "DropReason",
    "Dropped",
    "JfhubError",
    "ModelLoadError",
    "Pair",
    "PushError",
    "Recipe",
    "RecipeError",
    "Sample",
    "SourceError",
    "VerifiedPair",
    "load_pairs",
    "load_recipe",
    "to_trl",
]
