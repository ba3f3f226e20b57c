"""Which backend runs a model: the recipe's `model.backend`, or under `auto` the one whose
`model_types` include the checkpoint's config.json `model_type` (read without the weights)."""

from __future__ import annotations

from ..checkpoints import resolve_checkpoint
from ..errors import ModelLoadError
from ..recipe import ModelSpec, fragment, schema_problems
from .base import BACKENDS, Backend


def read_model_type(model_id: str, revision: str | None) -> str | None:
    """`model_type` from config.json of a Hub id (at `revision`), a folder, or a demo: ref; of
    the base model for a LoRA adapter (what `jfhub train` writes)."""
    from transformers import PretrainedConfig

    ckpt = resolve_checkpoint(model_id, revision)
    try:
        config, _ = PretrainedConfig.get_config_dict(ckpt.path, revision=ckpt.revision)
    except (OSError, ValueError) as e:
        raise ModelLoadError(
            f"cannot read config.json of model {model_id!r} (revision {revision or 'default'}): "
            f"{str(e).splitlines()[0]} -- give a local folder or a reachable Hub id") from e
    return config.get("model_type")


def backend_class(spec: ModelSpec) -> type[Backend]:
    """The backend class for a model spec; an unknown family stops here, before any weights."""
    if spec.backend != "auto":
        return BACKENDS.get(spec.backend)
    model_type = read_model_type(spec.id, spec.revision)
    for name in BACKENDS.names():
        cls = BACKENDS.get(name)
        if model_type in cls.model_types:
            return cls
    known = "; ".join(f"{n}: {', '.join(BACKENDS.get(n).model_types)}" for n in BACKENDS.names())
    raise ModelLoadError(
        f"model {spec.id!r}: no backend for model_type {model_type!r} (backends and the model types "
        f"they take: {known}); set model.backend to one of {', '.join(BACKENDS.names())} to force one")


def load_backend(spec: ModelSpec) -> Backend:
    """Choose the backend, check its options against its fragment, then load the model."""
    cls = backend_class(spec)
    problems = schema_problems(dict(spec.backend_options), fragment("backends", cls.name))
    if problems:
        where, what = problems[0]
        raise ModelLoadError(f"model.backend_options{where[1:]} (backend {cls.name}): {what}")
    return cls.load(spec)
