"""Recipes: the only place raw recipe JSON is read. load -> validate -> defaults -> specs.

`load_recipe(path)` returns a frozen `Recipe`; every problem is reported at once as
`file: $.json.path: message` (RecipeError). The schema is assembled from each extension's
fragment (schema.py); `jfhub schema-doc` renders it as the README's field table (doc.py).
"""

from .doc import fields_table, with_table
from .jsonfile import read_json_file
from .load import load_recipe, recipe_from_dict
from .schema import fragment, recipe_schema
from .specs import ComponentSpec, GenerationSpec, HubSpec, ICSpec, ModelSpec, OutputSpec, Recipe, thaw
from .validate import fill_defaults, schema_problems

__all__ = ["ComponentSpec", "GenerationSpec", "HubSpec", "ICSpec", "ModelSpec", "OutputSpec", "Recipe",
           "fields_table", "fill_defaults", "fragment", "load_recipe", "read_json_file", "recipe_from_dict", "recipe_schema",
           "schema_problems", "thaw", "with_table"]
