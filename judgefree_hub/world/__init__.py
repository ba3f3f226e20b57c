"""A procedural image world with exact ground truth and a planted co-occurrence bias.

Small describers trained on its biased train split hallucinate the partner of a pair on the
unbiased eval split, which makes the effect of judge-free self-improvement measurable without
real VLM weights.
"""

from .export import describe, elements, export_caption_set, export_ic_set, vocabulary
from .render import render
from .scene import BACKGROUNDS, COLORS, SHAPES, SIZES, Obj, Scene, WorldConfig, sample_scene, scene_at

__all__ = [
    "BACKGROUNDS", "COLORS", "SHAPES", "SIZES", "Obj", "Scene", "WorldConfig",
    "describe", "elements", "export_caption_set", "export_ic_set", "render", "sample_scene",
    "scene_at", "vocabulary",
]
