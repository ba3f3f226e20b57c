"""The card's two plots: the CLIP score gap (chosen - rejected, as in stats.json) and the
hallucination ratio distribution (drawn vs kept, with the recipe's distribution over them).

Drawn with matplotlib's object API (no pyplot global state) and saved without the "Software"
PNG tag, so the same statistics give the same bytes and a rebuild stays byte-identical. Both
are drawn from the merged per-shard summaries (stats.py), never from the rows.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .stats import PairStats
    from .summary import Histogram

GAP_BARS = 30
BLUE, ORANGE, GREY, INK = "#4C72B0", "#DD8452", "#C9CDD4", "#222222"


def _png(fig: "Figure") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def gap_bars(not_reversed: "Histogram", reversed_: "Histogram") -> tuple[list[float], list[int], list[int], dict]:
    """The plotted bars: (edges, not-reversed counts, reversed counts, overflow) on common edges,
    about GAP_BARS of them; the gap is stats.score_gap's. When a few far gaps would squeeze every
    other pair into one bar (the highest gap beyond 3x the 95th percentile's span), the bars stop
    at that percentile and `overflow` says how many pairs lie beyond ({"n", "from", "max"})."""
    from .summary import Histogram

    both = Histogram(not_reversed.width)
    both.merge(not_reversed)
    both.merge(reversed_)
    if not both.bins:
        return [], [], [], {}
    lo, hi, total = min(both.bins), max(both.bins), sum(both.bins.values())
    seen, p95 = 0, hi
    for k in sorted(both.bins):
        seen += both.bins[k]
        if seen >= 0.95 * total:
            p95 = k
            break
    cut = hi if hi - lo + 1 <= 3 * (p95 - lo + 1) else p95
    shown = Histogram(both.width, type(both.bins)({k: c for k, c in both.bins.items() if k <= cut}))
    edges, _ = shown.rebin(GAP_BARS)
    group = -(-(cut - lo + 1) // GAP_BARS)

    def counts(h: "Histogram") -> list[int]:
        out = [0] * (len(edges) - 1)
        for k, c in h.bins.items():
            if k <= cut:
                out[(k - lo) // group] += c
        return out

    beyond = sum(c for k, c in both.bins.items() if k > cut)
    overflow = {"n": beyond, "from": edges[-1], "max": (hi + 1) * both.width} if beyond else {}
    return edges, counts(not_reversed), counts(reversed_), overflow


def score_gap_png(not_reversed: "Histogram", reversed_: "Histogram") -> bytes:
    """Histogram of the score gap, chosen_score - rejected_score (the statistics table's gap),
    stacked: pairs kept as generated in blue, pairs the verifier reversed in orange; a line at
    0 (left of it: the chosen answer scored lower, which only a reverse margin or reversal off
    allows)."""
    from matplotlib.figure import Figure

    edges, plain, rev, overflow = gap_bars(not_reversed, reversed_)
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if edges:
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        ax.hist([centres, centres], bins=edges, weights=[plain, rev], stacked=True, color=[BLUE, ORANGE],
                edgecolor="white", linewidth=0.5,
                label=[f"kept as generated ({sum(not_reversed.bins.values())} pairs)",
                       f"reversed by the verifier ({sum(reversed_.bins.values())} pairs)"])
        ax.axvline(0, color=INK, linewidth=1, linestyle="--")
        lo, hi = ax.get_xlim()
        ax.set_xlim(min(lo, -0.05 * (hi - lo)), hi)  # 0 always in view
        ax.legend(fontsize=8, loc="upper right", frameon=False)
        if overflow:
            ax.text(0.98, 0.70, f"not shown: {overflow['n']} pairs with a gap\nabove {overflow['from']:.3f} "
                    f"(up to {overflow['max']:.3f})", transform=ax.transAxes, ha="right", va="top", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no pairs kept", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Score gap of the kept pairs (chosen − rejected)", fontsize=10)
    ax.set_xlabel("CLIP score gap = chosen_score − rejected_score")
    ax.set_ylabel("pairs (count)")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def expected_ratio_counts(dist: Mapping[str, Any], n: int, bins: int) -> list[float]:
    """Expected counts per h bin of `n` draws from the recipe's distribution (mix.RatioDistribution):
    a Gaussian clipped to [min, max], so the clipped tails pile up in the bins holding min and max;
    or all of them in one bin for a fixed h."""
    width = 1 / bins

    def index(h: float) -> int:
        return min(int(h * bins), bins - 1)

    out = [0.0] * bins
    if dist.get("distribution") == "fixed":
        out[index(float(dist["value"]))] = float(n)
        return out
    mean, std = float(dist.get("mean", 0.5)), float(dist.get("std", 0.2))
    lo, hi = float(dist.get("min", 0.1)), float(dist.get("max", 1.0))

    def cdf(x: float) -> float:
        if std == 0:
            return float(x >= mean)
        return 0.5 * (1 + math.erf((x - mean) / (std * math.sqrt(2))))

    for i in range(bins):
        a, b = max(i * width, lo), min((i + 1) * width, hi)
        if b > a:
            out[i] += n * (cdf(b) - cdf(a))
    out[index(lo)] += n * cdf(lo)
    out[index(hi)] += n * (1 - cdf(hi))
    return out


def _describe_dist(dist: Mapping[str, Any]) -> str:
    if dist.get("distribution") == "fixed":
        return f"fixed h = {dist['value']}"
    return (f"N({dist.get('mean', 0.5)}, {dist.get('std', 0.2)}²) clipped to "
            f"[{dist.get('min', 0.1)}, {dist.get('max', 1.0)}]")


def ratio_png(bins: Mapping[str, Sequence[int]], dist: Optional[Mapping[str, Any]] = None) -> bytes:
    """The negative's hallucination ratio h: every drawn h (light grey bars, outlined) with the
    kept pairs' h in front (blue, narrower), on the same bins, so what the verifier dropped
    shows as the grey left over; over them, the expected counts of the recipe's distribution
    (`dist`, the strategy's `negative_ratio` options) as a black step line."""
    from matplotlib.figure import Figure

    drawn, kept = bins["drawn"], bins["kept"]
    width = 1 / len(drawn)
    left = [i * width for i in range(len(drawn))]
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if sum(drawn) or sum(kept):
        ax.bar(left, drawn, width=width, align="edge", color=GREY, edgecolor="#8A909A", linewidth=0.6,
               label=f"drawn ({sum(drawn)} pairs decoded)")
        ax.bar([x + 0.2 * width for x in left], kept, width=0.6 * width, align="edge", color=BLUE,
               label=f"kept ({sum(kept)} pairs after the verifier)")
        if dist is not None and sum(drawn):
            expected = expected_ratio_counts(dist, sum(drawn), len(drawn))
            ax.stairs(expected, [i * width for i in range(len(drawn) + 1)], color=INK, linewidth=1.2,
                      label=f"expected from the recipe: {_describe_dist(dist)}")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        top = max(max(drawn), max(kept), *(expected_ratio_counts(dist, sum(drawn), len(drawn))
                                           if dist is not None and sum(drawn) else [0]))
        ax.set_ylim(0, top * 1.45 + 1)  # room for the legend above the bars
    else:
        ax.text(0.5, 0.5, "no ratios (this strategy has none)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("Hallucination ratio h of the negative: drawn vs kept", fontsize=10)
    ax.set_xlabel(f"h (bins of {width:g}; 0 = plain decoding, 1 = image ignored)")
    ax.set_ylabel("pairs (count)")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def plot_files(summary: "PairStats", stats: Mapping[str, Any],
               ratio_distribution: Optional[Mapping[str, Any]] = None) -> dict[str, bytes]:
    """The plots of a build, from its merged statistics (`summary`) and stats.json (`stats`);
    `ratio_distribution` is the recipe's distribution of h (mix), drawn over the ratio plot."""
    gaps = summary.gaps
    return {"plots/score_gap.png": score_gap_png(gaps["not_reversed"], gaps["reversed"]),
            "plots/negative_ratio.png": ratio_png(stats["negative_ratio_bins"], ratio_distribution)}
