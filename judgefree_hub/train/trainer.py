"""`jfhub train`: a thin DPO trainer (TRL does the work) with safe defaults for VLMs.

What it adds over `trl dpo`: the dataset revision is resolved to a commit and pinned; foreign
preference layouts are mapped (train_data.py); LoRA touches the language model's projections
only; no truncation of image tokens; fp32 on CPU and bf16 where the GPU supports it; gradient
checkpointing only on GPU; the reference is the frozen seed. It runs unchanged under
`accelerate launch` (only the main process writes the card, the metrics and the push).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..checkpoints import deprecated_checkpointing_alias_reads
from ..errors import DatasetLayoutError, ModelLoadError
from .config import TrainSpec

LM_PROJECTIONS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class DataProvenance:
    """Which data exactly: a Hub repo at a commit, or a local folder with its fingerprint."""

    dataset: str
    revision: Optional[str]
    commit: str
    is_hub: bool
    recipe: Optional[dict]


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    metrics: dict[str, Any]
    provenance: DataProvenance
    rows: int
    seconds: float
    pushed_commit: Optional[str]
    main_process: bool
    """False in the other ranks of a multi-process (accelerate) run, which write nothing."""


def load_preference_data(spec: TrainSpec):
    """(dataset, provenance) for a Hub repo (pinned to the resolved commit), a jfhub build
    folder, a `save_to_disk` folder, or any folder `datasets` can read."""
    import datasets

    from ..hub import build_rows, dataset_errors

    local = Path(spec.dataset)
    if local.is_dir():
        with dataset_errors(spec.dataset):
            _refuse_empty_build(spec, build_rows(spec.dataset))
            return _load_local(local, spec.split)
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    with dataset_errors(spec.dataset, spec.revision):
        commit = HfApi().dataset_info(spec.dataset, revision=spec.revision).sha
        _refuse_empty_build(spec, build_rows(spec.dataset, commit))
        ds = datasets.load_dataset(spec.dataset, revision=commit, split=spec.split)
    try:
        recipe = json.loads(Path(hf_hub_download(spec.dataset, "recipe.json", repo_type="dataset",
                                                 revision=commit)).read_text())
    except EntryNotFoundError:
        recipe = None
    return ds, DataProvenance(spec.dataset, spec.revision, commit, True, recipe)


def _refuse_empty_build(spec: TrainSpec, rows: Optional[int]) -> None:
    if rows == 0:
        where = spec.dataset + (f" at revision {spec.revision}" if spec.revision else "")
        raise DatasetLayoutError(f"{where}: the build has no pairs (0 rows in its manifest.json); nothing to train on")


def _load_local(local: Path, split: str):
    import datasets

    from ..output import sha256_file

    recipe = json.loads((local / "recipe.json").read_text()) if (local / "recipe.json").is_file() else None
    if (local / "manifest.json").is_file():  # a jfhub build folder
        files = {split: str(local / "data" / "train-*.tar")}
        ds = datasets.load_dataset("webdataset", data_files=files, split=split)
        commit = "sha256:" + sha256_file(local / "manifest.json")
    elif (local / "state.json").is_file() or (local / "dataset_dict.json").is_file():
        ds = datasets.load_from_disk(str(local))
        ds = ds[split] if isinstance(ds, datasets.DatasetDict) else ds
        commit = "fingerprint:" + ds._fingerprint
    else:
        ds = datasets.load_dataset(str(local), split=split)
        commit = "fingerprint:" + ds._fingerprint
    return ds, DataProvenance(str(local), None, commit, False, recipe)


def load_seed_model(spec: TrainSpec):
    """Processor and model through the same loading path as the builder (demo: refs, LoRA outputs)."""
    import torch

    from ..checkpoints import load_pretrained

    dtype = torch.bfloat16 if _use_bf16(spec) else torch.float32
    return load_pretrained(spec.model, spec.model_revision, dtype)  # a LoRA output: merged into its base


def _use_bf16(spec: TrainSpec) -> bool:
    import torch

    if spec.dtype != "auto":
        return spec.dtype == "bfloat16"
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def language_model_projections(model) -> str:
    """A regex over module names: the attention and MLP projections inside the model's language
    model (its `get_decoder()`: `language_model` in LLaVA and Qwen-VL, `text_model` in
    Idefics3), so LoRA never touches the vision tower, whatever the family calls its parts."""
    import re

    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    prefix = next((name for name, module in model.named_modules() if module is decoder and name), None)
    if prefix is None:
        return LM_PROJECTIONS
    return re.escape(prefix) + r"\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def lora_config(spec: TrainSpec, model):
    """LoRA on the language model's attention and MLP projections only (not the vision tower)."""
    from peft import LoraConfig

    targets = spec.lora.target_modules
    targets = language_model_projections(model) if targets == "language_model" else targets
    if isinstance(targets, str):
        import re

        if not any(re.fullmatch(targets, name) for name, _ in model.named_modules()):
            raise ModelLoadError(f"LoRA target {targets!r} matches no module of {spec.model!r}; "
                                 f"set lora.target_modules to its projection names")
    else:
        targets = list(targets)
    return LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def dpo_config(spec: TrainSpec):
    import torch
    from trl import DPOConfig

    d = spec.dpo
    on_gpu = torch.cuda.is_available()
    checkpointing = spec.gradient_checkpointing == "on" or (spec.gradient_checkpointing == "auto" and on_gpu)
    return DPOConfig(
        output_dir=str(spec.output_dir), beta=d.beta, learning_rate=d.learning_rate,
        # RPO-style: the SFT term is TRL's "sft" loss next to the DPO one, weighted
        loss_type=[d.loss_type, "sft"] if d.sft_weight else d.loss_type,
        loss_weights=[1.0, d.sft_weight] if d.sft_weight else None,
        num_train_epochs=d.num_train_epochs, max_steps=d.max_steps,
        per_device_train_batch_size=d.per_device_train_batch_size,
        gradient_accumulation_steps=d.gradient_accumulation_steps, max_length=d.max_length,
        warmup_steps=d.warmup_steps, lr_scheduler_type=d.lr_scheduler_type, logging_steps=d.logging_steps,
        seed=d.seed, bf16=_use_bf16(spec), activation_checkpointing=checkpointing, use_cpu=not on_gpu,
        report_to=[], save_strategy="no", disable_tqdm=True,
    )


def train(spec: TrainSpec, echo=None) -> TrainResult:
    """Run DPO as the spec says; write adapter/model, processor, card, metrics; maybe push."""
    from trl import DPOTrainer

    from .data import layout_of, to_trl_dataset
    from .report import MetricsPrinter, final_metrics, write_outputs

    t0 = time.perf_counter()
    raw, provenance = load_preference_data(spec)
    layout, _ = layout_of(raw, spec.columns)
    data = to_trl_dataset(raw, spec.columns)
    if len(data) == 0:
        raise DatasetLayoutError(f"{spec.dataset}: split {spec.split!r} has no rows")
    processor, model = load_seed_model(spec)
    peft_config = lora_config(spec, model) if spec.lora.enabled else None
    ref_model = None if peft_config else _frozen_copy(model)
    with deprecated_checkpointing_alias_reads():
        trainer = DPOTrainer(model=model, ref_model=ref_model, args=dpo_config(spec), train_dataset=data,
                             processing_class=processor, peft_config=peft_config)
        MetricsPrinter.install(trainer, echo)
        trainer.train()
    metrics = {**final_metrics(trainer.state.log_history), "world_size": trainer.args.world_size}
    main_process = trainer.is_world_process_zero()
    pushed = None
    if main_process:
        pushed = write_outputs(trainer, processor, spec, provenance, layout.name, len(data), metrics)
    return TrainResult(spec.output_dir, metrics, provenance, len(data), time.perf_counter() - t0, pushed,
                       main_process)


def _frozen_copy(model):
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()
