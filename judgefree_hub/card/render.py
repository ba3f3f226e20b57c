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


# One format per kind of number, everywhere in a card: CLIP scores and score gaps to 4 decimals
# (gaps of real CLIPs are ~0.01), ratios h to 2, percentages to 1.
def score(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.4f}"


def ratio(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.2f}"


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def cell(text: str, limit: int = 160) -> str:
    """Text for one Markdown table cell: one line, pipes escaped, cut to `limit` characters."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("judgefree_hub.cards").joinpath(name).read_text()
        ),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    env.filters.update(score=score, ratio=ratio, cell=cell, num=lambda x, kind: score(x) if kind == "score" else ratio(x))
    env.globals.update(percent=percent)
    return env


def plural(n: int, one: str, many: Optional[str] = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


_DROP_WHY = {
    "identical_answers": "the two answers were identical (the induced hallucination changed nothing)",
    "empty_answer": "an answer was empty",
    "unreadable_image": "the image could not be decoded (no answers were written)",
}


def selection_lines(stats: Mapping[str, Any], reverse: bool, reverse_margin: float,
                    min_gap: float) -> list[str]:
    """The card's "How the pairs were selected", with the build's own numbers: one sentence
    per fact, none that reads wrong at 0 (no drops, no reversals, no minimum gap)."""
    n, pairs, rev = stats["samples"], stats["pairs"], stats["reversed"]
    lines = [f"{pairs} of {plural(n, 'source sample')} became pairs ({percent(pairs, n)})."]
    dropped = {k: v for k, v in stats["dropped"].items() if v}
    by_h = stats.get("negative_ratio_dropped") or {}
    drawn = (stats.get("negative_ratio_bins") or {}).get("drawn") or []
    for reason, count in dropped.items():
        why = _DROP_WHY.get(reason) or (f"the two scores differed by less than the minimum gap "
                                        f"{score(min_gap)}")
        line = f"{count} of {n} dropped because {why}"
        info = by_h.get(reason)
        if info and sum(drawn):
            half = len(drawn) // 2
            parts = []
            for name, part, of in (("h < 0.5", info["bins"][:half], drawn[:half]),
                                   ("h ≥ 0.5", info["bins"][half:], drawn[half:])):
                if sum(of):
                    parts.append(f"{sum(part)} of the {sum(of)} pairs drawn with {name} ({percent(sum(part), sum(of))})")
            line += (f": their negatives were drawn with h {ratio(info['mean'])} on average; "
                     + " and ".join(parts) + " ended this way")
        lines.append(line + ".")
    if not dropped:
        lines.append("No sample was dropped.")
    drawn_mean, kept = stats.get("negative_ratio_drawn_mean"), stats.get("negative_ratio")
    n_drawn, n_kept = sum(drawn), sum((stats.get("negative_ratio_bins") or {}).get("kept") or [])
    if drawn_mean is not None and kept:
        k, d = round(kept["mean"], 2), round(drawn_mean, 2)
        relation = "above" if k > d else "below" if k < d else "the same as"
        line = f"The kept pairs' mean h ({ratio(kept['mean'])}) is {relation} the mean of every h drawn ({ratio(drawn_mean)})"
        if n_drawn > n_kept and k != d:
            dropped_mean = (n_drawn * drawn_mean - n_kept * kept["mean"]) / (n_drawn - n_kept)
            line += (f", because the {n_drawn - n_kept} dropped pairs were drawn at {'lower' if k > d else 'higher'} "
                     f"h (mean {ratio(dropped_mean)})")
            if k > d and by_h.get("identical_answers"):
                line += ": a small h often leaves the negative equal to the positive"
        lines.append(line + ".")
    if not reverse:
        lines.append("Reversal is off (an ablation): every generated negative is `rejected`, whatever "
                     "the scores.")
    elif rev:
        margin = "" if reverse_margin == 0 else f" by more than {score(reverse_margin)}"
        lines.append(f"{rev} of the {plural(pairs, 'kept pair')} ({percent(rev, pairs)}) were reversed: CLIP scored "
                     f"the generated negative higher{margin}, so it became `chosen`.")
    elif pairs:
        lines.append("No pair was reversed: CLIP never preferred the generated negative"
                     + ("." if reverse_margin == 0 else f" by more than {score(reverse_margin)}."))
    if min_gap == 0:
        lines.append("There is no minimum score gap (min_gap 0): no pair was dropped for a small gap.")
    return lines


def clip_note(stats: Mapping[str, Any], long_text: str) -> str:
    """What a score of this verifier means, from this build's scores."""
    chosen, gap = stats.get("chosen_score"), stats.get("score_gap")
    how = {"sentence_mean": " (an answer longer than CLIP's text context: the mean over its sentences)",
           "truncate": " (an answer longer than CLIP's text context: truncated to it)"}.get(long_text, "")
    text = (f"A score is the cosine similarity between the verifier's embeddings of the image and of "
            f"the answer{how}. Its absolute value depends on the verifier: ")
    if chosen:
        text += (f"here chosen answers score {score(chosen['mean'])} on average ({score(chosen['min'])} to "
                 f"{score(chosen['max'])}), ")
    text += ("while a photo-trained CLIP gives about 0.2–0.35 to a matching caption; so compare scores "
             "only within one dataset. Only the gap between a pair's two answers is used: the **score gap** "
             "is `chosen_score − rejected_score` of each row, in the statistics table, the plot and below")
    if gap:
        text += f" (mean {score(gap['mean'])} here)"
    return text + "."


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
    long_text = opts.get("long_text", "n/a")
    return _env().get_template("preference.md.j2").render(
        **_common(recipe, stats, shards, repo_id), random_weights=random_weights, demo_models=demo_models,
        model_id=recipe.model.id, model_revision=recipe.model.revision, decoding_line=decoding,
        strategy_line=strategy.describe(), verifier_line=verifier.describe(), long_text=long_text,
        reverse=opts["reverse"], reverse_margin=opts["reverse_margin"], min_gap=opts["min_gap"], seed=recipe.seed,
        all_demo=len(refs) == 2, examples=stats.get("examples") or [],
        selection=selection_lines(stats, opts["reverse"], opts["reverse_margin"], opts["min_gap"]),
        clip_note=clip_note(stats, long_text),
        sources_line=", ".join(f"{s.options['name']} ({s.kind})" for s in recipe.sources),
        size_category=size_category(stats["pairs"]), source_datasets=_source_datasets(recipe),
        features_yaml=features_yaml(recipe.output.image_format, indent=2),
    )
