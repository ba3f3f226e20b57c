"""The world models shipped in the package: intact, small, stored as float16, loaded by the real
loaders, and the only way to reach them is `demo:<name>` (retraining is tests/e2e/test_retrain.py)."""

import json

import pytest
import torch
from safetensors import safe_open

from judgefree_hub import demo
from judgefree_hub.demo import retrain
from judgefree_hub.errors import ModelLoadError

MANIFEST = retrain.read_manifest()


def test_every_shipped_file_is_listed_with_its_sha256_and_nothing_else_is_there():
    on_disk = {p.relative_to(demo.SHIPPED_DIR).as_posix() for p in demo.SHIPPED_DIR.rglob("*")
               if p.is_file() and p.name != demo.SHIPPED_MANIFEST}
    assert on_disk == set(MANIFEST["files"])
    for name, digest in MANIFEST["files"].items():
        assert retrain.sha256_file(demo.SHIPPED_DIR / name) == digest, name


def test_the_shipped_weights_stay_small_and_are_float16_while_the_models_compute_in_float32():
    total = sum(p.stat().st_size for p in demo.SHIPPED_DIR.rglob("*") if p.is_file())
    assert total < 25 * 2**20
    weights = sorted(demo.SHIPPED_DIR.rglob("*.safetensors"))
    assert {w.parent.name for w in weights} == set(demo.SHIPPED)
    for path in weights:
        with safe_open(str(path), "pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert dtypes == {"F16"}, (path, dtypes)
    config = json.loads((demo.SHIPPED_DIR / "world-llava" / "config.json").read_text())
    assert config["dtype"] == "float32"


def test_resolve_returns_the_shipped_folder_without_building_anything(tmp_path):
    for name in demo.SHIPPED:
        assert demo.resolve(f"demo:{name}", cache_dir=tmp_path) == str(demo.SHIPPED_DIR / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_shipped_weights_say_how_to_get_them_back(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "SHIPPED_DIR", tmp_path / "weights")
    for name in demo.SHIPPED:
        with pytest.raises(ModelLoadError, match=r"shipped weights of demo:.* are missing.*judgefree_hub\.demo\.retrain"):
            demo.resolve(f"demo:{name}")


def test_the_shipped_models_load_as_real_checkpoints_and_describe_a_world_scene():
    import open_clip
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from judgefree_hub.world import SHAPES, WorldConfig, render, scene_at

    scene = scene_at(WorldConfig(seed=0, image_size=96), "eval", 3)
    image = render(scene, 96)
    folder = demo.resolve("demo:world-llava")
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    assert model.dtype == torch.float32
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image."}]}]
    inputs = processor(text=[processor.apply_chat_template(chat, add_generation_prompt=True)], images=[image],
                       return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    caption = processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    shapes = {o.shape for o in scene.objects}
    assert any(s in caption for s in shapes), (caption, shapes)  # a trained describer, not word salad

    clip, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + demo.resolve("demo:world-clip"))
    tokenizer = open_clip.get_tokenizer("local-dir:" + demo.resolve("demo:world-clip"))
    absent = next(s for s in SHAPES if s not in shapes)
    with torch.no_grad():
        img = clip.encode_image(preprocess(image).unsqueeze(0))
        txt = clip.encode_text(tokenizer([caption, f"a {absent}."]))
    sims = torch.nn.functional.normalize(img, dim=-1) @ torch.nn.functional.normalize(txt, dim=-1).T
    assert sims[0, 0] > sims[0, 1]  # the scene's caption beats a caption of an absent shape


def test_differences_name_changed_missing_and_extra_files():
    a = {"files": {"x": "1", "y": "2", "z": "3"}}
    b = {"files": {"x": "1", "y": "9", "w": "4"}}
    assert retrain.differences(a, b) == ["w", "y", "z"]
    assert retrain.differences(a, a) == []


def test_retrain_replaces_the_folder_only_when_done_and_check_compares(tmp_path, monkeypatch, capsys):
    """The command's plumbing with training replaced by a stand-in that writes one file."""
    content = {"value": b"a"}

    def fake_train(folder, show_progress):
        (folder / "w.bin").write_bytes(content["value"])
        return {"fingerprint": {"threads": "2"}, "files": {"w.bin": retrain.sha256_file(folder / "w.bin")},
                "losses": {}, "training": {}}

    monkeypatch.setattr(retrain, "_train_into", fake_train)
    out = tmp_path / "weights"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert retrain.main(["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [demo.SHIPPED_MANIFEST, "w.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["weights"]  # no temporary folder left

    def failing_train(folder, show_progress):
        (folder / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(retrain, "_train_into", failing_train)
    with pytest.raises(KeyboardInterrupt):
        retrain.main(["--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == [demo.SHIPPED_MANIFEST, "w.bin"]  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["weights"]

    monkeypatch.setattr(retrain, "_train_into", fake_train)
    monkeypatch.setattr(retrain, "read_manifest", lambda folder=out: json.loads((out / demo.SHIPPED_MANIFEST).read_text()))
    capsys.readouterr()
    assert retrain.main(["--check"]) == 0
    assert "every file reproduced byte for byte" in capsys.readouterr().out
    content["value"] = b"b"
    assert retrain.main(["--check"]) == 1
    assert "1 file(s) differ: w.bin" in capsys.readouterr().out
