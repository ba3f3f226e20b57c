"""Test helpers that need no network: a local Hub-compatible server (`LocalHub`)."""

from .hub import Fault, LocalHub

__all__ = ["Fault", "LocalHub"]
