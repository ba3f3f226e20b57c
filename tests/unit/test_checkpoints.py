"""A LoRA adapter (what `jfhub train` writes by default) loads wherever a model is taken: its base
with the adapter merged, from a folder or a Hub repo, with the base named by jfhub's
train_config.json or by PEFT's adapter_config.json."""

import dataclasses
import json
import shutil

import pytest
import torch

from judgefree_hub.backends import Branch, load_backend, read_model_type
from judgefree_hub.checkpoints import Checkpoint, load_pretrained, resolve_checkpoint
from judgefree_hub.demo import model_path
from judgefree_hub.errors import ModelLoadError

BASE = "demo:tiny-llava"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, jfhub_cache):
    """A LoRA adapter on demo:tiny-llava's language model with non-zero weights (so merging it
    changes the logits), saved as jfhub train saves one: adapter, processor, train_config.json."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = tmp_path_factory.mktemp("adapter") / "dpo"
    torch.manual_seed(0)
    base = AutoModelForImageTextToText.from_pretrained(model_path(BASE))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)",
                        init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(folder)
    AutoProcessor.from_pretrained(model_path(BASE)).save_pretrained(folder)
    (folder / "train_config.json").write_text(json.dumps({"model": BASE}))
    return folder


def logits(model, processor):
    from PIL import Image

    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                         add_generation_prompt=True)
    batch = processor(text=[text], images=[Image.new("RGB", (64, 64), (200, 30, 30))], return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_an_adapter_folder_resolves_to_its_base_named_by_train_config(adapter):
    ckpt = resolve_checkpoint(str(adapter))
    assert ckpt == Checkpoint(model_path(BASE), None, adapter=str(adapter), adapter_revision=None)
    assert read_model_type(str(adapter), None) == "llava"
    full = resolve_checkpoint(BASE)
    assert full == Checkpoint(model_path(BASE), None)


def test_loading_an_adapter_gives_the_merged_model(adapter):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    processor, merged = load_pretrained(str(adapter), None)
    reference = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_path(BASE)), str(adapter))
    _, base = load_pretrained(BASE, None)
    want = logits(reference, processor)
    assert torch.allclose(logits(merged, processor), want, atol=1e-5)
    assert not torch.allclose(logits(base, processor), want, atol=1e-3)  # the adapter does change them
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_without_train_config_the_base_comes_from_adapter_config(adapter, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(adapter, plain)
    (plain / "train_config.json").unlink()
    config = json.loads((plain / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == model_path(BASE)
    assert resolve_checkpoint(str(plain)).path == model_path(BASE)
    del config["base_model_name_or_path"]
    (plain / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"a PEFT adapter whose adapter_config.json names no base_model_name_or_path"):
        resolve_checkpoint(str(plain))
    (plain / "adapter_config.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match=r"adapter_config.json is not a JSON object"):
        resolve_checkpoint(str(plain))


def test_the_builder_backend_decodes_an_adapter_as_the_merged_model(adapter, demo_recipe):
    from PIL import Image

    spec = dataclasses.replace(demo_recipe.model, id=str(adapter), backend="auto")
    backend = load_backend(spec)
    row = Branch("Describe the image.", Image.new("RGB", (64, 64), (20, 120, 220)))
    assert backend.model_id == str(adapter)
    assert not any("lora" in name for name, _ in backend.model.named_parameters())
    # the batched loop and the merged model's own generate() agree (the self-check's comparison)
    from judgefree_hub.backends import self_check

    self_check(backend, row, spec.id)


HUB_CLIENT = """
import json, sys, torch
from PIL import Image
from judgefree_hub.checkpoints import load_pretrained, resolve_checkpoint
ckpt = resolve_checkpoint("demo-org/dpo-adapter")
processor, model = load_pretrained("demo-org/dpo-adapter", None)
text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                     add_generation_prompt=True)
batch = processor(text=[text], images=[Image.new("RGB", (64, 64), (200, 30, 30))], return_tensors="pt")
with torch.no_grad():
    torch.save(model(**batch).logits, sys.argv[1])
print(json.dumps([ckpt.path, ckpt.adapter]))
"""


def test_an_adapter_repo_on_the_hub_resolves_and_loads(adapter, tmp_path, online_to_local_hub):
    """In a client process pointed at the local Hub (huggingface_hub and peft read the endpoint
    at import): a repo holding only the adapter, as `jfhub train --push-to` publishes it."""
    import os
    import subprocess
    import sys

    from huggingface_hub import HfApi

    from judgefree_hub.testing.hub import LocalHub

    with LocalHub(tmp_path / "hub") as url:
        api = HfApi(endpoint=url, token="any")
        api.create_repo("demo-org/dpo-adapter")
        api.upload_folder(repo_id="demo-org/dpo-adapter", folder_path=adapter, ignore_patterns=["train_config.json"])
        env = {**os.environ, "HF_ENDPOINT": url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home")}
        proc = subprocess.run([sys.executable, "-c", HUB_CLIENT, str(tmp_path / "logits.pt")], env=env,
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == [model_path(BASE), "demo-org/dpo-adapter"]
    processor, local = load_pretrained(str(adapter), None)
    assert torch.allclose(torch.load(tmp_path / "logits.pt"), logits(local, processor), atol=1e-6)
