"""benchmarks/decode.py --config: a model built from a real config.json with random weights,
shrunk here to a few layers of 64 wide (the shipped 7B configs with their sizes cut) so every
path runs in seconds: all paths run, the static cache writes what the dynamic one writes, the
built model's buffers are those of a normally built one, and the bandwidth floor's bytes per
step are the hand-counted ones."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "benchmarks" / "configs"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("decode_benchmark", ROOT / "benchmarks" / "decode.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def shrunk_llava(folder: Path) -> Path:
    """llava-1.5-7b.json with a 2-layer Llama (64 wide, 4 heads, 2 KV heads of 16) and a 2-layer
    CLIP tower on 56-px images (patch 14: 16 image tokens)."""
    config = json.loads((CONFIGS / "llava-1.5-7b.json").read_text())
    config["vocab_size"] = 2048
    config["text_config"].update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2, head_dim=16, vocab_size=2048, max_position_embeddings=1024)
    config["vision_config"].update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                   image_size=56, projection_dim=32)
    path = folder / "llava-tiny.json"
    path.write_text(json.dumps(config))
    return path


def shrunk_qwen(folder: Path) -> Path:
    """qwen2.5-vl-7b.json (flat, as on the Hub) with a 2-layer Qwen2 (64 wide, 4 heads, 2 KV heads
    of 16, M-RoPE sections summing to 8) and a 2-layer ViT (windowed, then full attention)."""
    config = json.loads((CONFIGS / "qwen2.5-vl-7b.json").read_text())
    config.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_window_layers=2, vocab_size=1280, max_position_embeddings=4096)
    config["rope_scaling"]["mrope_section"] = [2, 3, 3]
    config["vision_config"].update(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                                   window_size=56, fullatt_block_indexes=[1])
    path = folder / "qwen-tiny.json"
    path.write_text(json.dumps(config))
    return path


SHRUNK = {"llava": shrunk_llava, "qwen2.5-vl": shrunk_qwen}


def hand_counted(family: str) -> tuple[int, int]:
    """(weight bytes a decode forward reads, KV bytes per row and position) of the shrunk
    configs in float32, counted from their sizes: per layer q, k, v, o, gate, up, down and two
    norms; the final norm; lm_head; not the input embedding table."""
    h, i, heads, kv_heads, head_dim, layers = 64, 128, 4, 2, 16, 2
    vocab = 2048 if family == "llava" else 1280
    attention = h * heads * head_dim + 2 * h * kv_heads * head_dim + heads * head_dim * h
    if family == "qwen2.5-vl":  # Qwen2 has q, k and v biases
        attention += heads * head_dim + 2 * kv_heads * head_dim
    per_layer = attention + 3 * h * i + 2 * h
    weights = layers * per_layer + h + vocab * h
    return 4 * weights, 2 * layers * kv_heads * head_dim * 4


def run(bench, capsys, *args):
    report = bench.main([*map(str, args)])
    return report, capsys.readouterr().out


@pytest.mark.parametrize("family", sorted(SHRUNK))
def test_config_runs_every_path_and_static_writes_what_dynamic_writes(bench, family, tmp_path, capsys):
    config = SHRUNK[family](tmp_path)
    size = 56 if family == "llava" else 112  # 16 image tokens either way
    report, out = run(bench, capsys, "--config", config, "--device", "cpu", "--samples", 3, "--batch", 2,
                      "--tokens", 6, "--repeats", 1, "--image-size", size, "--bandwidth", 10)
    paths = report["paths"]
    assert list(paths) == ["dynamic", "static", "generate", "naive"]
    assert report["image_tokens"] == 16
    assert paths["dynamic"]["cache"] == "DynamicCache" and paths["static"]["cache"] == "StaticCache"
    dynamic, static = paths["dynamic"]["texts"], paths["static"]["texts"]
    assert len(dynamic) == 6 and all(dynamic) and len(set(dynamic)) > 1  # real, varied text
    assert static == dynamic
    assert report["agreement"]["dynamic vs static"] == (6, 6)
    assert paths["generate"]["texts"] == dynamic[::2]  # h = 0: the positive is the model's own greedy text
    for name, row in paths.items():
        assert row["total_s"] > row["prefill_s"] > 0 and row["ms_per_step"] > 0
        assert row["floor_ms"] == pytest.approx(1e3 * row["bytes_per_step"] / 10e9)
        assert f"\n{name} " in out
    assert "identical answers, dynamic vs static: 6/6" in out and "x floor" in out


@pytest.mark.parametrize("family", sorted(SHRUNK))
def test_the_floor_counts_the_bytes_a_step_reads(bench, family, tmp_path, capsys):
    weights, per_position = hand_counted(family)
    report, _ = run(bench, capsys, "--config", SHRUNK[family](tmp_path), "--device", "cpu", "--samples", 2,
                    "--batch", 2, "--tokens", 4, "--repeats", 1, "--warmup", 0, "--image-size", 56 if family == "llava" else 112)
    paths = report["paths"]
    # the batched loop: one forward over 3 rows per sample, all padded to the image prompt
    (rows, length), = paths["dynamic"]["layouts"]
    assert rows == 6 and length > 16
    # mean cached positions over the 3 steps after the first token: L + 1, L + 2, L + 3
    assert paths["dynamic"]["bytes_per_step"] == weights + per_position * rows * (length + 2)
    assert paths["static"]["bytes_per_step"] == paths["dynamic"]["bytes_per_step"]
    (g_rows, g_length), = paths["generate"]["layouts"]
    assert (g_rows, g_length) == (2, length)
    assert paths["generate"]["bytes_per_step"] == weights + per_position * 2 * (length + 2)
    # naive: generate, then a conditional and an unconditional forward, each reading the weights
    (_, a), (_, b), (_, c) = paths["naive"]["layouts"]
    assert a == b == length and c < length
    assert paths["naive"]["bytes_per_step"] == 3 * weights + per_position * 2 * (a + b + c + 3 * 2)
    assert "floor ms" not in capsys.readouterr().out  # no --bandwidth: GB/step only


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("family", sorted(SHRUNK))
def test_the_random_model_has_the_buffers_of_a_normally_built_one(bench, family, dtype, tmp_path):
    """Built on meta and materialised in place, its rotary inv_freq and position ids are what the
    model computes when built the ordinary way, in the same dtypes."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "config.json").write_text(SHRUNK[family](tmp_path).read_text())
    config = AutoConfig.from_pretrained(folder)
    tokenizer = (bench.llava_processor if family == "llava" else bench.qwen_processor)(config, 56).tokenizer
    built = bench.build_model(config, torch.device("cpu"), dtype, tokenizer)
    normal = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(folder), dtype=dtype)
    ours, theirs = dict(built.named_buffers()), dict(normal.named_buffers())
    assert ours.keys() == theirs.keys() and any("inv_freq" in k for k in ours)
    for name, value in theirs.items():
        assert ours[name].dtype == value.dtype, name
        assert torch.equal(ours[name], value), name
    params = dict(built.named_parameters())
    assert params.keys() == dict(normal.named_parameters()).keys()
    assert all(p.dtype == dtype and p.device.type == "cpu" and torch.isfinite(p).all() for p in params.values())


def test_skip_and_layers(bench, tmp_path, capsys):
    config = json.loads(shrunk_llava(tmp_path).read_text())
    config["text_config"]["num_hidden_layers"] = 3
    path = tmp_path / "three-layers.json"
    path.write_text(json.dumps(config))
    report, out = run(bench, capsys, "--config", path, "--device", "cpu", "--samples", 1, "--batch", 1,
                      "--tokens", 2, "--repeats", 1, "--skip", "naive,generate", "--layers", 1)
    assert list(report["paths"]) == ["dynamic", "static"]
    assert (report["layers"], report["real_layers"]) == (1, 3)
    assert "TRUNCATED (--layers): 1 of its 3 layers" in out
    assert "naive vs batched" not in out and "x floor" not in out
