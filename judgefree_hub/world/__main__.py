"""`python -m judgefree_hub.world export-ic DIR`: write the world's IC evaluation set (images +
manifest.jsonl) that recipes/world-ic.json builds, or with `--split train` the biased training
scenes that recipes/world-train.json builds (POPE's counts); same arguments, same bytes."""

from __future__ import annotations

import click

from .export import export_ic_set
from .scene import WorldConfig


@click.group()
def main() -> None:
    """The procedural shape world."""


@main.command("export-ic")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--n", default=200, show_default=True, type=click.IntRange(1), help="Scenes 0..n-1 of the split.")
@click.option("--split", default="eval", show_default=True, type=click.Choice(["eval", "train"]),
              help="eval: every shape drawn independently (the IC set); train: the planted co-occurrences "
                   "the describer learnt (POPE's popular and adversarial counts).")
@click.option("--seed", default=0, show_default=True, type=int, help="World seed.")
@click.option("--image-size", default=96, show_default=True, type=click.IntRange(24))
def export_ic(folder: str, n: int, split: str, seed: int, image_size: int) -> None:
    """World scenes as an IC manifest with exact elements."""
    path = export_ic_set(folder, WorldConfig(seed=seed, image_size=image_size), n, split=split)
    click.echo(f"wrote {path} ({n} {split} images)")


if __name__ == "__main__":  # pragma: no cover
    main()
