"""Verifiers: score both answers of a pair against the image, then reverse or drop it."""

from judgefree_hub.verifiers.base import VERIFIERS, Verifier, decide
from judgefree_hub.verifiers.clip import ClipVerifier  # importing registers "clip"

__all__ = ["VERIFIERS", "ClipVerifier", "Verifier", "decide"]
