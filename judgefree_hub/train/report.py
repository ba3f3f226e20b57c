"""What `jfhub train` prints while training and writes afterwards (metrics, card, push)."""

from __future__ import annotations

import json
import resource
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional

import jinja2
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

SHOWN = (("loss", "loss"), ("rewards/accuracies", "reward acc"), ("rewards/margins", "margin"),
         ("rewards/chosen", "r_chosen"), ("rewards/rejected", "r_rejected"))


class MetricsPrinter(TrainerCallback):
    """One readable line per logging step (main process only), instead of raw log dicts."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo

    @classmethod
    def install(cls, trainer, echo: Optional[Callable[[str], None]]) -> None:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        if echo is not None:
            trainer.add_callback(cls(echo))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        parts = [f"step {state.global_step}/{state.max_steps}"]
        parts += [f"{label} {logs[key]:.4f}" for key, label in SHOWN if key in logs]
        self.echo("  ".join(parts))


def final_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Last logged DPO metrics, the first loss (for comparison), run time and peak memory."""
    steps = [h for h in history if "loss" in h]
    summary = next((h for h in reversed(history) if "train_runtime" in h), {})
    out: dict[str, Any] = {}
    if steps:
        out["first_loss"] = round(steps[0]["loss"], 6)
        out.update({k: round(v, 6) for k, v in steps[-1].items() if isinstance(v, (int, float))})
    for key in ("train_runtime", "train_loss", "train_steps_per_second"):
        if key in summary:
            out[key] = round(summary[key], 6)
    if steps and summary.get("train_runtime"):
        out["seconds_per_step"] = round(summary["train_runtime"] / max(steps[-1].get("step", 1), 1), 4)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _recipe_line(recipe) -> str:
    """The jfhub recipe the data came from; "" when there is none or it is not one jfhub wrote (any
    dataset may carry a recipe.json of its own, and a card must not fail after the training)."""
    try:
        return (f"`{recipe['name']}` v{recipe['version']} (model `{recipe['model']['id']}`, "
                f"strategy `{recipe['strategy']['name']}`)")
    except (KeyError, TypeError):
        return ""


def _render_card(spec, provenance, layout: str, rows: int, metrics: dict) -> str:
    import trl

    from .. import __version__

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(resources.files("judgefree_hub.cards").joinpath("model.md.j2").read_text())
    recipe_line = _recipe_line(provenance.recipe)
    where = "Hub dataset" if provenance.is_hub else "local folder"
    settings = spec.as_dict()
    hyper = {f"dpo.{k}": v for k, v in settings["dpo"].items()}
    hyper.update({f"lora.{k}": v for k, v in settings["lora"].items()} if spec.lora.enabled else {"lora": "off"})
    hyper.update({"dtype": spec.dtype, "gradient_checkpointing": spec.gradient_checkpointing})
    from ..demo import describe, is_demo_ref

    demo_base = is_demo_ref(spec.model)
    return template.render(
        title=f"{Path(spec.output_dir).name} (DPO on {provenance.dataset})", base_model=spec.model,
        demo_base=demo_base, demo_description=describe(spec.model) if demo_base else "",
        this_model=spec.push_to or str(spec.output_dir),
        library_name="peft" if spec.lora.enabled else "transformers", lora=spec.lora.enabled,
        dataset_repo=provenance.dataset if provenance.is_hub else None, tool_version=__version__,
        trl_version=trl.__version__, dataset_line=f"{where} `{provenance.dataset}`",
        revision=provenance.revision, data_commit=provenance.commit, layout=layout, split=spec.split,
        rows=rows, recipe_line=recipe_line, hyperparameters=hyper, metrics=metrics,
    )


def write_outputs(trainer, processor, spec, provenance, layout: str, rows: int,
                  metrics: dict) -> Optional[str]:
    """Adapter or model, processor, metrics.json, train_config.json, README.md; then the push.
    Returns the pushed commit id, if any."""
    out = Path(spec.output_dir)
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / "train_config.json").write_text(json.dumps(spec.as_dict(), indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(_render_card(spec, provenance, layout, rows, metrics))
    return push_folder(out, spec.push_to) if spec.push_to else None


def push_folder(folder: Path, repo_id: str) -> str:
    """Publish a trained output folder as ONE commit to a model repo."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from ..hub import with_retries

    api = HfApi()
    with_retries(api.create_repo, f"create repo {repo_id}")(repo_id, repo_type="model", exist_ok=True)
    ops = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
           for p in sorted(folder.rglob("*")) if p.is_file()]
    info = with_retries(api.create_commit, f"commit to {repo_id}")(
        repo_id, operations=ops, commit_message="jfhub train output", repo_type="model")
    return info.oid
