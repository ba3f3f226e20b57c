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
    "negative_ratio_dropped": {"identical_answers": {"bins": [0] * 10 + [2] + [0] * 9, "mean": 0.51}},
    "score_gap_definition": "chosen_score - rejected_score",
    "examples": [
        {"key": "k1", "prompt": "Describe.", "chosen": "a red | square", "rejected": "a blue circle",
         "chosen_score": 0.31, "rejected_score": 0.3, "gap": 0.01, "h": 0.5, "reversed": True,
         "why": "reversed by the verifier, largest gap", "thumbnail": "examples/k1.jpg"},
    ],
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
    assert meta["language"] == ["en"]
    assert "| pairs reversed by the verifier | 2 (28.6% of the pairs) |" in body
    assert "| dropped: identical answers | 2 |" in body
    assert "| h: mean of every draw (9 pairs decoded) / of the kept pairs (7) | 0.45 / 0.50 |" in body
    assert "| score gap (chosen − rejected): mean / std / min / max | 0.1000 / 0.0500 / 0.0100 / 0.2000 |" in body
    old_stats = {k: v for k, v in STATS.items()
                 if not k.startswith("negative_ratio_") and k != "examples"}  # a build from before
    old_card = render_preference_card(demo_recipe, old_stats, SHARDS)
    assert "mean of every draw" not in old_card and "nothing to show" in old_card
    # the example pair: thumbnail linked relatively, a pipe in an answer escaped, both scores, gap, h
    assert ("| [![k1](examples/k1.jpg)](examples/k1.jpg) | reversed by the verifier, largest gap | Describe. | "
            "a red \\| square | a blue circle | 0.3100 / 0.3000 (0.0100) | 0.50 | yes |") in body
    assert "\n### Intended use\n" in body and "### Out-of-scope use" in body
    assert "README" not in body  # a Hub reader has no project README
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


def python_blocks(card):
    parts = card.split("```python\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def test_every_python_block_compiles_and_imports_what_it_uses(demo_recipe):
    import ast

    card = render_preference_card(demo_recipe, STATS, SHARDS, repo_id="org/name")
    blocks = python_blocks(card)
    assert len(blocks) == 4
    for block in blocks:
        tree = ast.parse(block)  # valid Python as rendered
        imported = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in ("load_dataset", "load_pairs", "wds", "glob", "snapshot_download"):
            assert name not in used or name in imported, (name, block)
        assert max(map(len, block.splitlines())) <= 120  # no one-line lambda any more
    assert 'load_dataset("org/name", revision="v0.1.0", split="train")' in card


def test_selection_sentences_read_right_at_edge_values():
    from judgefree_hub.card.render import selection_lines

    none = {**STATS, "reversed": 0, "dropped": dict.fromkeys(STATS["dropped"], 0),
            "negative_ratio_dropped": {}}
    text = " ".join(selection_lines(none, True, 0.0, 0.0))
    assert "No sample was dropped." in text and "No pair was reversed" in text
    assert "There is no minimum score gap" in text and "below 0" not in text and "0 of" not in text
    text = " ".join(selection_lines(STATS, True, 0.0, 0.0))
    assert "2 of 10 dropped because the two answers were identical" in text
    assert "2 of the 9 pairs drawn with h ≥ 0.5 (22.2%) ended" in text and "0 of the 0" not in text
    assert "2 of the 7 kept pairs (28.6%) were reversed" in text
    assert "mean h (0.50) is above the mean of every h drawn (0.45), because the 2 dropped pairs were drawn at lower h (mean 0.2" in text
    text = " ".join(selection_lines(STATS, False, 0.0, 0.05))
    assert "Reversal is off" in text and "minimum score gap" not in text


def test_demo_card_names_no_readme_and_keeps_a_licence_note(tmp_path):
    from pathlib import Path

    from judgefree_hub.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "demo.json")
    card = render_preference_card(recipe, STATS, SHARDS)
    assert "README's self-improvement" not in card
    assert "## Licence" in card and "no model licence adds to the sources'" in card
    assert "Anything about photos" in card
