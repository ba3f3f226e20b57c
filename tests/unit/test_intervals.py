"""benchmarks/intervals.py: the seed interval and the paired bootstrap the experiment reports."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from judgefree_hub.ic import Element, ImageTruth, load_vocabulary, score_caption, summarize

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def iv():
    spec = importlib.util.spec_from_file_location("intervals", ROOT / "benchmarks" / "intervals.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_t_interval_matches_the_textbook(iv):
    values = [0.013, 0.008, 0.001, 0.004, 0.008]
    got = iv.t_interval(values)
    x = np.array(values)
    half = 2.7764451051977987 * x.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert got.mean == pytest.approx(x.mean()) and got.n == 5
    assert (got.lo, got.hi) == pytest.approx((x.mean() - half, x.mean() + half))
    assert iv.t_interval([0.5]).lo is None and iv.t_interval([0.5]).fmt() == "50.0"
    assert got.fmt(signed=True).startswith("+0.7 [")


def per_image_rows(seed: int, n: int):
    """Captions scored by the real scorer on generated truths: the rows per_image.jsonl holds."""
    rng = np.random.default_rng(seed)
    vocab = load_vocabulary({})
    shapes = ["dog", "cat", "car", "chair", "cup", "bird"]
    rows, scores = [], []
    for i in range(n):
        present = list(rng.choice(shapes, size=rng.integers(1, 4), replace=False))
        named = [s for s in present if rng.random() < 0.8] + [s for s in shapes if s not in present and rng.random() < 0.2]
        truth = ImageTruth(f"img-{i:03d}", "d", tuple(Element(s, (), "object", None) for s in present))
        score = score_caption(truth, "A photo with " + ", ".join(f"a {s}" for s in named) + ".", vocab)
        scores.append(score)
        rows.append(score.to_json())
    return rows, summarize(scores)


def test_pooled_scores_equal_the_scorer_summary(iv):
    rows, summary = per_image_rows(1, 60)
    counts = iv.ImageCounts.from_rows(rows)
    got = iv.pooled(counts, np.ones((1, len(rows))))
    micro = summary["overall"]["micro"]
    for k in ("precision", "recall", "f1"):
        assert got[k][0] == pytest.approx(micro[k], abs=5e-5)
    assert got["chair_i"][0] == pytest.approx(summary["overall"]["chair_i"], abs=5e-5)
    assert got["chair_s"][0] == pytest.approx(summary["overall"]["chair_s"], abs=5e-5)


def test_paired_bootstrap_is_centred_on_the_difference_and_covers_it(iv):
    before, _ = per_image_rows(2, 200)
    after = [dict(r) for r in before]
    for r in after[::4]:  # a quarter of the images lose their hallucinations
        r["hallucinated"] = []
    a, b = iv.ImageCounts.from_rows(before), iv.ImageCounts.from_rows(after)
    out = iv.paired_bootstrap(a, b, resamples=1000, seed=0)
    p = out["precision"]
    assert p.mean > 0 and p.lo <= p.mean <= p.hi and p.lo > 0  # a real gain: the interval excludes 0
    assert out["recall"].mean == 0 and out["recall"].lo == 0 == out["recall"].hi  # recall did not move
    same = iv.paired_bootstrap(a, a, resamples=200)
    assert all(v.mean == 0 and v.lo == 0 == v.hi for v in same.values())
    assert iv.paired_bootstrap(a, b, resamples=1000, seed=0) == out  # seeded
    with pytest.raises(ValueError, match="not on the same images"):
        iv.paired_bootstrap(a, iv.ImageCounts.from_rows(before[1:]))


def pope_records(seed: int, n: int, right: float):
    """per_question.jsonl records of a POPE run: 2-6 questions of each setting per image, each
    answered right with probability `right`."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        for setting in ("random", "adversarial"):
            for k in range(2 * int(rng.integers(1, 4))):
                label = "yes" if k % 2 == 0 else "no"
                answer = label if rng.random() < right else ("no" if label == "yes" else "yes")
                records.append({"question_id": f"img-{i:03d}:{setting}:o{k}", "image_id": f"img-{i:03d}",
                                "setting": setting, "label": label, "answer": answer})
    return records


def test_pope_accuracy_counts_equal_the_benchmark_s_and_bootstrap_over_images(iv):
    from judgefree_hub.evals.pope import pope_metrics

    before = pope_records(3, 150, right=0.6)
    counts = iv.AnswerCounts.from_records(before, "adversarial")
    adversarial = [r for r in before if r["setting"] == "adversarial"]
    want = pope_metrics([r["label"] for r in adversarial], [r["answer"] for r in adversarial])["accuracy"]
    assert counts.scores(np.ones((1, 150)))["accuracy"][0] == pytest.approx(want, abs=5e-5)
    assert counts.asked.sum() == len(adversarial) and len(counts.ids) == 150
    after = [dict(r) for r in before]
    for r in after[::3]:  # a third of the questions now answered right
        r["answer"] = r["label"]
    b = iv.AnswerCounts.from_records(after, "adversarial", counts.ids)
    out = iv.paired_bootstrap(counts, b, resamples=1000, seed=0)
    assert set(out) == {"accuracy"}
    acc = out["accuracy"]
    gain = b.correct.sum() / b.asked.sum() - counts.correct.sum() / counts.asked.sum()
    assert acc.mean == pytest.approx(gain) and 0 < acc.lo <= acc.mean <= acc.hi and acc.n == 150
    same = iv.paired_bootstrap(counts, counts, resamples=200)["accuracy"]
    assert same.mean == 0 and same.lo == 0 == same.hi
    with pytest.raises(ValueError, match="no adversarial question for image"):
        iv.AnswerCounts.from_records(after[:-20], "adversarial", counts.ids + ("img-999",))
