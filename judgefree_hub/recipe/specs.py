"""The typed recipe: frozen dataclasses that every stage reads after `load_recipe()`.

Per-kind options (a source's fields, a strategy's parameters) stay a read-only mapping in
`ComponentSpec.options`, validated against that kind's own schema fragment; the registered
class turns them into its own typed parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class GenerationSpec:
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_k: int
    top_p: float


@dataclass(frozen=True)
class ModelSpec:
    id: str
    revision: Optional[str]
    dtype: str
    device: str
    batch_size: int
    generation: GenerationSpec
    backend: str = "auto"
    """A name in BACKENDS, or auto: chosen from the checkpoint's config.json `model_type`."""
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    """Options of that backend, checked against its schema fragment (backends/<name>.schema.json)."""
    cache: str = "auto"
    """The decoding loop's KV cache: auto (static on CUDA), dynamic or static."""


@dataclass(frozen=True)
class ComponentSpec:
    """A registry entry chosen by the recipe: its kind and its options (defaults filled in)."""

    kind: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class HubSpec:
    repo: Optional[str]
    private: bool


@dataclass(frozen=True)
class ICSpec:
    manifest: Path
    """Absolute path of the annotated-image manifest (JSONL)."""
    caption_prompt: str


@dataclass(frozen=True)
class OutputSpec:
    samples_per_shard: int
    image_format: str
    jpeg_quality: int


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    description: str
    builder: str
    seed: int
    license: str
    pretty_name: str
    hub: HubSpec
    model: Optional[ModelSpec]
    """The generating model (preference builder); None for an IC set."""
    sources: tuple[ComponentSpec, ...]
    strategy: ComponentSpec
    verifier: ComponentSpec
    ic: Optional[ICSpec]
    output: OutputSpec
    base_dir: Path
    """Folder that relative paths in the recipe are relative to (the recipe file's folder)."""
    resolved: Mapping[str, Any]
    """The whole recipe with defaults filled in, as written to the build's recipe.json."""

    def resolved_json(self) -> str:
        return json.dumps(thaw(self.resolved), indent=2, sort_keys=True) + "\n"


def thaw(value: Any) -> Any:
    """Plain dicts and lists from the frozen mappings and tuples of a resolved recipe."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
