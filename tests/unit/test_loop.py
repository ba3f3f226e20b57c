"""The loop's bookkeeping: round recipes, settings guard, results table and plot (no models)."""

import json
from pathlib import Path

import pytest

from judgefree_hub.errors import ConfigError
from judgefree_hub.loop import (
    LoopSpec,
    RoundResult,
    _check_settings,
    results_table,
    round_recipe,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]


def spec(tmp_path, **kw) -> LoopSpec:
    raw = json.loads((ROOT / "recipes" / "demo.json").read_text())
    base = dict(recipe=raw, recipe_dir=ROOT / "recipes", recipe_label="demo.json", ic="ic", ic_revision=None,
                rounds=2, out_dir=tmp_path / "loop", train={"lora": {"enabled": False}})
    return LoopSpec(**{**base, **kw})


def result(r, precision, pairs=None, reversed_=None):
    scores = {"precision": precision, "recall": 0.5, "f1": 0.6, "chair_i": 0.25, "chair_s": None}
    return RoundResult(r, f"m{r}", pairs, reversed_, 0 if pairs else None, scores, None, 1.0)


def test_round_recipe_swaps_model_and_version_only(tmp_path):
    s = spec(tmp_path)
    r2 = round_recipe(s, 2, "/models/round-1")
    assert r2.model.id == "/models/round-1" and r2.version == s.recipe["version"] + "-round.2"
    assert r2.resolved["model"]["id"] == "/models/round-1"  # what recipe.json in the build says
    assert r2.strategy == round_recipe(s, 1, "demo:world-llava").strategy


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    _check_settings(spec(tmp_path))
    _check_settings(spec(tmp_path, rounds=5))  # more rounds: same experiment, allowed
    with pytest.raises(ConfigError, match="other settings"):
        _check_settings(spec(tmp_path, train={"lora": {"enabled": True}}))


def test_results_table_and_files(tmp_path):
    results = [result(0, 0.7), result(1, 0.81234, pairs=40, reversed_=10)]
    table = results_table(results)
    lines = table.splitlines()
    assert lines[0] == "| round | pairs | reversed | precision | recall | F1 | CHAIR-i | CHAIR-s |"
    assert lines[2] == "| 0 | - | - | 70.0 | 50.0 | 60.0 | 25.0 | - |"
    assert lines[3] == "| 1 | 40 | 10 (25.0%) | 81.2 | 50.0 | 60.0 | 25.0 | - |"
    write_results(tmp_path, results)
    assert (tmp_path / "results.md").read_text() == table
    assert [r["round"] for r in json.loads((tmp_path / "results.json").read_text())] == [0, 1]
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_merge_lora_gives_a_plain_model_with_the_adapters_outputs(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from judgefree_hub.demo import resolve
    from judgefree_hub.loop import merge_lora

    base = resolve("demo:tiny-llava")
    model = AutoModelForImageTextToText.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # B = 0 at init would make the merge a no-op
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    AutoProcessor.from_pretrained(base).save_pretrained(adapter)
    ids = torch.tensor([[1, 20, 30, 40, 50]])
    with torch.no_grad():
        want = peft(input_ids=ids).logits
        (tmp_path / "merged").mkdir()  # a leftover of a killed round is replaced
        out = merge_lora(adapter, "demo:tiny-llava", tmp_path / "merged")
        merged = AutoModelForImageTextToText.from_pretrained(out)
        got = merged(input_ids=ids).logits
        plain = AutoModelForImageTextToText.from_pretrained(base)(input_ids=ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain, want, atol=1e-3)
    assert (out / "tokenizer.json").is_file() and not (out / "adapter_config.json").exists()


def test_results_plot_has_one_panel_per_metric_including_pairs_reversed(tmp_path):
    from judgefree_hub.loop import PLOT_PANELS, plot_results, plot_values

    results = [result(0, 0.7), result(1, 0.712, pairs=40, reversed_=10), result(2, 0.731, pairs=50, reversed_=5)]
    values = plot_values(results)
    assert [k for k, _ in PLOT_PANELS] == ["precision", "recall", "f1", "chair_i", "chair_s", "reversed_share"]
    assert values["precision"] == pytest.approx([70.0, 71.2, 73.1])
    assert values["reversed_share"] == [None, 25.0, 10.0] and values["chair_s"] == [None] * 3
    plot_results(results, tmp_path / "results.png")
    from PIL import Image

    with Image.open(tmp_path / "results.png") as im:
        assert im.size == (900, 520)  # 2 x 3 panels


def test_a_round_s_eval_is_what_jfhub_eval_bench_ic_writes(tmp_path, monkeypatch):
    """round-N/eval/summary.json says "bench": "ic" with `jfhub eval --bench ic`'s meta (the same
    code; captions faked, no model), and `jfhub eval --compare` takes two of them."""
    from click.testing import CliRunner
    from PIL import Image

    from judgefree_hub import ic
    from judgefree_hub.cli import main
    from judgefree_hub.evals import EvalOptions, Responses, evaluate
    from judgefree_hub.ic import evaluate as ic_evaluate
    from judgefree_hub.ic.score import Element, ImageTruth
    from judgefree_hub.loop import evaluate_model

    items = [ic.ICItem(ImageTruth(i, "d", (Element(name, (), "object"),)), Image.new("RGB", (4, 4)), "Describe.")
             for i, name in (("a", "dog"), ("b", "cat"))]
    captions = {"a": "A dog.", "b": "A dog and a cat."}
    monkeypatch.setattr(ic_evaluate, "caption_images", lambda items, spec, prompt=None, show_progress=False: captions)
    root = tmp_path / "ic-set"
    root.mkdir()
    (root / "manifest.json").write_text("{}")
    s = spec(tmp_path, ic=str(root), eval_prompt="Describe it.")
    out = tmp_path / "round-0" / "eval"
    summary = evaluate_model(s, items, "demo:world-llava", out)
    written = json.loads((out / "summary.json").read_text())
    assert written == summary and written["bench"] == written["meta"]["bench"] == "ic"
    assert written["meta"]["commit"].startswith("sha256:") and written["meta"]["prompt"] == "Describe it."
    monkeypatch.setattr(ic, "load_ic", lambda source, revision=None: list(items))
    mspec = ic.eval_model_spec("demo:world-llava", None, s.eval_device, s.eval_batch_size, s.eval_max_new_tokens)
    assert written == evaluate("ic", str(root), None, Responses(model=mspec), EvalOptions(prompt="Describe it.")).summary
    assert (out / "per_image.jsonl").is_file()
    result = CliRunner().invoke(main, ["eval", "--compare", str(out / "summary.json"), str(out / "summary.json")])
    assert result.exit_code == 0 and "micro.precision" in result.stdout
