"""What a model reference points at: a full checkpoint, or a PEFT (LoRA) adapter on a base.

Users pass a Hub id, a local folder or `demo:<name>`. `jfhub train` writes a LoRA adapter by
default, so its output (a folder, or a repo pushed with --push-to) holds `adapter_config.json`
and no `config.json`; every command that loads a model takes it the same way: the base, with
the adapter merged in (merged weights decode as fast as the base)."""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .demo import model_path
from .errors import ModelLoadError


@dataclass(frozen=True)
class Checkpoint:
    path: str  # what from_pretrained gets for the architecture and weights (the base of an adapter)
    revision: Optional[str]
    adapter: Optional[str] = None  # a PEFT adapter folder or repo, merged in after loading
    adapter_revision: Optional[str] = None


def resolve_checkpoint(ref: str, revision: Optional[str] = None) -> Checkpoint:
    path = model_path(ref)
    config = adapter_config(path, revision)
    if config is None:
        return Checkpoint(path, revision)
    base = _base_ref(Path(path), config)
    if not base:
        raise ModelLoadError(f"model {ref!r}: a PEFT adapter whose adapter_config.json names no "
                             f"base_model_name_or_path")
    return Checkpoint(model_path(base), config.get("revision"), adapter=path, adapter_revision=revision)


def adapter_config(path: str, revision: Optional[str] = None) -> Optional[dict[str, Any]]:
    """adapter_config.json of an adapter-only folder or Hub repo, or None for a full checkpoint
    (or one that cannot be read: loading it then reports why)."""
    local = Path(path)
    if local.is_dir():
        file = local / "adapter_config.json"
        if (local / "config.json").is_file() or not file.is_file():
            return None
        return _read(file, path)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        hf_hub_download(path, "config.json", revision=revision)
        return None
    except EntryNotFoundError:
        pass
    except (HfHubHTTPError, OSError, ValueError):
        return None
    try:
        return _read(Path(hf_hub_download(path, "adapter_config.json", revision=revision)), path)
    except (HfHubHTTPError, OSError, ValueError):
        return None


def _read(file: Path, ref: str) -> dict[str, Any]:
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"model {ref!r}: cannot read adapter_config.json: {e}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"model {ref!r}: adapter_config.json is not a JSON object")
    return config


def _base_ref(folder: Path, config: dict[str, Any]) -> Optional[str]:
    """The base a jfhub train output was trained from, as the user named it (train_config.json:
    `demo:<name>` survives a move to another machine, the cache path in adapter_config does not);
    else PEFT's base_model_name_or_path."""
    train_config = folder / "train_config.json"
    if train_config.is_file():
        try:
            model = json.loads(train_config.read_text(encoding="utf-8")).get("model")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            model = None
        if isinstance(model, str) and model:
            return model
    base = config.get("base_model_name_or_path")
    return base if isinstance(base, str) else None


def load_pretrained(ref: str, revision: Optional[str], dtype: Any = None):
    """(processor, model) for a reference; an adapter is merged into its base. The processor is
    the adapter's own when it ships one (jfhub train saves it), else the base's."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    ckpt = resolve_checkpoint(ref, revision)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    try:
        model = AutoModelForImageTextToText.from_pretrained(ckpt.path, revision=ckpt.revision, **kwargs)
        processor = None
        if ckpt.adapter is not None:
            from peft import PeftModel

            with deprecated_checkpointing_alias_reads():
                model = PeftModel.from_pretrained(model, ckpt.adapter, revision=ckpt.adapter_revision)
            model = model.merge_and_unload()
            try:
                processor = AutoProcessor.from_pretrained(ckpt.adapter, revision=ckpt.adapter_revision)
            except (OSError, ValueError):
                processor = None
        if processor is None:
            processor = AutoProcessor.from_pretrained(ckpt.path, revision=ckpt.revision)
    except (OSError, ValueError) as e:
        what = f"{ref!r}" + (f" (a LoRA adapter on {ckpt.path!r})" if ckpt.adapter else "")
        raise ModelLoadError(f"cannot load model {what} (revision {revision or 'default'}): "
                             f"{str(e).splitlines()[0]} -- give a local folder or a reachable Hub id") from e
    return processor, model


@contextmanager
def deprecated_checkpointing_alias_reads():
    """transformers 5.24 deprecates the model property `is_gradient_checkpointing` (for
    `is_activation_checkpointing`) with a FutureWarning, but the latest peft (0.21: PeftModel's
    __init__ reads it when wrapping a model in LoRA, in training and in every merge of an adapter) and TRL (1.16: DPOTrainer's
    `disable_gradient_checkpointing` around every reference forward) still read it, whatever
    `activation_checkpointing` is set to: no setting of ours avoids the read. The warning is
    addressed to those packages, so it is ignored by its message, category and module, around
    those calls only; any other warning shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                category=FutureWarning, module=r"transformers\.modeling_utils")
        yield
