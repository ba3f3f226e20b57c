"""Demo models: built once, deterministically, atomically, and loaded like real checkpoints."""

import hashlib
import importlib.util
import os
from pathlib import Path

import pytest
import torch

import judgefree_hub.demo as demo
from judgefree_hub.errors import ModelLoadError

LLAVA_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "processor_config.json", "chat_template.jinja"}
CLIP_FILES = {"open_clip_config.json", "open_clip_model.safetensors"}
QUESTION = "Describe the image."


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="module")
def llava_dir(cache):
    return demo.resolve("demo:tiny-llava", cache)


@pytest.fixture(scope="module")
def clip_dir(cache):
    return demo.resolve("demo:tiny-clip", cache)


@pytest.fixture(scope="module")
def llava(llava_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(llava_dir).eval()
    return AutoProcessor.from_pretrained(llava_dir), model


@pytest.fixture(scope="module")
def skimage_photos():
    spec = importlib.util.find_spec("skimage")
    if spec is None:  # a declared test dependency (the e2e tests need its photos too): not a skip
        pytest.fail("scikit-image is not installed: pip install -e '.[test]'")
    from PIL import Image

    folder = Path(spec.submodule_search_locations[0]) / "data"
    names = ("astronaut.png", "chelsea.png", "coffee.png")
    return {n: Image.open(folder / n).convert("RGB") for n in names}


def prompt(processor, with_image: bool) -> str:
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": QUESTION}]
    chat = [{"role": "user", "content": content}]
    return processor.apply_chat_template(chat, add_generation_prompt=True)


def greedy(processor, model, image=None, n=24) -> list[int]:
    enc = processor(text=prompt(processor, image is not None), images=image, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=n, do_sample=False)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def test_refs_and_names():
    assert demo.DEMO_MODELS[:4] == ("tiny-llava", "tiny-clip", "world-llava", "world-clip")
    assert set(demo.DEMO_MODELS) == set(demo._BUILDER_MODULES) | set(demo.SHIPPED) == set(demo.DESCRIPTIONS)
    assert not set(demo._BUILDER_MODULES) & set(demo.SHIPPED)
    assert demo.is_demo_ref("demo:tiny-llava") and not demo.is_demo_ref("llava-hf/llava-1.5-7b-hf")
    with pytest.raises(ValueError, match="demo:"):
        demo.resolve("llava-hf/llava-1.5-7b-hf")


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        demo.resolve("demo:huge-llava", tmp_path)
    assert "huge-llava" in str(err.value)
    assert "demo:tiny-llava" in str(err.value) and "demo:tiny-clip" in str(err.value)
    assert not (tmp_path / "demo").exists()


def test_resolve_builds_folders(cache, llava_dir, clip_dir):
    assert llava_dir == str((cache / "demo" / f"tiny-llava-{demo.VERSION}").absolute())
    assert clip_dir == str((cache / "demo" / f"tiny-clip-{demo.VERSION}").absolute())
    assert os.path.isabs(llava_dir)
    assert LLAVA_FILES <= set(os.listdir(llava_dir))
    assert CLIP_FILES <= set(os.listdir(clip_dir))
    # nothing but the two finished folders (no temp folder left behind)
    assert sorted(p.name for p in (cache / "demo").iterdir()) == [f"tiny-clip-{demo.VERSION}", f"tiny-llava-{demo.VERSION}"]


def test_second_resolve_reuses_without_building(cache, llava_dir, monkeypatch):
    weights = Path(llava_dir) / "model.safetensors"
    before = weights.stat().st_mtime_ns

    def no_build(name, folder, cache_dir):
        raise AssertionError("rebuilt an existing demo model")

    monkeypatch.setattr(demo, "_build", no_build)
    assert demo.resolve("demo:tiny-llava", cache) == llava_dir
    assert weights.stat().st_mtime_ns == before


def test_default_cache_is_jfhub_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("JFHUB_CACHE", str(tmp_path))
    assert demo.default_cache_dir() == tmp_path
    monkeypatch.delenv("JFHUB_CACHE")
    assert demo.default_cache_dir() == Path.home() / ".cache" / "judgefree_hub"


def test_builds_are_byte_identical(cache, llava_dir, clip_dir, tmp_path):
    other = Path(demo.resolve("demo:tiny-llava", tmp_path))
    other_clip = Path(demo.resolve("demo:tiny-clip", tmp_path))
    for name in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
        assert sha256(other / name) == sha256(Path(llava_dir) / name), name
    for name in CLIP_FILES:
        assert sha256(other_clip / name) == sha256(Path(clip_dir) / name), name


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken(name, folder, cache_dir):
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(demo, "_build", broken)
    with pytest.raises(ModelLoadError, match="killed"):
        demo.resolve("demo:tiny-clip", tmp_path)
    assert list((tmp_path / "demo").iterdir()) == []


def test_incomplete_folder_is_not_taken_as_a_model(tmp_path):
    (tmp_path / "demo" / f"tiny-clip-{demo.VERSION}").mkdir(parents=True)
    with pytest.raises(ModelLoadError, match="not a complete demo model"):
        demo.resolve("demo:tiny-clip", tmp_path)


def test_race_lost_to_another_process_returns_its_folder(tmp_path, monkeypatch):
    final = tmp_path / "demo" / f"tiny-clip-{demo.VERSION}"
    real_build = demo._build

    def racing(name, folder, cache_dir):  # another process finishes first while we build
        real_build(name, folder, cache_dir)
        final.mkdir()
        real_build(name, final, cache_dir)
        (final / demo.COMPLETE_MARKER).write_text("other\n")

    monkeypatch.setattr(demo, "_build", racing)
    assert demo.resolve("demo:tiny-clip", tmp_path) == str(final.absolute())
    assert (final / demo.COMPLETE_MARKER).read_text() == "other\n"
    assert [p.name for p in final.parent.iterdir()] == [f"tiny-clip-{demo.VERSION}"]


def test_llava_loads_through_auto_classes(llava):
    processor, model = llava
    tok = processor.tokenizer
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    assert 1000 <= len(tok) <= 2000
    assert model.config.text_config.vocab_size == len(tok)
    assert model.config.image_seq_length == 16
    assert model.config.image_token_index == tok.convert_tokens_to_ids("<image>")
    gc = model.generation_config
    assert gc.bos_token_id == tok.bos_token_id
    assert gc.eos_token_id == tok.eos_token_id
    assert gc.pad_token_id == tok.pad_token_id
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_chat_template_with_and_without_image(llava, skimage_photos):
    processor, _ = llava
    with_image, text_only = prompt(processor, True), prompt(processor, False)
    assert with_image == "USER: <image>\nDescribe the image. ASSISTANT:"
    assert text_only == "USER: Describe the image. ASSISTANT:"
    enc = processor(text=with_image, images=skimage_photos["chelsea.png"], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((enc["input_ids"] == image_id).sum()) == 16  # expanded to image_seq_length
    assert tuple(enc["pixel_values"].shape) == (1, 3, 32, 32)
    assert enc["input_ids"][0, 0].item() == processor.tokenizer.bos_token_id


def test_greedy_text_depends_on_the_image(llava, skimage_photos):
    processor, model = llava
    eos = processor.tokenizer.eos_token_id
    outs = {n: greedy(processor, model, im) for n, im in skimage_photos.items()}
    text_only = greedy(processor, model)
    assert len({tuple(o) for o in outs.values()}) == len(outs)  # photos give different answers
    for name, out in outs.items():
        assert out != text_only, name
        assert len(set(out)) > 3, name  # not one repeated token
        assert eos not in out[:5], name
        assert "<image>" not in processor.tokenizer.decode(out), name


def test_open_clip_local_dir_loads_saved_weights(clip_dir, skimage_photos):
    import open_clip
    from safetensors.torch import load_file

    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + clip_dir)
    tokenizer = open_clip.get_tokenizer("local-dir:" + clip_dir)
    assert type(tokenizer).__name__ == "SimpleTokenizer"
    saved = load_file(os.path.join(clip_dir, "open_clip_model.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    tokens = tokenizer(["a cat on the floor", "a rocket on a launch pad", "a cup of coffee"])
    assert tuple(tokens.shape) == (3, 77)
    model.eval()
    with torch.no_grad():
        img = model.encode_image(preprocess(skimage_photos["chelsea.png"])[None], normalize=True)
        txt = model.encode_text(tokens, normalize=True)
    assert img.shape == (1, 64)
    scores = (img @ txt.T)[0]
    assert len({round(s, 6) for s in scores.tolist()}) == 3
