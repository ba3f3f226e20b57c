"""Recipes: JSON -> validation -> defaults -> frozen specs (see load.py)."""

from .load import (
    ComponentSpec, GenerationSpec, HubSpec, ICSpec, ModelSpec, OutputSpec, Recipe, load_recipe,
    recipe_from_dict,
)

__all__ = ["ComponentSpec", "GenerationSpec", "HubSpec", "ICSpec", "ModelSpec", "OutputSpec", "Recipe",
           "load_recipe", "recipe_from_dict"]
