import numpy as np
import pytest
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
    from judgefree_hub.seeding import rng

    img = Image.new("RGB", (32, 32), (200, 40, 40))
    a = diffusion_noise(img, 500, 0, "k")
    assert np.array_equal(np.asarray(a), np.asarray(diffusion_noise(img, 500, 0, "k")))
    # DDPM forward noise: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, linear betas 1e-4..0.02
    # over 1000 steps, eps drawn from (seed, "noise_image", key), x in [-1, 1]
    abar = np.prod([1 - (1e-4 + (0.02 - 1e-4) * i / 999) for i in range(501)])
    eps = rng(0, "noise_image", "k").standard_normal((32, 32, 3))
    x0 = np.asarray(img, float) / 127.5 - 1
    want = np.clip((np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps + 1) * 127.5, 0, 255)
    assert np.abs(np.asarray(a, float) - want).max() <= 0.5 + 1e-6
    # another key or another seed: other noise
    assert not np.array_equal(np.asarray(a), np.asarray(diffusion_noise(img, 500, 0, "k2")))
    assert not np.array_equal(np.asarray(a), np.asarray(diffusion_noise(img, 500, 1, "k")))
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


def pool(images: int, prompts: int) -> list:
    """Samples of `images` images (one colour each) with `prompts` prompts per image."""
    colours = [(40 * i % 256, 80 * i % 256, 120 * i % 256) for i in range(images)]
    out = []
    for i, colour in enumerate(colours):
        img = Image.new("RGB", (16, 16), colour)
        out += [LoadedSample(Sample(f"img{i}-p{j}", f"src:img{i}", f"Prompt {j}.", lambda img=img: img), img)
                for j in range(prompts)]
    return out


def test_random_negative_answers_the_same_prompt_about_another_image():
    from judgefree_hub.strategies import random_negative as rn

    samples = pool(images=5, prompts=3)
    s = rn.RandomNegativeStrategy({}, seed=0)
    s.bind([x.sample for x in samples])
    pairs = s.generate(samples, _EchoBackend(), None)
    for x, pair in zip(samples, pairs):
        assert pair.positive == f"answer for {x.image.getpixel((0, 0))}"
        assert pair.negative != pair.positive  # another image, never this one's other prompts
        assert (pair.positive_ratio, pair.negative_ratio) == (None, None)


@pytest.mark.parametrize("images,prompts,batch", [(2, 1, 1), (3, 4, 2), (7, 2, 5), (12, 3, 7)])
def test_random_negative_partners_do_not_depend_on_batching(images, prompts, batch):
    from judgefree_hub.strategies import random_negative as rn

    samples = pool(images, prompts)
    s = rn.RandomNegativeStrategy({}, seed=3)
    s.bind([x.sample for x in samples])
    whole = s.generate(samples, _EchoBackend(), None)
    pieces = [p for i in range(0, len(samples), batch) for p in s.generate(samples[i:i + batch], _EchoBackend(), None)]
    assert [p.negative for p in whole] == [p.negative for p in pieces]
    partners = [s.partner(x.sample) for x in samples]
    assert all(o.source_id != x.sample.source_id for o, x in zip(partners, samples))
    other_seed = rn.RandomNegativeStrategy({}, seed=4)
    other_seed.bind([x.sample for x in samples])
    if images > 2:
        assert [o.key for o in partners] != [other_seed.partner(x.sample).key for x in samples]


def test_random_negative_with_a_single_image_gives_identical_answers_that_the_verifier_drops():
    from judgefree_hub.strategies import random_negative as rn

    samples = pool(images=1, prompts=3)
    s = rn.RandomNegativeStrategy({}, seed=0)
    s.bind([x.sample for x in samples])
    assert all(s.partner(x.sample) is None for x in samples)
    assert all(p.positive == p.negative for p in s.generate(samples, _EchoBackend(), None))


def test_strategies_take_recipe_options_frozen_or_partial():
    """From a loaded recipe (frozen mappings) or a partial dict: defaults come from the fragment."""
    from pathlib import Path

    from judgefree_hub.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "smoke.json")
    s = MixStrategy(recipe.strategy.options, seed=recipe.seed)
    assert (s.space, s.unconditional, s.noise_step) == ("logits", "no_image", 999)
    assert MixStrategy({}, seed=0).negative_ratio.describe() == "h ~ N(0.5, 0.2^2) clipped to [0.1, 1.0]"
    assert NoiseImageStrategy({}, seed=0).noise_step == 500


@pytest.mark.parametrize("unconditional", ["no_image", "blank_image", "noised_image"])
def test_at_h1_only_the_unconditional_row_is_decoded(unconditional):
    s = MixStrategy({"negative_ratio": {"distribution": "fixed", "value": 1.0}, "unconditional": unconditional}, seed=0)
    batch = [loaded("a", "red"), loaded("b", "blue")]
    rows, answers, ratios = s.plan(batch)
    assert len(rows) == 4 and ratios == [(0.0, 1.0)] * 2  # positive cond + negative uncond per sample
    negatives = [rows[a.cond] for a in answers[1::2]]
    assert all(a.uncond is None and a.ratio == 0.0 for a in answers)
    if unconditional == "no_image":
        assert all(r.image is None for r in negatives)
    elif unconditional == "blank_image":
        assert all(r.image.getcolors() == [(256, (128, 128, 128))] for r in negatives)
    else:
        noisy = negatives[0].image
        assert noisy.size == (16, 16) and len(noisy.getcolors(256 * 256)) > 50  # noise, not the flat red
        assert s.plan(batch)[0][1].image.tobytes() == noisy.tobytes()  # seeded by (seed, key)
        assert "t = 999/1000" in s.describe()
