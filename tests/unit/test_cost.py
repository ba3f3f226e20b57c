"""benchmarks/cost.py: the counting it rests on, checked against independent counts.

Tiny configs of the real families keep these tests to seconds; the shipped real configs are only
instantiated on the meta device (no weights)."""

import importlib.util
import json
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "benchmarks" / "configs"

TINY_LLAVA = {
    "model_type": "llava", "image_token_index": 1050, "image_seq_length": 16, "vocab_size": 1100,
    "projector_hidden_act": "gelu", "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
    "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1100,
                    "max_position_embeddings": 4096, "tie_word_embeddings": False},
    "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 3, "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
                      "projection_dim": 32},
}
TINY_QWEN = {
    "model_type": "qwen2_5_vl", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1100, "max_position_embeddings": 4096,
    "rope_scaling": {"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
    "image_token_id": 1050, "video_token_id": 1051, "vision_start_token_id": 1052, "vision_end_token_id": 1053,
    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "tie_word_embeddings": False,
    "vision_config": {"model_type": "qwen2_5_vl", "depth": 4, "hidden_size": 32, "intermediate_size": 64,
                      "num_heads": 2, "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [1],
                      "in_channels": 3},
}
TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 56, "layers": 2, "width": 64, "head_width": 32, "patch_size": 14},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 48, "heads": 2, "layers": 2}}


def load_cost():
    spec = importlib.util.spec_from_file_location("jfhub_cost_benchmark", ROOT / "benchmarks" / "cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cost = load_cost()


def tiny(raw):
    from transformers import AutoConfig

    return AutoConfig.for_model(**json.loads(json.dumps(raw)))


@pytest.fixture(scope="module")
def llava():
    return cost.MetaVLM(tiny(TINY_LLAVA), "tiny-llava")


@pytest.fixture(scope="module")
def qwen():
    return cost.MetaVLM(tiny(TINY_QWEN), "tiny-qwen")


def linear_weights(module) -> int:
    """Weights of the matrix products: every 2-D parameter (Linear weights, attention in-projections)."""
    return sum(p.numel() for p in module.parameters() if p.ndim == 2)


def mix_options():
    recipe = json.loads((ROOT / "recipes" / "llava.json").read_text())
    return recipe["strategy"], recipe["seed"]


def settings(**kw):
    base = dict(tokens=10, batch=4, prompt_tokens=7)
    return cost.Settings(**{**base, **kw})


# -- the two shortcuts against full counts --------------------------------------------------------
@pytest.mark.parametrize("raw", [TINY_LLAVA, TINY_QWEN], ids=["llava", "qwen"])
def test_counting_1_and_2_layer_copies_equals_counting_every_layer(raw):
    fast, full = cost.MetaVLM(tiny(raw)), cost.MetaVLM(tiny(raw), depth_shortcut=False)
    assert fast._shallow and full._shallow is None
    image = fast.image(640, 480)
    assert fast.vision_flops(image) == full.vision_flops(image) > 0
    assert fast.counts(37) == full.counts(37)


@pytest.mark.parametrize("family", ["llava", "qwen"])
@pytest.mark.parametrize("rows", [1, 3])
def test_closed_form_decode_equals_the_step_by_step_count(family, rows, request):
    m = request.getfixturevalue(family)
    m.prefill_flops(41)  # the step coefficients are fitted at another prompt length
    stepwise = m.decode_flops_stepwise(prompt=23, steps=12, rows=rows)
    assert stepwise > 0
    assert m.decode_flops(23, 12, rows) == stepwise


def test_a_step_is_two_flops_per_weight_plus_attention_over_the_cache(llava):
    """Independent of FlopCounterMode: 2 FLOPs per weight of every linear layer (and the output
    head) per token, and 2 x 2 x head_dim FLOPs per head per cached key (scores, then values)."""
    t = llava.text
    a, b = llava.step_coefficients()
    assert b == 4 * t.num_hidden_layers * t.num_attention_heads * (t.hidden_size // t.num_attention_heads)
    linear = linear_weights(llava.lm.layers) + llava.model.lm_head.weight.numel()
    assert abs(a / (2 * linear) - 1) < 1e-3  # the rest: RoPE's tiny frequency product
    assert llava.lm_params == linear + sum(p.numel() for n, p in llava.lm.named_parameters() if "norm" in n)


def test_a_prefill_is_two_flops_per_weight_per_token_plus_quadratic_attention(llava):
    t, length = llava.text, 57
    linear = linear_weights(llava.lm.layers)
    attention = 4 * t.num_hidden_layers * t.hidden_size * length * length
    head = 2 * llava.model.lm_head.weight.numel()  # the last position only
    expected = 2 * linear * length + attention + head
    assert abs(llava.prefill_flops(length) / expected - 1) < 1e-3


def test_vision_flops_match_the_towers_weights(llava):
    v = llava.config.vision_config
    n = (v.image_size // v.patch_size) ** 2 + 1  # patches and CLS through every layer
    tower = llava.model.model.vision_tower
    per_token = 2 * linear_weights(tower.encoder)
    attention = 4 * v.num_hidden_layers * v.hidden_size * n * n
    conv = 2 * tower.embeddings.patch_embedding.weight.numel() * (n - 1)
    projector = 2 * linear_weights(llava.model.model.multi_modal_projector) * (n - 1)
    expected = per_token * n + attention + conv + projector
    assert abs(llava.vision_flops(llava.image(640, 480)) / expected - 1) < 1e-3


def test_clip_flops_match_the_towers_weights():
    clip = cost.MetaClip(TINY_CLIP, "tiny")
    text, vis = TINY_CLIP["text_cfg"], TINY_CLIP["vision_cfg"]
    w, n = text["width"], text["context_length"]
    blocks = linear_weights(clip.model.transformer)
    expected_text = 2 * blocks * n + 4 * text["layers"] * w * n * n + 2 * clip.model.text_projection.numel()
    assert abs(clip.text_flops / expected_text - 1) < 1e-3
    n_img = (vis["image_size"] // vis["patch_size"]) ** 2 + 1
    expected_image = (2 * linear_weights(clip.model.visual.transformer) * n_img
                      + 4 * vis["layers"] * vis["width"] * n_img * n_img
                      + 2 * clip.model.visual.conv1.weight.numel() * (n_img - 1) + 2 * clip.model.visual.proj.numel())
    assert abs(clip.image_flops / expected_image - 1) < 1e-3


# -- the rows: taken from the mix strategy's own plan ---------------------------------------------
def test_layouts_are_the_rows_the_mix_strategy_plans():
    options, seed = mix_options()
    lay = cost.plan_layouts(options, seed, batch=4, prompt="Describe this image in detail.")
    assert lay["positive"] == cost.Layout(images=4, image_prefills=4, free_prefills=0, decode_rows=4, samples=4)
    # positive-cond + negative-cond (one shared prefill) + the image-free row, one for the batch
    assert lay["pair"] == cost.Layout(images=4, image_prefills=4, free_prefills=1, decode_rows=12, samples=4)
    assert lay["pair_h1"] == cost.Layout(images=4, image_prefills=4, free_prefills=1, decode_rows=8, samples=4)
    blank = cost.plan_layouts({**options, "unconditional": "blank_image"}, seed, 4, "Describe.")["pair"]
    assert blank == cost.Layout(images=8, image_prefills=8, free_prefills=0, decode_rows=12, samples=4)


def test_the_pair_costs_what_its_rows_imply(llava):
    s = settings()
    options, seed = mix_options()
    lay = cost.plan_layouts(options, seed, s.batch, "Describe this image in detail.")
    image = llava.image(s.width, s.height)
    vision = llava.vision_flops(image)
    a = cost.decoding_cost(llava, lay["positive"], s, image, vision)
    b = cost.decoding_cost(llava, lay["pair"], s, image, vision)
    length, steps = image.tokens + s.prompt_tokens, s.tokens - 1
    one_row = llava.decode_flops_stepwise(length, steps)
    prefill = llava.prefill_flops(length)
    assert a.flops == pytest.approx(vision + prefill + one_row, rel=1e-12)
    # (b) = the shared image prefill, 1/B of the image-free prefill, three rows of decoding
    assert b.flops == pytest.approx(vision + prefill * (1 + 1 / s.batch) + 3 * one_row, rel=1e-12)
    assert 1 < b.flops / a.flops < 3
    # bytes: the same forwards read the same weights; two more rows read their caches, and the
    # shared prefix is copied to the three rows once
    kv = llava.kv_bytes_per_token(s.dtype_bytes)
    assert kv == 2 * llava.text.num_hidden_layers * llava.text.num_key_value_heads * 16 * s.dtype_bytes
    per_row = kv * sum(length + k for k in range(1, steps + 1))
    assert b.weight_bytes == a.weight_bytes
    assert b.kv_bytes - a.kv_bytes == pytest.approx(2 * per_row + 3 * kv * length, rel=1e-12)


def test_the_verifier_splits_answers_as_clip_py_does():
    from judgefree_hub.verifiers.clip import split_sentences

    s = settings(tokens=256, sentence_tokens=24)
    assert cost.clip_pieces(s, 77) == 11
    assert cost.clip_pieces(settings(tokens=75), 77) == 1  # 75 + start + end fits in 77
    assert cost.clip_pieces(settings(tokens=76, sentence_tokens=24), 77) == 4
    assert cost.clip_pieces(settings(tokens=256, long_text="truncate"), 77) == 1
    answer = " ".join(f"Sentence {i} says one thing." for i in range(11))
    assert len(split_sentences(answer)) == 11  # one text forward per sentence
    clip = cost.MetaClip(TINY_CLIP, "tiny")
    c = cost.verifier_cost(clip, s)
    assert c.flops == clip.image_flops + 22 * clip.text_flops


def test_judge_reads_image_instruction_and_both_answers(llava):
    s = settings(tokens=20, verdict_tokens=5, judge_prompt_tokens=30)
    c = cost.judge_cost(llava, s)
    length = 16 + 30 + 40
    assert c.extra["length"] == length
    assert c.flops == llava.vision_flops(llava.image(640, 480)) + llava.prefill_flops(length) + \
        llava.decode_flops_stepwise(length, 4)


# -- image tokens ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 480), (500, 375), (1024, 768), (336, 1000), (480, 640)])
def test_anyres_tokens_match_the_llava_next_processor(size):
    from transformers import LlavaNextProcessor

    pinpoints = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    fake = SimpleNamespace(image_processor=SimpleNamespace(image_grid_pinpoints=pinpoints), patch_size=14,
                           num_additional_image_tokens=1)
    fake._get_unpadded_features = lambda *a: LlavaNextProcessor._get_unpadded_features(fake, *a)
    width, height = size
    expected = LlavaNextProcessor._get_number_of_features(fake, height, width, 336, 336) - 1  # CLS dropped
    assert cost.anyres_tokens(width, height, pinpoints, 336, 14)[0] == expected
    assert cost.anyres_tokens(640, 480, pinpoints, 336, 14) == (2340, 5)


@pytest.mark.parametrize("size", [(640, 480), (500, 375), (1024, 768), (333, 1000)])
def test_qwen_image_grid_is_the_image_processors(qwen, size):
    """Qwen2.5-VL-7B-Instruct's processor (its pixel limits) on an image of that size; one
    image token per 2 x 2 patches."""
    from PIL import Image as PILImage
    from transformers import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056)
    grid = processor(images=PILImage.new("RGB", size), return_tensors="pt")["image_grid_thw"][0].tolist()
    image = qwen.image(*size)
    assert list(image.grid) == grid and image.tokens == grid[1] * grid[2] // 4
    assert qwen.image(640, 480).tokens == 391  # resized to 644 x 476


# -- the shipped configs -------------------------------------------------------------------------
@pytest.mark.parametrize("name, known", [("llava-1.5-7b", 7.06e9), ("qwen2.5-vl-7b", 8.29e9),
                                         ("llava-next-34b", 34.8e9)])
def test_shipped_configs_load_and_have_the_published_parameter_count(name, known):
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.for_model(**json.loads((CONFIGS / f"{name}.json").read_text()))
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / known - 1) < 0.002, params  # the published figure, rounded
    m = cost.MetaVLM(config, name)
    assert m.params == params
    if name == "llava-1.5-7b":  # the depth shortcut at full size, on one prefill and two steps
        assert m.counts(600) == m.counts_of(m.model, 600)


def test_main_prints_the_table(tmp_path, capsys):
    path = tmp_path / "tiny-llava.json"
    path.write_text(json.dumps(TINY_LLAVA))
    cost.main(["--config", str(path), "--judge-config", str(path), "--tokens", "8", "--verdict-tokens", "4",
               "--time", "--repeats", "1"])
    out = capsys.readouterr().out
    for label in ("(a) positive only", "(b) jfhub pair", "(c) CLIP verifier ViT-L-14-336",
                  "(d) judge tiny-llava", "(b)/(a): FLOPs", "(d)/(c): tiny-llava judge FLOPs", "counted in"):
        assert label in out, label
    first = re.search(r"\(b\)/\(a\): FLOPs ([0-9.]+)x", out)
    m = cost.MetaVLM(tiny(TINY_LLAVA))
    s = settings(tokens=8, batch=16, prompt_tokens=17)
    lay = cost.plan_layouts(*mix_options(), 16, "Describe this image in detail.")
    image = m.image(640, 480)
    vision = m.vision_flops(image)
    a, b = (cost.decoding_cost(m, lay[k], s, image, vision) for k in ("positive", "pair"))
    assert float(first.group(1)) == pytest.approx(b.flops / a.flops, abs=0.006)
    timed = re.search(r"measured time ([0-9.]+)x, counted FLOPs ([0-9.]+)x", out)
    assert timed and all(math.isfinite(float(x)) and float(x) > 0 for x in timed.groups())
