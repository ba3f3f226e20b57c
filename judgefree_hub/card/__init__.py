"""Dataset cards, rendered from the Jinja2 templates in the top-level cards/ folder (installed
as judgefree_hub.cards): one template per builder, filled from the recipe and the statistics."""

from .render import render_build_card, render_preference_card, size_category

__all__ = ["render_build_card", "render_preference_card", "size_category"]
