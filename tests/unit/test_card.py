import yaml

from judgefree_hub.card.render import render_preference_card, size_category

STATS = {
    "samples": 10, "pairs": 7, "reversed": 2, "reversal_rate": 2 / 7,
    "dropped": {"unreadable_image": 1, "empty_answer": 0, "identical_answers": 2, "below_min_gap": 0},
    "chosen_score": {"mean": 0.3, "std": 0.1, "min": 0.1, "max": 0.5},
    "rejected_score": {"mean": 0.2, "std": 0.1, "min": 0.0, "max": 0.4},
    "score_gap": {"mean": 0.1, "std": 0.05, "min": 0.01, "max": 0.2},
    "negative_ratio": {"mean": 0.5, "std": 0.2, "min": 0.1, "max": 1.0},
    "negative_ratio_bins": {"drawn": [0] * 10 + [9] + [0] * 9, "kept": [0] * 10 + [7] + [0] * 9},
    "negative_ratio_drawn_mean": 0.45,
}
SHARDS = [{"file": "data/train-000000.tar", "rows": 7, "bytes": 12345, "sha256": "ab" * 32}]


def test_card_metadata_and_body(demo_recipe):
    card = render_preference_card(demo_recipe, STATS, SHARDS)
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "cc0-1.0"
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "train", "path": "data/train-*.tar"}]}]
    assert meta["size_categories"] == ["n<1K"]
    assert {"dpo", "preference", "vlm", "synthetic"} <= set(meta["tags"])
    assert "image-text-to-text" in meta["task_categories"]
    assert "| pairs reversed by the verifier | 2 (28.6%) |" in body
    assert "| dropped: identical_answers | 2 |" in body
    assert "| negative ratio h: drawn mean (pairs decoded) / kept mean (pairs kept) | 0.45 (9) / 0.5 (7) |" in body
    old_stats = {k: v for k, v in STATS.items() if not k.startswith("negative_ratio_")}  # a build from before
    assert "drawn mean" not in render_preference_card(demo_recipe, old_stats, SHARDS)
    assert "h ~ N(0.5, 0.2^2) clipped to [0.1, 1.0]" in body
    assert "random weights" in body and "demo:tiny-llava, demo:tiny-clip" in body
    assert f"| data/train-000000.tar | 7 | 12345 | `{'ab' * 32}` |" in body
    assert 'load_dataset("webdataset"' in body and "2411.17760" in body
    from judgefree_hub import __version__

    assert f"(`jfhub`) {__version__}" in body


def test_real_model_card_has_no_random_weights_warning(tmp_path):
    from pathlib import Path

    from judgefree_hub.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "llava.json")
    card = render_preference_card(recipe, STATS, SHARDS)
    assert "random weights" not in card and "`llava-hf/llava-1.5-7b-hf`" in card
    assert "open_clip `ViT-L-14-336` / `openai`" in card


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 54321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
