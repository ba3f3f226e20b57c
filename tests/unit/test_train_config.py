import json

import pytest

from judgefree_hub.errors import ConfigError
from judgefree_hub.train.config import load_train_spec

BASE = {"dataset": "org/pairs", "model": "llava-hf/llava-1.5-7b-hf", "output_dir": "out"}


def test_defaults_are_safe_for_vlms():
    s = load_train_spec(None, BASE)
    assert s.lora.enabled and s.lora.target_modules == "language_model"
    assert s.dpo.max_length is None  # image tokens are never truncated
    assert (s.dtype, s.gradient_checkpointing) == ("auto", "auto")
    assert (s.dpo.beta, s.dpo.loss_type, s.split) == (0.1, "sigmoid", "train")


def test_flags_override_the_config_file(tmp_path):
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({**BASE, "dpo": {"beta": 0.3, "learning_rate": 1e-6}, "lora": {"r": 8}}))
    s = load_train_spec(cfg, {"dpo": {"beta": 0.05}, "revision": "v1.0.0"})
    assert (s.dpo.beta, s.dpo.learning_rate, s.lora.r, s.revision) == (0.05, 1e-6, 8, "v1.0.0")
    assert s.as_dict()["output_dir"] == "out"


def test_bad_config_lists_each_problem(tmp_path):
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"dataset": "x", "dpo": {"beta": 0, "lr": 1}, "lora": {"enabled": "yes"}}))
    with pytest.raises(ConfigError) as info:
        load_train_spec(cfg, {})
    lines = info.value.lines()
    assert f"{cfg}: $.dpo.beta: must be > 0, got 0" in lines
    assert any(line.startswith(f"{cfg}: $.dpo: unknown field 'lr'") for line in lines)
    assert f"{cfg}: $.lora.enabled: must be boolean, got \"yes\"" in lines
    assert f"{cfg}: $.model: is required" in lines and f"{cfg}: $.output_dir: is required" in lines


def test_sft_weight_adds_trls_sft_loss_next_to_the_dpo_one(tmp_path):
    from judgefree_hub.train.trainer import dpo_config

    plain = dpo_config(load_train_spec(None, {**BASE, "output_dir": str(tmp_path)}))
    assert plain.loss_type == ["sigmoid"] and not plain.loss_weights
    spec = load_train_spec(None, {**BASE, "output_dir": str(tmp_path), "dpo": {"sft_weight": 0.5, "loss_type": "ipo"}})
    assert spec.dpo.sft_weight == 0.5 and spec.as_dict()["dpo"]["sft_weight"] == 0.5
    mixed = dpo_config(spec)
    assert (mixed.loss_type, mixed.loss_weights) == (["ipo", "sft"], [1.0, 0.5])
    with pytest.raises(ConfigError, match=r"\$\.dpo\.sft_weight: must be >= 0"):
        load_train_spec(None, {**BASE, "dpo": {"sft_weight": -1}})
