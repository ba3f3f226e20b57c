"""`jfhub train` settings: a JSON config validated like recipes, with flags layered on top.

The merged object (config file, then command-line overrides) is validated once against
train/train.schema.json and frozen into TrainSpec; nothing downstream reads raw dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..errors import ConfigError
from ..recipe import fill_defaults, read_json_file, schema_problems


@dataclass(frozen=True)
class LoraSpec:
    enabled: bool
    r: int
    alpha: int
    dropout: float
    target_modules: Union[str, tuple[str, ...]]


@dataclass(frozen=True)
class DpoSpec:
    beta: float
    loss_type: str
    sft_weight: float
    learning_rate: float
    num_train_epochs: float
    max_steps: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    max_length: Optional[int]
    warmup_steps: float
    lr_scheduler_type: str
    logging_steps: int
    seed: int


@dataclass(frozen=True)
class TrainSpec:
    dataset: str
    revision: Optional[str]
    split: str
    columns: Optional[Mapping[str, str]]
    model: str
    model_revision: Optional[str]
    output_dir: Path
    lora: LoraSpec
    dpo: DpoSpec
    dtype: str
    gradient_checkpointing: str
    push_to: Optional[str]

    def as_dict(self) -> dict[str, Any]:
        """The resolved settings, as written to the model card and train_config.json."""
        from dataclasses import asdict

        out = asdict(self)
        out["output_dir"] = str(self.output_dir)
        return out


def train_schema() -> dict:
    """The JSON Schema of train.json (train/train.schema.json)."""
    text = resources.files("judgefree_hub").joinpath("train", "train.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_train_spec(config_path: Optional[str | Path], overrides: Mapping[str, Any]) -> TrainSpec:
    """Config file (optional) + overrides (flags given on the command line) -> TrainSpec."""
    label = str(config_path) if config_path else "command line"
    raw: Any = read_json_file(Path(config_path)) if config_path else {}
    if not isinstance(raw, dict):
        raise ConfigError(label, [("$", f"must be a JSON object, got {type(raw).__name__}")])
    merged = _deep_merge(raw, overrides)
    schema = train_schema()
    problems = schema_problems(merged, schema)
    if problems:
        raise ConfigError(label, problems)
    r = fill_defaults(merged, schema)
    if r["dpo"]["max_steps"] == 0:  # TRL reads 0 as "not set" and trains whole epochs
        raise ConfigError(label, [("$.dpo.max_steps", "must be -1 (train num_train_epochs) or >= 1, got 0")])
    lora = dict(r["lora"])
    if isinstance(lora["target_modules"], list):
        lora["target_modules"] = tuple(lora["target_modules"])
    return TrainSpec(
        dataset=r["dataset"], revision=r["revision"], split=r["split"], columns=r["columns"],
        model=r["model"], model_revision=r["model_revision"], output_dir=Path(r["output_dir"]),
        lora=LoraSpec(**lora), dpo=DpoSpec(**r["dpo"]), dtype=r["dtype"],
        gradient_checkpointing=r["gradient_checkpointing"], push_to=r["push_to"],
    )
