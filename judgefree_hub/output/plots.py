"""The card's two plots: the CLIP score gap and the hallucination ratio distribution.

Drawn with matplotlib's object API (no pyplot global state) and saved without the "Software"
PNG tag, so the same statistics give the same bytes and a rebuild stays byte-identical. Both
are drawn from the merged per-shard summaries (stats.py), never from the rows.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .stats import PairStats
    from .summary import Histogram

GAP_BARS = 30


def _png(fig: "Figure") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def score_gap_png(not_reversed: "Histogram", reversed_: "Histogram") -> bytes:
    """Histogram of s(generated positive) - s(generated negative); < 0 are the reversed pairs.
    The fine bins of both halves, re-binned to about GAP_BARS bars between the lowest and the
    highest gap."""
    from matplotlib.figure import Figure

    from .summary import Histogram

    both = Histogram(not_reversed.width)
    both.merge(not_reversed)
    both.merge(reversed_)
    edges, counts = both.rebin(GAP_BARS)
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.add_subplot()
    if counts:
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        ax.hist(centres, bins=edges, weights=counts, color="#4C72B0", edgecolor="white")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("CLIP score gap, positive - negative (< 0: reversed)")
    ax.set_xlabel("score gap")
    ax.set_ylabel("pairs")
    return _png(fig)


def ratio_png(bins: Mapping[str, Sequence[int]]) -> bytes:
    """The negative's hallucination ratio h: drawn (every decoded pair) behind kept (after the
    verifier), on the same bins, so the pairs the verifier dropped show as the difference."""
    from matplotlib.figure import Figure

    drawn, kept = bins["drawn"], bins["kept"]
    width = 1 / len(drawn)
    left = [i * width for i in range(len(drawn))]
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.add_subplot()
    if sum(drawn) or sum(kept):
        ax.bar(left, drawn, width=width, align="edge", color="#C7CCD6", edgecolor="white",
               label=f"drawn ({sum(drawn)})")
        ax.bar(left, kept, width=width, align="edge", color="#4C72B0", edgecolor="white",
               label=f"kept ({sum(kept)})")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no ratios (this strategy has none)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("Hallucination ratio h of the negative: drawn vs kept")
    ax.set_xlabel("h")
    ax.set_ylabel("pairs")
    return _png(fig)


def plot_files(summary: "PairStats", stats: Mapping[str, Any]) -> dict[str, bytes]:
    """The plots of a build, from its merged statistics (`summary`) and stats.json (`stats`)."""
    gaps = summary.gaps
    return {"plots/score_gap.png": score_gap_png(gaps["not_reversed"], gaps["reversed"]),
            "plots/negative_ratio.png": ratio_png(stats["negative_ratio_bins"])}
