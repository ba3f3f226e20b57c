import numpy as np
from PIL import Image

from judgefree_hub.records import LoadedSample, Sample
from judgefree_hub.strategies.mix import MixStrategy, RatioDistribution
from judgefree_hub.strategies.noise_image import NoiseImageStrategy, diffusion_noise

GAUSS = {"distribution": "gaussian", "mean": 0.5, "std": 0.2, "min": 0.1, "max": 1.0}


def loaded(key, color="red"):
    img = Image.new("RGB", (16, 16), color)
    return LoadedSample(Sample(key, f"src:{key}", "Describe.", lambda: img), img)


def test_gaussian_ratio_is_seeded_by_key_and_clipped():
    d = RatioDistribution(**GAUSS)
    draws = [d.draw(0, f"k{i}") for i in range(2000)]
    assert draws == [d.draw(0, f"k{i}") for i in range(2000)]  # same (seed, key) -> same h
    assert draws != [d.draw(1, f"k{i}") for i in range(2000)]
    assert min(draws) >= 0.1 and max(draws) <= 1.0
    assert abs(np.mean(draws) - 0.5) < 0.02 and abs(np.std(draws) - 0.2) < 0.02
    assert sum(h == 0.1 for h in draws) > 0  # the clip is hit (P(z < -2) ~ 2%)


def test_fixed_ratio():
    assert RatioDistribution("fixed", value=0.7).draw(3, "any") == 0.7


def test_mix_plan_rows_and_ratios_independent_of_batch():
    s = MixStrategy({"space": "logits", "positive_ratio": 0.0, "negative_ratio": GAUSS, "unconditional": "no_image"}, seed=5)
    rows, answers, ratios = s.plan([loaded("a"), loaded("b")])
    assert len(rows) == 6 and len(answers) == 4  # pos-cond, neg-cond, neg-uncond per sample
    assert [r.image is None for r in rows] == [False, False, True] * 2
    pos, neg = answers[0], answers[1]
    assert pos.uncond is None and pos.ratio == 0.0
    assert neg.uncond == 2 and neg.ratio == ratios[0][1]
    _, _, alone = s.plan([loaded("b")])
    assert alone[0] == ratios[1]


def test_mix_plan_positive_ratio_adds_an_uncond_row():
    s = MixStrategy({"space": "probs", "positive_ratio": 0.2, "negative_ratio": {"distribution": "fixed", "value": 0.8},
                     "unconditional": "no_image"}, seed=0)
    rows, answers, ratios = s.plan([loaded("a")])
    assert len(rows) == 4 and ratios == [(0.2, 0.8)]
    assert answers[0].uncond is not None and answers[0].ratio == 0.2


def test_diffusion_noise_is_seeded_and_grows_with_t():
    img = Image.new("RGB", (32, 32), (200, 40, 40))
    a = diffusion_noise(img, 500, 0, "k")
    assert np.array_equal(np.asarray(a), np.asarray(diffusion_noise(img, 500, 0, "k")))
    err = lambda t: np.abs(np.asarray(diffusion_noise(img, t, 0, "k"), float) - np.asarray(img, float)).mean()
    assert err(0) < 3 < err(200) < err(800)


def test_noise_image_plan_two_image_rows():
    s = NoiseImageStrategy({"noise_step": 300}, seed=0)
    rows, answers, ratios = s.plan([loaded("a")])
    assert len(rows) == 2 and all(r.image is not None for r in rows)
    assert rows[1].image.tobytes() != rows[0].image.tobytes()
    assert ratios == [(None, None)] and all(a.uncond is None for a in answers)


def test_mix_blank_image_unconditional_rows_see_a_grey_image():
    s = MixStrategy({"space": "logits", "positive_ratio": 0.0, "negative_ratio": GAUSS,
                     "unconditional": "blank_image"}, seed=0)
    rows, _, _ = s.plan([loaded("a", "red")])
    uncond = rows[2].image
    assert uncond is not None and uncond.size == (16, 16)
    assert uncond.getcolors() == [(16 * 16, (128, 128, 128))]
    assert "blank image" in s.describe()


class _EchoBackend:
    """Stands in for a backend: the answer to a row is its image's colour."""

    def decode(self, rows, answers, gen, space):
        assert all(a.uncond is None and a.ratio == 0.0 for a in answers)
        return [f"answer for {rows[a.cond].image.getpixel((0, 0))}" for a in answers]


def test_random_negative_takes_the_next_samples_answer():
    from judgefree_hub.strategies import random_negative as rn

    s = rn.RandomNegativeStrategy({}, seed=0)
    batch = [loaded("a", "red"), loaded("b", "blue"), loaded("c", "green")]
    pairs = s.generate(batch, _EchoBackend(), None)
    own = [f"answer for {b.image.getpixel((0, 0))}" for b in batch]
    assert [p.positive for p in pairs] == own
    assert [p.negative for p in pairs] == own[1:] + own[:1]
    assert all(p.positive_ratio is None and p.negative_ratio is None for p in pairs)
    alone = s.generate(batch[:1], _EchoBackend(), None)
    assert alone[0].positive == alone[0].negative  # nothing else to borrow: the verifier drops it
