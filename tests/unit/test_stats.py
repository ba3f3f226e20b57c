"""Statistics keep the drawn ratio distribution, not only what the verifier kept."""

from collections import Counter
from decimal import Decimal

import pytest

from judgefree_hub.output.plots import ratio_png
from judgefree_hub.output.stats import RATIO_BINS, build_stats, tally_drawn_ratio


def row(h, reversed_=False):
    ratios = {"chosen_ratio": h, "rejected_ratio": 0.0} if reversed_ else {"chosen_ratio": 0.0, "rejected_ratio": h}
    return {"chosen_score": 0.3, "rejected_score": 0.2, "reversed": reversed_, **ratios}


def histogram(values):
    """Twenty equal bins over [0, 1], the last one closed: [0, 0.05), ..., [0.95, 1.0]."""
    edges = [Decimal(i) / 20 for i in range(21)]
    return [sum(edges[i] <= Decimal(str(h)) < edges[i + 1] or (i == 19 and h == 1.0) for h in values)
            for i in range(20)]


@pytest.mark.parametrize("seed", range(5))
def test_drawn_and_kept_ratio_bins(seed):
    import random

    rnd = random.Random(seed)
    drawn = [round(rnd.random(), 6) for _ in range(200)] + [1.0, 0.0]
    kept = [h for h in drawn if h > 0.3]  # the verifier dropped the low ones
    shards = [Counter(), Counter()]
    for i, h in enumerate(drawn):
        tally_drawn_ratio(shards[i % 2], h)
    tally_drawn_ratio(shards[0], None)  # a strategy without ratios counts nothing
    stats = build_stats(shards, [row(h, reversed_=i % 3 == 0) for i, h in enumerate(kept)])
    bins = stats["negative_ratio_bins"]
    assert RATIO_BINS == 20
    assert bins["drawn"] == histogram(drawn) and bins["kept"] == histogram(kept)
    assert sum(bins["drawn"]) == len(drawn) and sum(bins["kept"]) == len(kept)
    assert bins["drawn"][-1] >= 1 and bins["drawn"][0] >= 1  # h = 1 and h = 0 fall in the end bins
    assert stats["negative_ratio_drawn_mean"] == pytest.approx(sum(drawn) / len(drawn), abs=1e-6)
    assert stats["negative_ratio"]["mean"] > stats["negative_ratio_drawn_mean"]
    assert ratio_png(bins).startswith(b"\x89PNG")


def test_no_ratios_no_drawn_mean():
    stats = build_stats([Counter(samples=3)], [])
    assert stats["negative_ratio_drawn_mean"] is None and sum(stats["negative_ratio_bins"]["drawn"]) == 0
    assert ratio_png(stats["negative_ratio_bins"]).startswith(b"\x89PNG")
