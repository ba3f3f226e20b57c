"""Dataset cards rendered from the Jinja2 templates in cards/ (installed as judgefree_hub.cards)."""

from __future__ import annotations

from importlib import resources
from typing import Any, Mapping, Optional, Sequence

import jinja2

from ..demo import describe as describe_demo
from ..demo import is_demo_ref
from ..output import features_yaml
from ..recipe import Recipe

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"))


def size_category(n: int) -> str:
    for limit, label in _SIZES:
        if n < limit:
            return label
    return "n>10M"


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("judgefree_hub.cards").joinpath(name).read_text()
        ),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )


def _source_datasets(recipe: Recipe) -> list[str]:
    ids = [s.options["dataset"] for s in recipe.sources if s.kind == "hf_dataset"]
    others = [s for s in recipe.sources if s.kind != "hf_dataset"]
    return ids + (["original"] if others or not ids else [])


def _common(recipe: Recipe, stats: dict[str, Any], shards: Sequence[Mapping[str, Any]],
            repo_id: Optional[str]) -> dict[str, Any]:
    from .. import __version__

    return dict(
        license=recipe.license, pretty_name=recipe.pretty_name, version=recipe.version,
        description=recipe.description, tool_version=__version__, stats=stats, shards=shards,
        image_format=recipe.output.image_format, total_bytes=sum(s["bytes"] for s in shards),
        repo_id=repo_id or recipe.hub.repo or f"<org>/{recipe.name}", tag=f"v{recipe.version}",
    )


def render_build_card(recipe: Recipe, stats: dict[str, Any], shards: Sequence[Mapping[str, Any]],
                      repo_id: Optional[str] = None) -> str:
    """The card of a build, by its builder; `shards` are manifest entries (file, rows, bytes,
    sha256). Without a repo id the load snippets name `<org>/<name>`; a push renders it again."""
    if recipe.builder == "ic":
        return _env().get_template("ic.md.j2").render(
            **_common(recipe, stats, shards, repo_id), size_category=size_category(stats["images"]),
            caption_prompt=recipe.ic.caption_prompt)
    return render_preference_card(recipe, stats, shards, repo_id)


def render_preference_card(recipe: Recipe, stats: dict[str, Any], shards: Sequence[Mapping[str, Any]],
                           repo_id: Optional[str] = None) -> str:
    from ..strategies import STRATEGIES
    from ..verifiers import VERIFIERS

    opts = recipe.verifier.options
    gen = recipe.model.generation
    decoding = (f"sampling, temperature {gen.temperature}, top-k {gen.top_k}, top-p {gen.top_p}"
                if gen.do_sample else "greedy") + f", at most {gen.max_new_tokens} new tokens"
    strategy = STRATEGIES.get(recipe.strategy.kind)(recipe.strategy.options, recipe.seed)
    verifier = VERIFIERS.get(recipe.verifier.kind).from_options(opts)
    refs = [ref for ref in (recipe.model.id, opts.get("model")) if is_demo_ref(ref)]
    random_weights = [ref for ref in refs if ref.startswith("demo:tiny-")]
    demo_models = [(ref, describe_demo(ref)) for ref in refs if ref not in random_weights]
    return _env().get_template("preference.md.j2").render(
        **_common(recipe, stats, shards, repo_id), random_weights=random_weights, demo_models=demo_models,
        model_id=recipe.model.id, model_revision=recipe.model.revision, decoding_line=decoding,
        strategy_line=strategy.describe(), verifier_line=verifier.describe(), long_text=opts.get("long_text", "n/a"),
        reverse=opts["reverse"], reverse_margin=opts["reverse_margin"], min_gap=opts["min_gap"], seed=recipe.seed,
        sources_line=", ".join(f"{s.options['name']} ({s.kind})" for s in recipe.sources),
        size_category=size_category(stats["pairs"]), source_datasets=_source_datasets(recipe),
        features_yaml=features_yaml(recipe.output.image_format, indent=2),
    )
