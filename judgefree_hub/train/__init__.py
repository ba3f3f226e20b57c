"""`jfhub train`: a thin TRL DPO trainer. config.py (train.json + flags -> TrainSpec), data.py
(preference layouts -> TRL's format), trainer.py (the run), report.py (metrics, model card)."""

from .config import DpoSpec, LoraSpec, TrainSpec, load_train_spec, train_schema
from .data import Layout, detect_layout, layout_of, parse_columns, to_trl_dataset
from .trainer import DataProvenance, TrainResult, train

__all__ = ["DataProvenance", "DpoSpec", "Layout", "LoraSpec", "TrainResult", "TrainSpec", "detect_layout",
           "layout_of", "load_train_spec", "parse_columns", "to_trl_dataset", "train", "train_schema"]
