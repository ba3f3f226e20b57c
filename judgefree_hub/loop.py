"""`jfhub loop`: N rounds of build pairs -> DPO -> evaluate, each round starting from the last model.

Round 0 only evaluates the seed model. Round r builds the recipe with round r-1's model as
`model.id` (version `<version>-round.<r>`), trains DPO on those pairs from that model (the
frozen reference is the same model, as in the paper's iterations), and captions the IC set
(round-<r>/eval/: what `jfhub eval --bench ic` writes, so `jfhub eval --compare` takes it).
Every step is the one the CLI runs (builder, trainer, evaluator), so it works the same with a
7B model on a GPU. A round's `result.json` is written last: a rerun with the same settings
skips finished rounds and resumes the rest; other settings in the same folder are refused.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from .errors import BuildError, ConfigError

Echo = Callable[[str], None]
RESULT = "result.json"
SETTINGS = "loop.json"
TABLE_METRICS = (("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("chair_i", "CHAIR-i"),
                 ("chair_s", "CHAIR-s"))


@dataclass(frozen=True)
class LoopSpec:
    """What one loop runs. `train` holds train.json settings without dataset/model/output_dir,
    which every round sets itself."""

    recipe: Mapping[str, Any]
    recipe_dir: Path
    recipe_label: str
    ic: str
    ic_revision: Optional[str]
    rounds: int
    out_dir: Path
    train: Mapping[str, Any]
    eval_prompt: Optional[str] = None
    eval_max_new_tokens: int = 64
    eval_batch_size: int = 32
    eval_device: str = "auto"

    def settings(self) -> dict[str, Any]:
        """Everything that changes results (not the number of rounds): kept in loop.json."""
        return {"recipe": self.recipe, "ic": self.ic, "ic_revision": self.ic_revision, "train": self.train,
                "eval": {"prompt": self.eval_prompt, "max_new_tokens": self.eval_max_new_tokens}}


@dataclass(frozen=True)
class RoundResult:
    round: int
    model: str
    pairs: Optional[int]
    reversed: Optional[int]
    dropped: Optional[int]
    scores: dict[str, Optional[float]]
    train_loss: Optional[float]
    seconds: float

    @property
    def reversed_share(self) -> Optional[float]:
        return None if not self.pairs else round(self.reversed / self.pairs, 4)


def _round_dir(spec: LoopSpec, r: int) -> Path:
    return spec.out_dir / f"round-{r}"


def _check_settings(spec: LoopSpec) -> None:
    path = spec.out_dir / SETTINGS
    mine = json.loads(json.dumps(spec.settings(), sort_keys=True))
    if path.is_file():
        if json.loads(path.read_text()) != mine:
            raise ConfigError(str(path), [("$", f"{spec.out_dir} holds a loop run with other settings; "
                                               "use another --out (finished rounds are never overwritten)")])
        return
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=2, sort_keys=True) + "\n")


def round_recipe(spec: LoopSpec, r: int, model: str):
    """The recipe of round r: the loop's recipe with this round's model and version."""
    from .recipe import recipe_from_dict

    raw = copy.deepcopy(dict(spec.recipe))
    raw["model"] = {**raw["model"], "id": model, "revision": None}
    raw["version"] = f"{raw['version'].split('-')[0]}-round.{r}"
    return recipe_from_dict(raw, spec.recipe_dir, spec.recipe_label)


def _train_spec(spec: LoopSpec, dataset: Path, model: str, out: Path):
    from .train import load_train_spec

    settings = {**copy.deepcopy(dict(spec.train)), "dataset": str(dataset), "model": model,
                "output_dir": str(out), "revision": None, "push_to": None}
    return load_train_spec(None, settings)


def merge_lora(adapter_dir: Path, base: str, out: Path) -> Path:
    """The base model with the adapter merged in, saved as a plain checkpoint the next round's
    builder loads like any model."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from .checkpoints import deprecated_checkpointing_alias_reads
    from .demo import model_path

    model = AutoModelForImageTextToText.from_pretrained(model_path(base))
    with deprecated_checkpointing_alias_reads():  # peft reads a deprecated transformers property
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    AutoProcessor.from_pretrained(str(adapter_dir)).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)  # left by a round killed before its result.json
    tmp.replace(out)
    return out


def evaluate_model(spec: LoopSpec, items, model: str, out: Path, show_progress: bool = False) -> dict:
    """Caption the IC set with `model` and score it as `jfhub eval --bench ic` does (the same
    code, so the summary carries "bench" and the same meta, and --compare reads it); the
    reports are written to `out`. Returns summary.json's content."""
    from .evals import EvalOptions, Responses, evaluate
    from .ic import eval_model_spec

    mspec = eval_model_spec(model, None, spec.eval_device, spec.eval_batch_size, spec.eval_max_new_tokens)
    report = evaluate("ic", spec.ic, spec.ic_revision, Responses(model=mspec),
                      EvalOptions(prompt=spec.eval_prompt, show_progress=show_progress), items=items)
    report.write(out)
    return report.summary


def _scores(summary: dict) -> dict[str, Optional[float]]:
    overall = summary["overall"]
    return {"precision": overall["micro"]["precision"], "recall": overall["micro"]["recall"],
            "f1": overall["micro"]["f1"], "chair_i": overall["chair_i"], "chair_s": overall["chair_s"]}


def _run_round(spec: LoopSpec, r: int, model: str, items, echo: Echo, show_progress: bool) -> RoundResult:
    from .builders import BUILDERS

    t0 = time.perf_counter()
    folder = _round_dir(spec, r)
    pairs = reversed_ = dropped = loss = None
    if r > 0:
        from .train import train

        recipe = round_recipe(spec, r, model)
        echo(f"round {r}: building pairs with {model}")
        built = BUILDERS.get(recipe.builder)(recipe, folder / "pairs", show_progress=show_progress)
        stats = built.stats
        pairs, reversed_ = stats["pairs"], stats.get("reversed", 0)
        dropped = sum(stats["dropped"].values())
        if not pairs:
            raise BuildError(f"round {r}: the build kept no pairs (see {built.root / 'stats.json'})")
        echo(f"round {r}: {pairs} pairs ({reversed_} reversed, {dropped} dropped); training DPO")
        tspec = _train_spec(spec, built.root, model, folder / "dpo")
        result = train(tspec, echo=echo if show_progress else None)  # its step lines
        loss = result.metrics.get("train_loss")
        model = str(merge_lora(folder / "dpo", model, folder / "model") if tspec.lora.enabled
                    else folder / "dpo")
    echo(f"round {r}: evaluating {model}")
    summary = evaluate_model(spec, items, model, folder / "eval", show_progress)
    out = RoundResult(r, model, pairs, reversed_, dropped, _scores(summary), loss,
                      round(time.perf_counter() - t0, 1))
    (folder / RESULT).write_text(json.dumps(asdict(out), indent=2, sort_keys=True) + "\n")
    return out


def run_loop(spec: LoopSpec, echo: Optional[Echo] = None, show_progress: bool = False) -> list[RoundResult]:
    """Rounds 0..spec.rounds; finished rounds (result.json present) are read, not rerun. `echo`
    gets one line per stage of a round; `show_progress` adds each stage's own display (the
    build's and the captioning bars, the training's step lines)."""
    from .ic import load_ic

    echo = echo or (lambda _msg: None)
    round_recipe(spec, 1, spec.recipe["model"]["id"])  # config problems surface before any work
    _train_spec(spec, spec.out_dir, spec.recipe["model"]["id"], spec.out_dir)
    _check_settings(spec)
    items = load_ic(spec.ic, spec.ic_revision)
    results: list[RoundResult] = []
    model = spec.recipe["model"]["id"]
    for r in range(spec.rounds + 1):
        done = _round_dir(spec, r) / RESULT
        if done.is_file():
            results.append(RoundResult(**json.loads(done.read_text())))
            echo(f"round {r}: done before, reusing {done}")
        else:
            results.append(_run_round(spec, r, model, items, echo, show_progress))
        model = results[-1].model
    write_results(spec.out_dir, results)
    return results


def _fmt(x: Optional[float], pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}" if pct else str(x)


def results_table(results: list[RoundResult]) -> str:
    """Markdown: one row per round, scores in percent."""
    head = ["round", "pairs", "reversed"] + [label for _, label in TABLE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        rev = "-" if res.pairs is None else f"{res.reversed} ({_fmt(res.reversed_share)}%)"
        cells = [str(res.round), _fmt(res.pairs, pct=False), rev] + [_fmt(res.scores[k]) for k, _ in TABLE_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(out_dir: Path, results: list[RoundResult]) -> None:
    """results.json, results.md and results.png (scores per round)."""
    (out_dir / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2, sort_keys=True) + "\n")
    (out_dir / "results.md").write_text(results_table(results))
    plot_results(results, out_dir / "results.png")


PLOT_PANELS = TABLE_METRICS + (("reversed_share", "pairs reversed"),)
LOWER_IS_BETTER = {"chair_i", "chair_s"}


def plot_values(results: list[RoundResult]) -> dict[str, list[Optional[float]]]:
    """What each panel of results.png shows, in percent per round (None: not measured, e.g. no
    pairs in round 0)."""
    out: dict[str, list[Optional[float]]] = {}
    for key, _ in PLOT_PANELS:
        raw = [r.reversed_share if key == "reversed_share" else r.scores.get(key) for r in results]
        out[key] = [None if v is None else 100 * v for v in raw]
    return out


def plot_results(results: list[RoundResult], path: Path) -> None:
    """results.png: small multiples, one panel per metric (each with its own y-scale, so a change
    of one point shows), rounds as integers on x, every value written next to its point."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rounds = [r.round for r in results]
    values = plot_values(results)
    fig = Figure(figsize=(9, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3, sharex=True).flatten()
    for ax, (key, label) in zip(axes, PLOT_PANELS, strict=True):
        points = [(x, y) for x, y in zip(rounds, values[key], strict=True) if y is not None]
        better = "lower is better" if key in LOWER_IS_BETTER else (
            "share of the round's pairs" if key == "reversed_share" else "higher is better")
        ax.set_title(f"{label} (%)\n{better}", fontsize=9)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color="#4C72B0")
            lo, hi = min(ys), max(ys)
            pad = max((hi - lo) * 0.25, 1.0)  # at least one point of room: flat lines stay readable
            ax.set_ylim(lo - pad, hi + pad)
            for x, y in points:
                ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xticks(rounds)
        ax.set_xlim(min(rounds) - 0.3, max(rounds) + 0.3)  # room for the end points' labels
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[3:]:
        ax.set_xlabel("round (0 = seed model)")
    fig.suptitle("Judge-free self-improvement: IC scores and pairs reversed, per round", fontsize=11)
    fig.savefig(path, metadata={"Software": None})
