"""The card's two plots: the CLIP score gap and the hallucination ratio distribution.

Drawn with matplotlib's object API (no pyplot global state) and saved without the "Software"
PNG tag, so the same rows give the same bytes and a rebuild stays byte-identical.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _png(fig: "Figure") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _hist(values: Sequence[float], title: str, xlabel: str, bins: int | Sequence[float]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.add_subplot()
    if values:
        ax.hist(values, bins=bins, color="#4C72B0", edgecolor="white")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    return _png(fig)


def score_gap_png(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Histogram of s(generated positive) - s(generated negative); < 0 are the reversed pairs."""
    gaps = [(r["chosen_score"] - r["rejected_score"]) * (-1 if r["reversed"] else 1) for r in rows]
    return _hist(gaps, "CLIP score gap, positive - negative (< 0: reversed)", "score gap", 30)


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
        ax.text(0.5, 0.5, "no ratios (this strategy has none)", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Hallucination ratio h of the negative: drawn vs kept")
    ax.set_xlabel("h")
    ax.set_ylabel("pairs")
    return _png(fig)


def plot_files(rows: Sequence[Mapping[str, Any]], stats: Mapping[str, Any]) -> dict[str, bytes]:
    return {"plots/score_gap.png": score_gap_png(rows),
            "plots/negative_ratio.png": ratio_png(stats["negative_ratio_bins"])}
