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
