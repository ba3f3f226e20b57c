"""Mergeable summaries: merged over any split into shards (empty ones included), through JSON,
they equal the statistics computed directly over all values."""

import json
import math
import random
import statistics
from collections import Counter

import pytest

from judgefree_hub.output.summary import Histogram, Moments


def values(rnd, n):
    """Score-like values, with repeats, and an offset that costs naive sums of squares digits."""
    offset = rnd.choice([0.0, 1e3, -0.5])
    return [offset + round(rnd.gauss(0, 0.2), rnd.choice([3, 6, 12])) for _ in range(n)]


def split(rnd, xs):
    """Consecutive chunks of random sizes, some empty."""
    out, i = [], 0
    while i < len(xs):
        k = rnd.choice([0, 0, 1, 2, 7, 50])
        out.append(xs[i:i + k])
        i += k
    return [[], *out, []]


def moments_of(chunks, via_json=True):
    merged = Moments()
    for chunk in chunks:
        m = Moments()
        for x in chunk:
            m.add(x)
        merged.merge(Moments.from_json(json.loads(json.dumps(m.to_json()))) if via_json else m)
    return merged


@pytest.mark.parametrize("seed", range(6))
def test_merged_moments_equal_the_direct_statistics(seed):
    rnd = random.Random(seed)
    xs = values(rnd, rnd.choice([1, 2, 40, 1000]))
    m = moments_of(split(rnd, xs))
    assert m.n == len(xs) and (m.min, m.max) == (min(xs), max(xs))
    assert m.mean == pytest.approx(statistics.fmean(xs), rel=0, abs=1e-9)
    assert m.std == pytest.approx(statistics.pstdev(xs), rel=0, abs=1e-9)
    assert m.summary() == {"mean": round(statistics.fmean(xs), 6),
                           "std": round(statistics.pstdev(xs), 6),
                           "min": round(min(xs), 6), "max": round(max(xs), 6)}
    other = moments_of(split(random.Random(seed + 100), xs), via_json=False)  # another split
    assert (other.n, other.min, other.max) == (m.n, m.min, m.max)
    assert other.mean == pytest.approx(m.mean, rel=1e-12, abs=1e-15)
    assert other.std == pytest.approx(m.std, rel=1e-9, abs=1e-15)


def test_empty_and_single_moments():
    assert Moments().summary() is None and moments_of([[], []]).summary() is None
    one = {"mean": 0.25, "std": 0.0, "min": 0.25, "max": 0.25}
    assert moments_of([[], [0.25], []]).summary() == one
    assert Moments.from_json(json.loads(json.dumps(Moments().to_json()))) == Moments()


def bin_of(x, width=1e-3):
    """The k with k * width <= x < (k + 1) * width, in floats: the edges a plot draws."""
    k = math.floor(x / width)
    return next(j for j in (k - 1, k, k + 1) if j * width <= x < (j + 1) * width)


@pytest.mark.parametrize("seed", range(4))
def test_merged_histogram_bins_are_exact_and_rebin_covers_every_value(seed):
    rnd = random.Random(seed)
    xs = values(rnd, 500)
    xs = [x - 1e3 if abs(x) > 100 else x for x in xs]  # gap-like: within [-1, 1]
    merged = Histogram(1e-3)
    for chunk in split(rnd, xs):
        h = Histogram(1e-3)
        for x in chunk:
            h.add(x)
        merged.merge(Histogram.from_json(json.loads(json.dumps(h.to_json()))))
    assert merged.bins == Counter(map(bin_of, xs))
    edges, counts = merged.rebin(30)
    assert len(edges) == len(counts) + 1 and 15 <= len(counts) <= 30 and sum(counts) == len(xs)
    assert edges[0] <= min(xs) and max(xs) < edges[-1]
    assert counts == [sum(a <= x < b for x in xs) for a, b in zip(edges, edges[1:], strict=False)]


def test_histogram_edge_cases():
    h = Histogram(1e-3)
    assert h.rebin(30) == ([], [])
    h.add(0.0105)
    assert h.rebin(30) == ([pytest.approx(0.010), pytest.approx(0.011)], [1])
    with pytest.raises(ValueError, match="do not merge"):
        h.merge(Histogram(1e-2))
    assert json.dumps(h.to_json()) == '{"width": 0.001, "bins": {"10": 1}}'
