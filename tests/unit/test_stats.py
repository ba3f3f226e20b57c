"""Build statistics are merged from the shards' markers, never from the rows: the merged result
equals today's statistics computed over every row, whatever the split into shards, and a
build's finish reads no shard. The drawn ratio distribution is kept, not only what survived."""

import json
import math
import random
import statistics
import tarfile
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from judgefree_hub.builders.ic import ICSteps, ic_counts, ic_stats, merge_ic_stats
from judgefree_hub.builders.preference import PreferenceSteps, _Pipeline
from PIL import Image

from judgefree_hub.output import ShardRecord, run_build
from judgefree_hub.output.plots import ratio_png, score_gap_png
from judgefree_hub.output.stats import (
    GAP_BIN,
    RATIO_BINS,
    PairStats,
    build_stats,
    tally_drawn_ratio,
)
from judgefree_hub.records import Dropped, DropReason, Pair, Sample, VerifiedPair

ROOT = Path(__file__).resolve().parents[2]


def row(h, reversed_=False):
    ratios = ({"chosen_ratio": h, "rejected_ratio": 0.0} if reversed_
              else {"chosen_ratio": 0.0, "rejected_ratio": h})
    return {"chosen_score": 0.3, "rejected_score": 0.2, "reversed": reversed_, **ratios}


def histogram(values):
    """Twenty equal bins over [0, 1], the last one closed: [0, 0.05), ..., [0.95, 1.0]."""
    edges = [Decimal(i) / 20 for i in range(21)]
    return [sum(edges[i] <= Decimal(str(h)) < edges[i + 1] or (i == 19 and h == 1.0)
                for h in values) for i in range(20)]


def direct_stats(samples, drops, drawn, rows):
    """Today's statistics (before per-shard summaries), computed over every row at once."""
    def summary(xs):
        return {"mean": round(statistics.fmean(xs), 6), "std": round(statistics.pstdev(xs), 6),
                "min": round(min(xs), 6), "max": round(max(xs), 6)} if xs else None

    neg = [r["chosen_ratio"] if r["reversed"] else r["rejected_ratio"] for r in rows]
    neg = [h for h in neg if h is not None]
    drawn = [h for h in drawn if h is not None]
    n_rev = sum(r["reversed"] for r in rows)
    drawn_mean = sum(round(h * 1e6) for h in drawn) / 1e6 / len(drawn) if drawn else None
    return {
        "samples": samples, "pairs": len(rows), "reversed": n_rev,
        "reversal_rate": round(n_rev / len(rows), 6) if rows else 0.0,
        "dropped": {reason.value: drops[reason] for reason in DropReason},
        "chosen_score": summary([r["chosen_score"] for r in rows]),
        "rejected_score": summary([r["rejected_score"] for r in rows]),
        "score_gap": summary([r["chosen_score"] - r["rejected_score"] for r in rows]),
        "negative_ratio": summary(neg),
        "negative_ratio_bins": {"drawn": histogram(drawn), "kept": histogram(neg)},
        "negative_ratio_drawn_mean": None if drawn_mean is None else round(drawn_mean, 6),
        "negative_ratio_dropped": {},
        "score_gap_definition": "chosen_score - rejected_score",
        "examples": [],
    }


def gap_bin(x):
    """The k with k * GAP_BIN <= x < (k + 1) * GAP_BIN, the plot's edges."""
    k = math.floor(x / GAP_BIN)
    return next(j for j in (k - 1, k, k + 1) if j * GAP_BIN <= x < (j + 1) * GAP_BIN)


def random_items(rnd, n):
    """What n samples became, in order: a kept pair (its row, and the ratio drawn for it) or a
    drop (its reason, and a ratio drawn or not)."""
    items = []
    for _ in range(n):
        h = None if rnd.random() < 0.1 else rnd.choice([0.0, 1.0, round(rnd.random(), 6)])
        if rnd.random() < 0.25:
            items.append(("drop", rnd.choice(list(DropReason)), h))
            continue
        rev = rnd.random() < 0.4
        c, r = round(rnd.uniform(-0.2, 0.4), 6), round(rnd.uniform(-0.2, 0.4), 6)
        ratios = {"chosen_ratio": h if rev else 0.0, "rejected_ratio": 0.0 if rev else h}
        pair = {"chosen_score": c, "rejected_score": r, "reversed": rev, **ratios}
        items.append(("pair", pair, h))
    return items


def shard_stats(rnd, items):
    """The items cut into shards of random sizes (some empty, some with drops only), each
    tallied as PreferenceSteps.shard does, and written to JSON as its marker holds it."""
    shards, i = [], 0
    while i < len(items) or not shards:
        chunk = items[i:i + rnd.choice([0, 1, 2, 5, 40])]
        s = PairStats()
        s.counts["samples"] = len(chunk)
        for kind, what, h in chunk:
            tally_drawn_ratio(s.counts, h)
            s.add_pair(what) if kind == "pair" else s.add_drop(what)
        shards.append(json.loads(json.dumps(s.to_json(), sort_keys=True)))
        i += len(chunk)
    return shards


@pytest.mark.parametrize("seed", range(6))
def test_merged_shard_stats_equal_the_statistics_over_every_row(seed):
    rnd = random.Random(seed)
    items = random_items(rnd, rnd.choice([0, 1, 30, 400]))
    rows = [what for kind, what, _ in items if kind == "pair"]
    drops = Counter(what for kind, what, _ in items if kind == "drop")
    shards = shard_stats(rnd, items)
    assert build_stats(shards) == direct_stats(len(items), drops, [h for *_, h in items], rows)
    if len(items) > 100:  # the splits tried include empty shards and shards of drops only
        assert any(s["samples"] == 0 for s in shards)
        assert any(s["samples"] > 0 and "pairs" not in s for s in shards)

    merged = PairStats.merged(shards)  # before rounding
    gaps = [r["chosen_score"] - r["rejected_score"] for r in rows]
    for name, xs in (("chosen_score", [r["chosen_score"] for r in rows]), ("score_gap", gaps)):
        m = merged.moments[name]
        assert (m.n, m.min, m.max) == (len(xs), min(xs, default=None), max(xs, default=None))
        if xs:
            assert abs(m.mean - statistics.fmean(xs)) < 1e-9
            assert abs(m.std - statistics.pstdev(xs)) < 1e-9
    for split, rev in (("not_reversed", False), ("reversed", True)):  # plotted: the table's gap
        plotted = [g for g, r in zip(gaps, rows, strict=True) if r["reversed"] == rev]
        assert merged.gaps[split].bins == Counter(map(gap_bin, plotted))

    other = shard_stats(random.Random(seed + 100), items)  # another split of the same items
    assert build_stats(other) == build_stats(shards)
    other_m = PairStats.merged(other).moments["score_gap"]
    assert other_m.mean == pytest.approx(merged.moments["score_gap"].mean, abs=1e-12)
    assert PairStats.merged(other).gaps == merged.gaps


@pytest.mark.parametrize("seed", range(5))
def test_drawn_and_kept_ratio_bins(seed):
    rnd = random.Random(seed)
    drawn = [round(rnd.random(), 6) for _ in range(200)] + [1.0, 0.0]
    kept = [h for h in drawn if h > 0.3]  # the verifier dropped the low ones
    shards = [PairStats(), PairStats()]
    for i, h in enumerate(drawn):
        tally_drawn_ratio(shards[i % 2].counts, h)
    tally_drawn_ratio(shards[0].counts, None)  # a strategy without ratios counts nothing
    for i, h in enumerate(kept):
        shards[i % 2].add_pair(row(h, reversed_=i % 3 == 0))
    stats = build_stats(s.to_json() for s in shards)
    bins = stats["negative_ratio_bins"]
    assert RATIO_BINS == 20
    assert bins["drawn"] == histogram(drawn) and bins["kept"] == histogram(kept)
    assert sum(bins["drawn"]) == len(drawn) and sum(bins["kept"]) == len(kept)
    assert bins["drawn"][-1] >= 1 and bins["drawn"][0] >= 1  # h = 1 and h = 0 fall in the end bins
    assert stats["negative_ratio_drawn_mean"] == pytest.approx(sum(drawn) / len(drawn), abs=1e-6)
    assert stats["negative_ratio"]["mean"] > stats["negative_ratio_drawn_mean"]
    assert ratio_png(bins).startswith(b"\x89PNG")


def test_no_ratios_no_drawn_mean():
    s = PairStats()
    s.counts["samples"] = 3
    stats = build_stats([s.to_json()])
    assert stats["negative_ratio_drawn_mean"] is None
    assert sum(stats["negative_ratio_bins"]["drawn"]) == 0
    assert stats["chosen_score"] is None and stats["pairs"] == 0
    assert ratio_png(stats["negative_ratio_bins"]).startswith(b"\x89PNG")
    assert score_gap_png(s.gaps["not_reversed"], s.gaps["reversed"]).startswith(b"\x89PNG")


# A preference build on a fake pipeline: shard() tallies, finish() merges the markers.

class FakeStrategy:
    def __init__(self, rnd):
        self.rnd = rnd

    def generate(self, loaded, backend, generation):
        ratio = self.rnd.random
        return [Pair(ls, f"pos {ls.sample.key}", f"neg {ls.sample.key}", 0.0,
                     None if ratio() < 0.1 else round(ratio(), 6)) for ls in loaded]


class FakeVerifier:
    def __init__(self, rnd):
        self.rnd = rnd

    def describe_id(self):
        return "fake"

    def judge(self, pairs):
        out = []
        for p in pairs:
            if self.rnd.random() < 0.2:
                out.append(Dropped(p.sample.sample.key, DropReason.BELOW_MIN_GAP))
                continue
            pos, neg = round(self.rnd.uniform(-0.1, 0.3), 6), round(self.rnd.uniform(-0.1, 0.3), 6)
            rev = neg > pos
            c, r = (neg, pos) if rev else (pos, neg)
            answers = (p.negative, p.positive) if rev else (p.positive, p.negative)
            ratios = (p.positive_ratio, p.negative_ratio)[::-1 if rev else 1]
            out.append(VerifiedPair(p, *answers, c, r, *ratios, rev))
        return out


class FakeSteps(PreferenceSteps):
    """The real shard() and finish() on fake models; finish runs with no shard file to read."""

    def __init__(self, recipe, seed):
        super().__init__(recipe)
        self.rnd = random.Random(seed)

    def open(self, samples):
        self.pipe = _Pipeline(None, FakeStrategy(self.rnd), FakeVerifier(self.rnd))

    def finish(self, root, records, shards):
        """Only a bounded read: one streamed pass over a shard per example thumbnail."""
        opened = []
        real_open = tarfile.open

        def counting_open(path, mode="r", *a, **k):
            opened.append((Path(path).name, mode))
            return real_open(path, mode, *a, **k)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tarfile, "open", counting_open)
            end = super().finish(root, records, shards)
        assert len(opened) == len(end.stats["examples"]) <= 4 and all(m == "r|" for _, m in opened)
        return end


def image():
    return Image.new("RGB", (4, 4), (200, 10, 10))


def broken():
    raise OSError("not an image")


@pytest.mark.parametrize("seed", range(3))
def test_a_build_merges_its_markers_and_reads_no_shard(tmp_path, demo_recipe, seed):
    rnd = random.Random(seed)
    n = rnd.choice([7, 25])
    unreadable = set(range(6, 12))  # the whole second shard (6 per shard): drops only
    samples = [Sample(f"k{i:03d}", "fake", "Describe.", broken if i in unreadable else image)
               for i in range(n)]
    steps = FakeSteps(demo_recipe, seed)
    result = run_build(demo_recipe, tmp_path, samples, steps, show_progress=False)
    root = result.root
    rows, manifest = [], json.loads((root / "manifest.json").read_text())
    for shard in manifest["shards"]:
        with tarfile.open(root / shard["file"]) as tar:
            rows += [json.loads(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")]
    stats = json.loads((root / "stats.json").read_text())
    want = direct_stats(n, Counter(), [], rows)  # drops and drawn ratios are not in the rows
    skip = ("dropped", "negative_ratio_", "examples")
    assert {k: v for k, v in stats.items() if not k.startswith(skip)} == \
        {k: v for k, v in want.items() if not k.startswith(skip)}
    bins = stats["negative_ratio_bins"]  # every drawn h is kept or dropped, and tallied as such
    assert sum(sum(v["bins"]) for v in stats["negative_ratio_dropped"].values()) == sum(bins["drawn"]) - sum(bins["kept"])
    examples = stats["examples"]
    assert len(examples) == min(4, len(rows))
    assert any(e["reversed"] for e in examples) == any(r["reversed"] for r in rows)
    for e in examples:  # each thumbnail written, a small JPEG, linked by its relative path
        thumb = root / e["thumbnail"]
        assert thumb.is_file() and e["thumbnail"].startswith("examples/")
        with Image.open(thumb) as im:
            assert im.format == "JPEG" and max(im.size) <= 160
    from judgefree_hub.hub.push import check_publishable, version_files

    names = {p.relative_to(root).as_posix() for p in version_files(root)}
    assert {e["thumbnail"] for e in examples} <= names  # a push uploads them
    check_publishable(root)
    if examples:
        (root / examples[0]["thumbnail"]).unlink()
        from judgefree_hub.errors import PushError

        with pytest.raises(PushError, match="thumbnails"):
            check_publishable(root)
    assert stats["negative_ratio_bins"]["kept"] == want["negative_ratio_bins"]["kept"]
    assert stats["dropped"]["unreadable_image"] == len(unreadable & set(range(n)))
    assert stats["dropped"]["below_min_gap"] == n - len(rows) - stats["dropped"]["unreadable_image"]
    assert (root / "plots" / "score_gap.png").read_bytes().startswith(b"\x89PNG")


# IC: counts per shard, merged.

def old_ic_stats(rows):
    """ic_stats as it was, over the whole manifest in memory."""
    kinds = Counter(e.kind for r in rows for e in r.truth.elements)
    return {"images": len(rows), "elements": sum(kinds.values()),
            "elements_by_kind": dict(sorted(kinds.items())),
            "images_by_domain": dict(sorted(Counter(r.truth.domain for r in rows).items())),
            "sources": dict(sorted(Counter(r.source or "unknown" for r in rows).items()))}


@pytest.mark.parametrize("seed", range(4))
def test_ic_stats_merged_from_shards_equal_the_manifest_stats(tmp_path, seed):
    from judgefree_hub.ic import read_manifest
    from judgefree_hub.recipe import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "ic-starter.json")
    rows = read_manifest(recipe.ic.manifest)
    rows = [replace(r, source=None) if i % 5 == 0 else r for i, r in enumerate(rows)]  # "unknown"
    rows = random.Random(seed).sample(rows, len(rows))
    cuts = sorted(random.Random(seed).choices(range(len(rows) + 1), k=4))
    chunks = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]  # some empty
    records = [ShardRecord(i, f"data/train-{i:06d}.tar", len(c), 1, "00" * 32, 0, len(c),
                           json.loads(json.dumps(ic_counts(c), sort_keys=True)))
               for i, c in enumerate(chunks)]
    assert merge_ic_stats(r.stats for r in records) == old_ic_stats(rows) == ic_stats(rows)
    want = old_ic_stats(rows)
    assert "unknown" in want["sources"] and len(want["images_by_domain"]) > 1
    end = ICSteps(recipe).finish(tmp_path, records, [])  # no shard exists: nothing is read
    assert end.stats == old_ic_stats(rows)


def test_a_marker_holds_the_summaries_as_sorted_deterministic_json(tmp_path):
    """Counts tallied in another order give the same marker bytes; the marker reads back to
    the same statistics (floats exactly)."""
    from judgefree_hub.output import ShardStore

    items = random_items(random.Random(7), 30)
    stores = []
    for name, order in (("one", items), ("two", sorted(items, key=lambda it: it[0] == "pair"))):
        s = PairStats()
        for kind, what, h in order:  # drops first in "two": the counts' insertion order differs
            tally_drawn_ratio(s.counts, h)
            s.add_pair(what) if kind == "pair" else s.add_drop(what)
        s.counts["samples"] = len(items)
        stores.append(ShardStore(tmp_path / name))
        stores[-1].write(0, [{"__key__": "k", "txt": b"x"}], 0, len(items), s.to_json())
    one, two = (st.progress_dir / "train-000000.json" for st in stores)
    assert one.read_bytes() == two.read_bytes()
    text = one.read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True)
    rec = stores[0].finished()[0]
    assert rec.stats == json.loads(json.dumps(s.to_json())) and PairStats.from_json(rec.stats) == s


# The card's example pairs: picked from a bounded number of rows per marker, the same however
# the build was cut into shards (one process or many, each finishing shards in any order).

def keyed_items(seed, n):
    rnd = random.Random(seed)
    items = random_items(rnd, n)
    return [(kind, what, h, f"s{i:04d}") for i, (kind, what, h) in enumerate(items)]


def split_stats(rnd, items, sizes):
    shards, i = [], 0
    while i < len(items):
        chunk = items[i:i + rnd.choice(sizes)]
        s = PairStats()
        for kind, what, h, key in chunk:
            row = {"prompt": "p", "chosen": f"c {key}", "rejected": f"r {key}", **what} if kind == "pair" else None
            s.add_pair(row, key) if kind == "pair" else s.add_drop(what, h)
        shards.append(json.loads(json.dumps(s.to_json(), sort_keys=True)))
        i += len(chunk)
    return shards


@pytest.mark.parametrize("seed", range(5))
def test_examples_are_the_same_for_one_shard_and_any_split(seed):
    from judgefree_hub.output.stats import EXAMPLE_KINDS, EXAMPLES

    items = keyed_items(seed, 300)
    one = build_stats(split_stats(random.Random(0), items, [len(items)]))
    for other in range(3):  # e.g. 2 processes: shards of 1..40 rows, merged in shard order
        split = split_stats(random.Random(seed * 10 + other), items, [1, 2, 7, 40])
        assert len(split) > 2
        assert build_stats(split)["examples"] == one["examples"]
        for marker in split:  # bounded: at most EXAMPLES candidates per kind in a marker
            assert all(len(v) <= EXAMPLES for v in marker["summary"]["examples"].values())
    examples = one["examples"]
    rows = {key: what for kind, what, _, key in items if kind == "pair"}
    assert len(examples) == EXAMPLES and len({e["key"] for e in examples}) == EXAMPLES
    gaps = {k: r["chosen_score"] - r["rejected_score"] for k, r in rows.items()}
    rev = [k for k, r in rows.items() if r["reversed"]]
    assert examples[0]["why"] == EXAMPLE_KINDS[0][0] and examples[0]["reversed"]
    assert examples[0]["gap"] == max(gaps[k] for k in rev)  # the reversed pair with the largest gap
    assert abs(examples[2]["gap"]) == min(abs(g) for g in gaps.values()) or examples[2]["why"] != EXAMPLE_KINDS[2][0]
    for e in examples:
        assert e["gap"] == gaps[e["key"]] and e["thumbnail"] == f"examples/{e['key']}.jpg"


def test_examples_without_a_reversed_pair_are_still_four():
    items = [(k, {**w, "reversed": False}, h, key) if k == "pair" else (k, w, h, key)
             for k, w, h, key in keyed_items(3, 60)]
    examples = build_stats(split_stats(random.Random(1), items, [5]))["examples"]
    assert len(examples) == 4 and not any(e["reversed"] for e in examples)


def test_dropped_ratios_by_reason():
    s = PairStats()
    for h in (0.1, 0.12, 0.6):
        s.add_drop(DropReason.IDENTICAL_ANSWERS, h)
    s.add_drop(DropReason.UNREADABLE_IMAGE)  # no answers, no h
    d = build_stats([s.to_json()])["negative_ratio_dropped"]
    assert list(d) == ["identical_answers"]
    assert d["identical_answers"]["bins"] == histogram([0.1, 0.12, 0.6])
    assert d["identical_answers"]["mean"] == pytest.approx((0.1 + 0.12 + 0.6) / 3, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_the_plotted_gap_is_the_tables_gap(seed):
    """score_gap.png bins chosen - rejected (stats.json's score_gap), split by reversal."""
    from judgefree_hub.output.plots import gap_bars

    items = keyed_items(seed, 200)
    merged = PairStats.merged(split_stats(random.Random(seed), items, [3, 30]))
    rows = [what for kind, what, _, _ in items if kind == "pair"]
    edges, plain, rev, overflow = gap_bars(merged.gaps["not_reversed"], merged.gaps["reversed"])
    assert sum(plain) + sum(rev) + overflow.get("n", 0) == len(rows)
    assert sum(rev) + sum(1 for r in rows if r["reversed"] and overflow and r["chosen_score"] - r["rejected_score"]
                          >= overflow["from"]) == sum(r["reversed"] for r in rows)
    gaps = [r["chosen_score"] - r["rejected_score"] for r in rows]
    assert edges[0] <= min(gaps) and merged.moments["score_gap"].min == min(gaps)
    for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        assert plain[i] == sum(1 for g, r in zip(gaps, rows, strict=True) if not r["reversed"] and a <= g < b)
        assert rev[i] == sum(1 for g, r in zip(gaps, rows, strict=True) if r["reversed"] and a <= g < b)
    assert score_gap_png(merged.gaps["not_reversed"], merged.gaps["reversed"]).startswith(b"\x89PNG")


def test_expected_ratio_counts_follow_the_recipe_distribution():
    from judgefree_hub.output.plots import expected_ratio_counts
    from judgefree_hub.strategies.mix import RatioDistribution

    dist = {"distribution": "gaussian", "mean": 0.5, "std": 0.2, "min": 0.1, "max": 1.0}
    expected = expected_ratio_counts(dist, 20000, RATIO_BINS)
    assert sum(expected) == pytest.approx(20000) and expected[0] == expected[1] == 0
    drawn = histogram([RatioDistribution(**dist).draw(0, f"k{i}") for i in range(20000)])
    for want, got in zip(expected, drawn, strict=True):  # the clipped mass lands in the edge bins
        assert abs(want - got) <= 4 * math.sqrt(want) + 2
    fixed = expected_ratio_counts({"distribution": "fixed", "value": 0.3}, 9, RATIO_BINS)
    assert fixed[6] == 9 and sum(fixed) == 9
    assert ratio_png({"drawn": drawn, "kept": drawn}, dist).startswith(b"\x89PNG")
