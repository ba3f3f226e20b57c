"""The `jfhub` command line: the only module that uses click or picks exit codes.

Exit codes: 0 ok, 1 a run-time problem (source, model, build folder), 2 a bad recipe or usage.
Heavy imports (torch, transformers) happen inside the commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import JfhubError, RecipeError


class RecipeProblems(click.ClickException):
    """One `Error:` line per recipe problem, exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, err: RecipeError):
        super().__init__(str(err))
        self.lines = err.lines()

    def show(self, file=None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


class RunProblem(click.ClickException):
    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.message}", err=True)


def _load(path: str):
    from .recipe import load_recipe

    try:
        return load_recipe(path)
    except RecipeError as e:
        raise RecipeProblems(e) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jfhub")
def main() -> None:
    """Judge-free self-improvement datasets for multimodal LLMs (arXiv 2411.17760)."""


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
def validate(recipe: str) -> None:
    """Check a RECIPE file; print its problems (exit 2) or 'ok'."""
    r = _load(recipe)
    n = len(r.sources)
    click.echo(f"{recipe}: ok ({r.name} v{r.version}, builder {r.builder}, {n} source(s), "
               f"strategy {r.strategy.name}, verifier {r.verifier.name})")


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


def _push(root: Path, repo, private, endpoint) -> None:
    from huggingface_hub.utils import disable_progress_bars

    from .publish import publish

    if not sys.stderr.isatty():
        disable_progress_bars()  # upload bars only help a person watching a terminal

    try:
        result = publish(root, repo_id=repo, private=private, endpoint=endpoint)
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    how = "tagged the existing commit" if result.reused_commit else "1 commit"
    click.echo(f"pushed {result.files} files ({result.bytes:,} bytes) to {result.repo_id} in "
               f"{result.seconds:.1f}s: {how}, tag {result.tag}")
    click.echo(f"  url:    {result.url}")
    click.echo(f"  commit: {result.commit_oid}")
    click.echo("load it with:\n" + result.load_snippet())


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Output root; the build goes to OUT/<name>/<version>/.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--push", is_flag=True, help="Publish the finished version to the Hub (one commit + tag v<version>).")
@push_options
def build(recipe: str, out: str, progress: bool, push: bool, repo, private, endpoint) -> None:
    """Build the dataset a RECIPE describes (resumes an interrupted build)."""
    r = _load(recipe)
    if push and not (repo or r.hub.repo):
        raise RunProblem("--push needs a repo: pass --repo ORG/NAME or set hub.repo in the recipe")
    from .builders import BUILDERS

    try:
        result = BUILDERS.get(r.builder)(r, Path(out), show_progress=progress)
    except JfhubError as e:
        raise RunProblem(str(e)) from None
    s = result.stats
    click.echo(
        f"built {result.root}: {s['pairs']} pairs from {s['samples']} samples, "
        f"{s['reversed']} reversed, dropped {sum(s['dropped'].values())} "
        f"({result.shards_built} shard(s) built, {result.shards_resumed} already done) "
        f"in {result.seconds:.1f}s"
    )
    if push:
        _push(result.root, repo, private, endpoint)


@main.command()
@click.argument("build_dir", type=click.Path(file_okay=False, exists=True))
@push_options
def push(build_dir: str, repo, private, endpoint) -> None:
    """Publish an already built version (OUT/<name>/<version>) to the Hub."""
    _push(Path(build_dir), repo, private, endpoint)


@main.command("schema-doc")
@click.option("--update", "readme", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Rewrite the table between the field markers of this README instead of printing.")
def schema_doc(readme) -> None:
    """Print the recipe fields as a Markdown table (generated from the JSON Schema)."""
    from .schema_doc import fields_table, with_table

    if readme is None:
        click.echo(fields_table())
        return
    path = Path(readme)
    path.write_text(with_table(path.read_text()))
    click.echo(f"updated the recipe field table in {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
