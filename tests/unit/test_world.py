"""The procedural world: seeded scenes, the co-occurrence knob, pixels, captions, manifests."""

import hashlib
import io
import json

import numpy as np
import pytest

from judgefree_hub.errors import ConfigError
from judgefree_hub.ic.manifest import read_manifest
from judgefree_hub.world import (
    Obj, Scene, WorldConfig, describe, elements, export_caption_set, export_ic_set, render,
    sample_scene, scene_at, vocabulary,
)
from judgefree_hub.world.render import BACKGROUND_RGB, RGB, SOLID, cell_center

CONFIG = WorldConfig(seed=0)


def _png(scene):
    buf = io.BytesIO()
    render(scene, 64).save(buf, format="PNG")
    return buf.getvalue()


def _has(scene, shape):
    return any(o.shape == shape for o in scene.objects)


def test_golden_scene_and_pixels():
    assert scene_at(CONFIG, "eval", 0) == Scene((Obj("cross", "red", "large", 2, 1),), "stripes")
    pixels = render(scene_at(CONFIG, "eval", 1), 64).tobytes()
    assert hashlib.sha256(pixels).hexdigest() == "86c74c77c5f2a3f61e740f6fa33db386f1027029b0ac1ce74af28ea10d1ceac1"


def test_same_index_same_scene_and_png_bytes_other_index_differs():
    a, b = scene_at(CONFIG, "train", 7), scene_at(WorldConfig(seed=0), "train", 7)
    assert a == b and _png(a) == _png(b)
    assert scene_at(CONFIG, "train", 8) != a
    assert scene_at(WorldConfig(seed=1), "train", 7) != a


def test_scene_i_does_not_depend_on_how_many_are_exported(tmp_path):
    small = export_ic_set(tmp_path / "a", CONFIG, 3)
    large = export_ic_set(tmp_path / "b", CONFIG, 9)
    first3 = large.read_text().splitlines()[:3]
    assert small.read_text().splitlines() == first3
    assert (tmp_path / "a/images/eval-00002.png").read_bytes() == (tmp_path / "b/images/eval-00002.png").read_bytes()


def test_scenes_are_valid():
    for split in ("train", "eval"):
        for i in range(300):
            scene = scene_at(CONFIG, split, i)
            cells = [(o.x, o.y) for o in scene.objects]
            assert 1 <= len(scene.objects) <= 4
            assert len(set(cells)) == len(cells)
            assert cells == sorted(cells, key=lambda c: (c[1], c[0]))


def _expected_independent_rate(max_objects=4, n_shapes=6):
    """P(square | circle) when 1..max_objects shapes are drawn uniformly and independently."""
    p_a = p_ab = 0.0
    for n in range(1, max_objects + 1):
        none_a = ((n_shapes - 1) / n_shapes) ** n
        p_a += 1 - none_a
        p_ab += 1 - 2 * none_a + ((n_shapes - 2) / n_shapes) ** n
    return p_ab / p_a  # ~0.303


def _conditional(split, n=2000, config=CONFIG):
    scenes = [scene_at(config, split, i) for i in range(n)]
    with_circle = [s for s in scenes if _has(s, "circle")]
    return sum(_has(s, "square") for s in with_circle) / len(with_circle)


def test_bias_knob_plants_pairs_in_train_only():
    base = _expected_independent_rate()
    assert base == pytest.approx(0.303, abs=0.002)
    assert _conditional("train") >= 0.75
    assert _conditional("eval") == pytest.approx(base, abs=0.05)
    assert _conditional("train", config=WorldConfig(seed=0, bias=0.0)) == pytest.approx(base, abs=0.05)
    scenes = [scene_at(CONFIG, "eval", i) for i in range(2000)]
    assert sum(_has(s, "circle") and not _has(s, "square") for s in scenes) > 400


def test_describe_names_every_object_and_counts():
    scene = Scene((Obj("circle", "red", "small", 0, 0), Obj("circle", "red", "small", 1, 0),
                   Obj("square", "blue", "large", 2, 2)), "stripes")
    assert describe(scene) == "Two small red circles and a large blue square on a striped background."
    mixed = Scene((Obj("cross", "pink", "large", 0, 0), Obj("cross", "green", "small", 1, 1)), "gray")
    assert describe(mixed) == "Two crosses (one large pink, one small green) on a plain gray background."
    for i in range(50):
        scene = scene_at(CONFIG, "train", i)
        text = describe(scene, np.random.default_rng(i)).lower()
        for o in scene.objects:
            assert o.shape in text and o.color in text and o.size in text


def test_elements_one_object_per_shape_with_linked_attributes():
    scene = Scene((Obj("circle", "red", "small", 0, 0), Obj("circle", "white", "small", 1, 0),
                   Obj("star", "black", "large", 2, 2)), "dots")
    assert elements(scene) == [
        {"name": "circle", "synonyms": ["disc", "disk"], "kind": "object"},
        {"name": "red", "synonyms": [], "kind": "attribute", "of": "circle"},
        {"name": "white", "synonyms": [], "kind": "attribute", "of": "circle"},
        {"name": "small", "synonyms": [], "kind": "attribute", "of": "circle"},
        {"name": "two", "synonyms": ["2"], "kind": "count", "of": "circle"},
        {"name": "star", "synonyms": ["pentagram"], "kind": "object"},
        {"name": "black", "synonyms": [], "kind": "attribute", "of": "star"},
        {"name": "large", "synonyms": [], "kind": "attribute", "of": "star"},
    ]


def test_vocabulary_synonyms_are_unambiguous():
    vocab = vocabulary()
    assert sorted(vocab) == sorted(["circle", "square", "triangle", "star", "cross", "ring"])
    forms = [f for shape, syn in vocab.items() for f in [shape, *syn]]
    assert len(forms) == len(set(forms))


def test_export_ic_set_writes_a_readable_manifest(tmp_path):
    manifest = export_ic_set(tmp_path, CONFIG, 10)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 10 and len(list((tmp_path / "images").glob("*.png"))) == 10
    assert all((tmp_path / r["image"]).is_file() for r in lines)
    assert lines[0]["domain"] == "objects-1" and lines[0]["source"] == "jfhub procedural world"
    rows = read_manifest(manifest)
    assert [r.truth.id for r in rows] == [f"eval-{i:05d}" for i in range(10)]


def test_export_caption_set(tmp_path):
    captions = export_caption_set(tmp_path, CONFIG, 6)
    rows = [json.loads(line) for line in captions.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"train-{i:05d}" for i in range(6)]
    assert all((tmp_path / r["image"]).is_file() and r["caption"].endswith(".") for r in rows)
    assert rows == [json.loads(line) for line in export_caption_set(tmp_path / "again", CONFIG, 6).read_text().splitlines()]
    from PIL import Image

    for i, r in enumerate(rows):  # each row is scene i: its pixels, a caption naming every object
        scene = scene_at(CONFIG, "train", i)
        with Image.open(tmp_path / r["image"]) as saved:
            assert saved.convert("RGB").tobytes() == render(scene, CONFIG.image_size).tobytes()
        caption = r["caption"].lower()
        named = [(o.shape, o.color, o.size) for o in scene.objects]
        assert all(word in caption for obj in named for word in obj), (i, r)
    assert len({r["caption"] for r in rows}) == len(rows)


@pytest.mark.parametrize("background", ["gray", "beige"])
def test_centre_pixel_has_object_colour_and_empty_cells_show_background(background):
    for i in range(100):
        scene = Scene(scene_at(CONFIG, "eval", i).objects, background)
        image = render(scene, 64)
        for o in scene.objects:
            if o.shape in SOLID:
                assert image.getpixel(cell_center(o, 64)) == RGB[o.color], (i, o)
        taken = {(o.x, o.y) for o in scene.objects}
        for x, y in {(x, y) for x in range(3) for y in range(3)} - taken:
            assert image.getpixel(cell_center(Obj("circle", "red", "small", x, y), 64)) == BACKGROUND_RGB[background]


def test_small_and_large_differ_in_area():
    def area(size):
        image = render(Scene((Obj("square", "red", size, 1, 1),), "gray"), 64)
        return int((np.asarray(image) == RGB["red"]).all(axis=-1).sum())
    assert area("large") > 3 * area("small") > 0


def test_bad_config_and_split_are_rejected():
    with pytest.raises(ConfigError, match="bias"):
        WorldConfig(seed=0, bias=1.5)
    with pytest.raises(ConfigError, match="pairs"):
        WorldConfig(seed=0, pairs=(("circle", "hexagon"),))
    with pytest.raises(ConfigError, match="split"):
        sample_scene(np.random.default_rng(0), CONFIG, "test")
