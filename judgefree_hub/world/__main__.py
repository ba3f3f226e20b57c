"""`python -m judgefree_hub.world export-ic DIR`: write the world's IC evaluation set (images +
manifest.jsonl) that recipes/world-ic.json builds; same arguments, same bytes."""

from __future__ import annotations

import click

from .export import export_ic_set
from .scene import WorldConfig


@click.group()
def main() -> None:
    """The procedural shape world."""


@main.command("export-ic")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--n", default=200, show_default=True, type=click.IntRange(1), help="Eval scenes 0..n-1.")
@click.option("--seed", default=0, show_default=True, type=int, help="World seed.")
@click.option("--image-size", default=96, show_default=True, type=click.IntRange(24))
def export_ic(folder: str, n: int, seed: int, image_size: int) -> None:
    """Eval-split scenes as an IC manifest with exact elements (never planted co-occurrences)."""
    path = export_ic_set(folder, WorldConfig(seed=seed, image_size=image_size), n)
    click.echo(f"wrote {path} ({n} images)")


if __name__ == "__main__":  # pragma: no cover
    main()
