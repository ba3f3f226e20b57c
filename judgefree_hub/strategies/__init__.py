"""Hallucination strategies (registry STRATEGIES); one module per strategy."""

from . import mix, noise_image, random_negative  # noqa: F401  (register the strategies)
from .base import STRATEGIES, Strategy

__all__ = ["STRATEGIES", "Strategy"]
