"""The `jfhub` command line: the only module that uses click or picks exit codes.

Exit codes: 0 ok, 1 a run-time problem (source, model, build folder), 2 a bad recipe or usage.
Heavy imports (torch, transformers) happen inside the commands that need them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import ConfigError, JfhubError


class ConfigProblems(click.ClickException):
    """One `Error:` line per recipe or config problem, exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, err: ConfigError):
        super().__init__(str(err))
        self.lines = err.lines()

    def show(self, file=None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


class RunProblem(click.ClickException):
    """A run-time problem: one `Error:` line, exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.message}", err=True)


class InputProblem(RunProblem):
    """Input the user must change (e.g. a dataset layout that needs --columns): exit code 2."""

    exit_code = 2


def _load(path: str):
    from .recipe import load_recipe

    try:
        return load_recipe(path)
    except ConfigError as e:
        raise ConfigProblems(e) from None


class UsageProblem(click.ClickException):
    """A usage error (unknown option, a value out of range) as one `Error:` line, exit code 2;
    click's own prints the usage and a hint around it."""

    exit_code = 2

    def __init__(self, err: click.UsageError):
        command = err.ctx.command_path if err.ctx else "jfhub"
        super().__init__(f"{err.format_message()} (see: {command} --help)")

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.message}", err=True)


class NeededOption(click.Option):
    """An option a command needs that may also come from its --config file: help shows it as
    required; a missing one is reported by the config check, one `Error:` line."""

    def get_help_extra(self, ctx):
        extra = super().get_help_extra(ctx)
        extra["required"] = "required, here or in --config"
        return extra


class OneLineGroup(click.Group):
    """The `jfhub` group: usage errors of the group and of every command in one line."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as e:
            raise UsageProblem(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise UsageProblem(e) from None


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jfhub")
def main() -> None:
    """Judge-free self-improvement datasets for multimodal LLMs (arXiv 2411.17760)."""


@main.command(short_help="Check a RECIPE; print its problems (exit 2) or 'ok'.")
@click.argument("recipe", type=click.Path(dir_okay=False))
def validate(recipe: str) -> None:
    """Check a RECIPE file; print its problems (exit 2) or 'ok' with what its builder will use."""
    from .builders import BUILDERS

    r = _load(recipe)
    click.echo(f"{recipe}: ok ({r.name} v{r.version}, builder {r.builder}, {BUILDERS.get(r.builder).summary(r)})")


_push_options = [
    click.option("--repo", default=None, help="Dataset repo ORG/NAME (default: the recipe's hub.repo)."),
    click.option("--private/--public", default=None, help="Visibility if the repo is created (default: the recipe's hub.private)."),
    click.option("--endpoint", default=None, envvar="HF_ENDPOINT",
                 help="Hub URL (default: $HF_ENDPOINT or huggingface.co); e.g. a local test server."),
]


def push_options(fn):
    for option in reversed(_push_options):
        fn = option(fn)
    return fn


def _check_repo(repo_id) -> None:
    """A malformed repo id is a usage error, refused before any work (a build or a training run
    can take hours before its push)."""
    from .hub import check_repo_id

    if repo_id:
        try:
            check_repo_id(repo_id)
        except JfhubError as e:
            raise InputProblem(str(e)) from None


def output_options(fn):
    """--progress/--no-progress and --verbose, the same on every command that runs a long step."""
    fn = click.option("--verbose", is_flag=True,
                      help="Also show the libraries' own progress bars and logs (transformers, datasets, "
                           "TRL, Hub downloads), hidden by default.")(fn)
    return click.option("--progress/--no-progress", default=True,
                        help="Show jfhub's progress display (--no-progress: no bars at all).")(fn)


def _quiet(progress: bool, verbose: bool) -> None:
    """By default one display per long step, jfhub's own: the libraries' bars and logs are muted at
    their source before any of them loads a model or a dataset. --verbose keeps them (their bars
    only with the progress display on)."""
    from .output.progress import quiet_dependencies

    quiet_dependencies(bars=not (verbose and progress), logs=not verbose)


def _push(root: Path, repo, private, endpoint) -> None:
    from huggingface_hub.utils import disable_progress_bars

    from .hub import publish

    _check_repo(repo)
    if not sys.stderr.isatty():
        disable_progress_bars()  # upload bars only help a person watching a terminal

    try:
        result = publish(root, repo_id=repo, private=private, endpoint=endpoint)
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    except OSError as e:  # writing the card into the build folder: no permission, a read-only disk
        raise RunProblem(f"{e.filename or root}: {e.strerror or e}") from None
    how = "tagged the existing commit" if result.reused_commit else "1 commit"
    click.echo(f"pushed {result.files} files ({result.bytes:,} bytes) to {result.repo_id} in "
               f"{result.seconds:.1f}s: {how}, tag {result.tag}")
    click.echo(f"  url:    {result.url}")
    click.echo(f"  commit: {result.commit_oid}")
    click.echo("load it with:\n" + result.load_snippet())


@main.command(short_help="Build the dataset a RECIPE describes (resumable).")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", default="out", show_default=True, type=click.Path(),
              help="Output root; the build goes to OUT/<name>/<version>/.")
@output_options
@click.option("--push", is_flag=True, help="Publish the finished version to the Hub (one commit + tag v<version>).")
@push_options
def build(recipe: str, out: str, progress: bool, verbose: bool, push: bool, repo, private, endpoint) -> None:
    """Build the dataset a RECIPE describes (resumes an interrupted build).

    Under torchrun, accelerate launch or srun, every process takes shards as it goes; rank 0
    writes the card and manifest, and alone pushes."""
    from .distributed import Ranks, bind_device

    r = _load(recipe)
    try:
        ranks = Ranks.from_env()  # one process, or one of a launch (torchrun, accelerate, srun)
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    progress = progress and ranks.is_main  # one bar per launch: rank 0's
    _quiet(progress, verbose)
    if push and not (repo or r.hub.repo):
        raise RunProblem("--push needs a repo: pass --repo ORG/NAME or set hub.repo in the recipe")
    if push:
        _check_repo(repo or r.hub.repo)
    from .builders import BUILDERS

    try:
        bind_device(ranks)
        result = BUILDERS.get(r.builder)(r, Path(out), show_progress=progress, ranks=ranks)
    except ConfigError as e:  # e.g. an IC manifest's lines
        raise ConfigProblems(e) from None
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    except OSError as e:  # the output folder: a file in the way, no permission, a read-only disk
        raise RunProblem(f"{e.filename or out}: {e.strerror or e}; choose another --out") from None
    if not result.final:
        click.echo(f"rank {ranks.rank}: built {result.shards_built} shard(s) of {result.root} in "
                   f"{result.seconds:.1f}s; rank 0 finishes the version" + (" and pushes it" if push else ""))
        return
    s = result.stats
    what = (f"{s['images']} annotated images, {s['elements']} elements" if r.builder == "ic" else
            f"{s['pairs']} pairs from {s['samples']} samples, {s['reversed']} reversed, "
            f"dropped {sum(s['dropped'].values())}")
    click.echo(f"built {result.root}: {what} ({result.shards_built} shard(s) built, "
               f"{result.shards_resumed} already done) in {result.seconds:.1f}s")
    if push:
        _push(result.root, repo, private, endpoint)


@main.command(short_help="Publish a built version to the Hub.")
@click.argument("build_dir", type=click.Path(file_okay=False, exists=True))
@push_options
def push(build_dir: str, repo, private, endpoint) -> None:
    """Publish an already built version (OUT/<name>/<version>) to the Hub."""
    _push(Path(build_dir), repo, private, endpoint)


@main.command(short_help="Run DPO (TRL) on a preference DATASET.")
@click.argument("dataset", required=False, metavar="DATASET")
@click.option("--model", cls=NeededOption,
              help="Seed model: Hub id, local folder or demo:<name> (also the frozen reference).")
@click.option("--output", "output_dir", cls=NeededOption, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--revision", help="Dataset revision (tag such as v1.0.0, branch or commit); pinned to its commit.")
@click.option("--split", help="Split to train on (default train).")
@click.option("--columns", help="Map a foreign layout: prompt=COL,chosen=COL,rejected=COL,image=COL.")
@click.option("--full", is_flag=True, default=None, help="Full fine-tuning instead of LoRA (the default).")
@click.option("--beta", type=float, help="DPO beta.")
@click.option("--learning-rate", "--lr", "learning_rate", type=float, help="Peak learning rate.")
@click.option("--epochs", "num_train_epochs", type=float, help="Number of epochs.")
@click.option("--max-steps", type=int, help="Stop after N optimizer steps.")
@click.option("--batch-size", "per_device_train_batch_size", type=int, help="Pairs per device per step.")
@click.option("--grad-accum", "gradient_accumulation_steps", type=int, help="Gradient accumulation steps.")
@click.option("--loss-type", help="DPO loss variant (sigmoid, ipo, hinge, ...).")
@click.option("--push-to", help="Publish the output to this model repo (one commit).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="train.json with the other settings (may also give DATASET, --model and --output).")
@output_options
def train(dataset, model, output_dir, revision, split, columns, full, config_path, push_to, progress, verbose,
          **dpo) -> None:
    """Run DPO (TRL) on a preference DATASET: a Hub repo, a jfhub build folder or a local dataset.

    DATASET, --model and --output are required, on the command line or in --config's train.json.
    Prints one line of metrics per logging step (--no-progress: only the result)."""
    from .errors import DatasetLayoutError
    from .train import load_train_spec, parse_columns

    try:
        mapping = parse_columns(columns) if columns else None
    except DatasetLayoutError as e:
        raise InputProblem(str(e)) from None
    top = {"dataset": dataset, "model": model, "output_dir": output_dir, "revision": revision,
           "split": split, "columns": mapping, "push_to": push_to}
    overrides = {k: v for k, v in top.items() if v is not None}
    if full:
        overrides["lora"] = {"enabled": False}
    dpo = {k: v for k, v in dpo.items() if v is not None}
    if dpo:
        overrides["dpo"] = dpo
    try:
        spec = load_train_spec(config_path, overrides)
    except ConfigError as e:
        raise ConfigProblems(e) from None
    _check_repo(spec.push_to)
    _quiet(progress, verbose)
    from .train import train as run_train

    try:
        result = run_train(spec, echo=click.echo if progress else None)
    except DatasetLayoutError as e:
        raise InputProblem(str(e)) from None
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    if not result.main_process:
        return
    m = result.metrics
    click.echo(f"trained on {result.rows} pairs of {result.provenance.dataset} @ {result.provenance.commit[:19]} "
               f"in {result.seconds:.1f}s: loss {m.get('first_loss')} -> {m.get('loss')}, "
               f"reward margin {m.get('rewards/margins')}, {m['world_size']} process(es); wrote {result.output_dir}")
    if result.pushed_commit:
        click.echo(f"pushed to {spec.push_to} (commit {result.pushed_commit})")


BENCHES = ("ic", "pope", "chair")  # judgefree_hub.evals.BENCHMARKS (checked by a test), listed here so
# that `jfhub --help` does not import the evaluation code


def _summaries(paths) -> list:
    """The two summary.json files of --compare, each checked by the benchmark that wrote it; one
    benchmark for both."""
    from .evals import BENCHMARKS, summary_bench
    from .recipe import read_json_file

    summaries = []
    for path in paths:
        try:
            summary = read_json_file(Path(path))
        except ConfigError as e:
            raise ConfigProblems(e) from None
        if not isinstance(summary, dict):
            raise InputProblem(f"{path}: not a summary.json written by jfhub eval (not a JSON object)")
        bench = summary_bench(summary)
        if bench not in BENCHMARKS:
            raise InputProblem(f"{path}: a summary of an unknown benchmark {bench!r}; known: "
                               f"{', '.join(BENCHMARKS.names())}")
        problem = BENCHMARKS.get(bench)().check_summary(summary)
        if problem:
            raise InputProblem(f"{path}: not a summary.json written by jfhub eval ({problem})")
        summaries.append((bench, summary))
    (a_bench, _), (b_bench, _) = summaries
    if a_bench != b_bench:
        raise InputProblem(f"--compare takes two summaries of one benchmark: {paths[0]} is {a_bench!r}, "
                           f"{paths[1]} is {b_bench!r}")
    return summaries


@main.command("eval", short_help="Evaluate on an IC dataset: caption scores (IC, CHAIR) or POPE.")
@click.option("--bench", type=click.Choice(BENCHES), default="ic", show_default=True,
              help="ic: caption precision, recall, F1, CHAIR; chair: CHAIR with COCO's 80 categories; "
                   "pope: yes/no object questions (random, popular, adversarial).")
@click.option("--ic", "ic", help="IC dataset: Hub repo (with --revision) or a local build folder.")
@click.option("--revision", help="Revision of the IC dataset (e.g. a version tag).")
@click.option("--model", help="Caption (or answer) with this model (Hub id, local folder, demo:<name>).")
@click.option("--model-revision", help="Hub revision of the model.")
@click.option("--backend", default="auto", show_default=True,
              help="Model-family backend; auto = from the checkpoint's config.json model_type.")
@click.option("--captions", type=click.Path(dir_okay=False, exists=True),
              help="ic, chair: score captions made elsewhere: JSONL of {id, caption}.")
@click.option("--answers", type=click.Path(dir_okay=False, exists=True),
              help="pope: score answers made elsewhere: JSONL of {question_id, answer}.")
@click.option("--prompt", help="Caption prompt (default: the dataset's); pope: the question, with {object} "
                                "(default: 'Is there a {object} in the image?').")
@click.option("--max-new-tokens", type=click.IntRange(1),
              help="Longest caption (default 128) or POPE text answer (default 8).")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int, help="pope: seed of the question draws.")
@click.option("--pope-reader", type=click.Choice(["logits", "text"]),
              help="pope: how a model's answer is read: logits (default: next-token yes against no) or "
                   "text (a short greedy answer, read as POPE's script reads it).")
@click.option("--pope-per-image", type=click.IntRange(1),
              help="pope: present objects asked per image, and as many absent ones (default 3).")
@click.option("--pope-counts", metavar="IC",
              help="pope: count object frequency (popular) and co-occurrence (adversarial) on this IC dataset "
                   "(Hub repo or build folder, e.g. the model's training data) instead of the evaluated one.")
@click.option("--pope-counts-revision", metavar="REV", help="pope: revision of the --pope-counts dataset.")
@click.option("--questions-out", type=click.Path(dir_okay=False),
              help="pope: write the questions (JSONL, no labels) to answer elsewhere, then score with --answers; "
                   "needs no --model.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Report folder (default eval/<model or file name>, with -<bench> but for ic).")
@click.option("--compare", nargs=2, type=click.Path(dir_okay=False, exists=True),
              help="Compare two summary.json files (of one benchmark).")
@output_options
def evaluate(bench, ic, revision, model, model_revision, backend, captions, answers, prompt, max_new_tokens,
             batch_size, device, seed, pope_reader, pope_per_image, pope_counts, pope_counts_revision, questions_out,
             out_dir, compare, progress, verbose) -> None:
    """Evaluate on an IC dataset, judge-free: caption scores (--bench ic: precision, recall, F1,
    CHAIR; --bench chair: CHAIR over COCO's 80 categories) or POPE's yes/no object questions
    (--bench pope)."""
    from .evals import BENCHMARKS, format_compare

    if compare:
        (name, a), (_, b) = _summaries(compare)
        try:
            table = format_compare(BENCHMARKS.get(name)().compare(a, b))
        except (KeyError, TypeError, AttributeError) as e:
            raise InputProblem(f"--compare takes two summary.json files written by jfhub eval; "
                               f"{compare[0]} or {compare[1]} is not one (missing {e})") from None
        click.echo(table)
        return
    wanted, other = ("--answers", "--captions") if bench == "pope" else ("--captions", "--answers")
    given = answers if bench == "pope" else captions
    if (answers if bench != "pope" else captions):
        raise InputProblem(f"{other} is not for --bench {bench}: it takes {wanted} FILE")
    pope_only = [flag for flag, value in (("--pope-reader", pope_reader), ("--pope-per-image", pope_per_image),
                                          ("--pope-counts", pope_counts), ("--pope-counts-revision", pope_counts_revision),
                                          ("--questions-out", questions_out)) if value]
    if bench != "pope" and pope_only:
        raise InputProblem(f"{' and '.join(pope_only)} {'is' if len(pope_only) == 1 else 'are'} for --bench pope, "
                           f"not {bench}")
    if pope_counts_revision and not pope_counts:
        raise InputProblem("--pope-counts-revision is the revision of --pope-counts IC: give --pope-counts too")
    if questions_out:
        given_too = [flag for flag, value in (("--model", model), ("--answers", answers), ("--out", out_dir),
                                              ("--pope-reader", pope_reader)) if value]
        if given_too:
            raise InputProblem(f"--questions-out only writes the questions (to answer elsewhere): drop "
                               f"{', '.join(given_too)}")
        if not ic:
            raise InputProblem("--questions-out needs --ic DATASET: the questions are about its images")
    elif not ic or bool(model) == bool(given):
        raise InputProblem(f"give --ic DATASET and exactly one of --model MODEL or {wanted} FILE (or --compare A B)")
    if bench == "pope" and prompt is not None and "{object}" not in prompt:
        raise InputProblem(f"--prompt for --bench pope is the question and needs {{object}}, got {prompt!r}")
    _quiet(progress, verbose)
    from .evals import EvalOptions, Responses
    from .evals import evaluate as run_eval
    from .evals.captions import CAPTION_TOKENS
    from .ic import eval_model_spec

    options = EvalOptions(seed=seed, prompt=prompt, max_new_tokens=max_new_tokens, pope_reader=pope_reader or "logits",
                          pope_per_image=pope_per_image or 3, pope_counts=pope_counts,
                          pope_counts_revision=pope_counts_revision, show_progress=progress)
    if questions_out:
        from .evals.pope import export_questions

        try:
            n = export_questions(ic, revision, options, Path(questions_out))
        except (JfhubError, OSError) as e:  # a source that cannot be read, a file that cannot be written
            raise RunProblem(str(e)) from None
        click.echo(f"wrote {n} POPE questions to {questions_out}")
        return
    spec = None
    if model:
        tokens = max_new_tokens or CAPTION_TOKENS  # POPE's text reader has its own default
        spec = eval_model_spec(model, model_revision, device, batch_size, tokens, backend)
    try:
        report = run_eval(bench, ic, revision, Responses(spec, Path(given) if given else None), options)
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    label = model or Path(given).stem
    default = Path("eval") / (label.replace("/", "--").replace(":", "-") + ("" if bench == "ic" else f"-{bench}"))
    records, summary = report.write(Path(out_dir) if out_dir else default)
    click.echo(report.table())
    click.echo(f"wrote {records} and {summary}")


@main.command(short_help="Rounds of build -> DPO -> eval, each from the last model.")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--ic", "ic", required=True, help="IC dataset to score every round on: Hub repo or local build folder.")
@click.option("--ic-revision", help="Revision of the IC dataset.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1), help="Rounds after the seed model.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Loop folder (default loop/<recipe name>).")
@click.option("--train-config", type=click.Path(dir_okay=False, exists=True),
              help="train.json with the DPO settings (dataset, model and output_dir are set per round).")
@click.option("--full", is_flag=True, default=None, help="Full fine-tuning instead of LoRA.")
@click.option("--learning-rate", "--lr", "learning_rate", type=float, help="Peak DPO learning rate.")
@click.option("--epochs", "num_train_epochs", type=float, help="DPO epochs per round.")
@click.option("--beta", type=float, help="DPO beta.")
@click.option("--eval-max-new-tokens", default=64, show_default=True, type=click.IntRange(1))
@click.option("--eval-batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, help="Device for evaluation captions.")
@output_options
def loop(recipe, ic, ic_revision, rounds, out_dir, train_config, full, eval_max_new_tokens, eval_batch_size,
         device, progress, verbose, **dpo) -> None:
    """N rounds of build pairs -> DPO -> evaluate on an IC set, each from the last round's model."""
    from .loop import LoopSpec, run_loop

    recipe_obj = _load(recipe)
    if recipe_obj.builder != "preference":
        raise InputProblem(f"{recipe}: the loop needs a preference recipe, got builder {recipe_obj.builder!r}")
    from .recipe import read_json_file

    train = {}
    if train_config:
        try:
            train = read_json_file(Path(train_config))
        except ConfigError as e:
            raise ConfigProblems(e) from None
        if not isinstance(train, dict):
            raise ConfigProblems(ConfigError(train_config, [("$", "must be a JSON object")]))
    if full:
        train["lora"] = {**train.get("lora", {}), "enabled": False}
    dpo = {k: v for k, v in dpo.items() if v is not None}
    if dpo:
        train["dpo"] = {**train.get("dpo", {}), **dpo}
    spec = LoopSpec(recipe=read_json_file(Path(recipe)), recipe_dir=Path(recipe).parent,
                    recipe_label=recipe, ic=ic, ic_revision=ic_revision, rounds=rounds,
                    out_dir=Path(out_dir or Path("loop") / recipe_obj.name), train=train,
                    eval_max_new_tokens=eval_max_new_tokens, eval_batch_size=eval_batch_size, eval_device=device)
    _quiet(progress, verbose)
    try:
        results = run_loop(spec, echo=click.echo, show_progress=progress)
    except ConfigError as e:
        raise ConfigProblems(e) from None
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    from .loop import results_table

    click.echo(results_table(results), nl=False)
    click.echo(f"wrote {spec.out_dir / 'results.md'}, results.json and results.png")


@main.command("schema-doc", short_help="Print the recipe fields as a Markdown table.")
@click.option("--update", "readme", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Rewrite the table between the field markers of this README instead of printing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole recipe JSON Schema (skeleton + every fragment), e.g. for an editor.")
def schema_doc(readme, as_json) -> None:
    """Print the recipe fields as a Markdown table (generated from the JSON Schema)."""
    from .recipe import fields_table, recipe_schema, with_table

    if as_json:
        click.echo(json.dumps(recipe_schema(), indent=2))
        return
    if readme is None:
        click.echo(fields_table())
        return
    path = Path(readme)
    old = path.read_text()
    new = with_table(old)
    if new == old:
        click.echo(f"the recipe field table in {path} is up to date (unchanged)")
        return
    path.write_text(new)
    click.echo(f"updated the recipe field table in {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
