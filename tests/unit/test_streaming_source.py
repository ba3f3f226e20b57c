"""An hf_dataset source streamed from the local Hub-compatible server gives the same samples as
the same dataset downloaded (issue 15: sources that do not fit on disk)."""

import io
import json
import os
import subprocess
import sys

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from judgefree_hub.sources.hf_dataset import content_id
from judgefree_hub.testing.hub import LocalHub

# In a subprocess: datasets and huggingface_hub read HF_ENDPOINT and the offline flags at import.
CLIENT = r"""
import hashlib, json, sys
from pathlib import Path
from huggingface_hub import HfApi
from judgefree_hub.recipe import recipe_from_dict
from judgefree_hub.sources import iter_samples

out = {}
for folder in map(Path, sys.argv[1:]):
    repo = f"org/{folder.name}"
    HfApi().create_repo(repo, repo_type="dataset")
    HfApi().upload_folder(repo_id=repo, folder_path=folder, repo_type="dataset")
    for streaming in (False, True):
        src = {"kind": "hf_dataset", "name": "hub", "dataset": repo, "prompt_column": "q",
               "prompts": ["P"], "streaming": streaming}
        raw = {"name": "t", "version": "0.1.0", "model": {"id": "m"}, "sources": [src]}
        out[f"{folder.name} {streaming}"] = [
            [s.key, s.prompt, hashlib.sha256(s.load_image().tobytes()).hexdigest()]
            for s in iter_samples(recipe_from_dict(raw, base_dir=folder))]
print(json.dumps(out))
"""
COLORS = {"red": "what?", "blue": None, "green": "where?", "white": "what?"}


def png(color) -> bytes:
    """With a text chunk, so an image decoded and encoded again has other bytes (other keys)."""
    info = PngInfo()
    info.add_text("color", color)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def make_repos(tmp_path):
    """The same rows twice: as parquet (image bytes in the rows) and as an image folder with a
    metadata file (a stream then gives {"path": "hf://...", "bytes": None})."""
    import datasets

    parquet, folder = tmp_path / "as-parquet", tmp_path / "as-images"
    (parquet / "data").mkdir(parents=True)
    (folder / "train").mkdir(parents=True)
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": png(c), "path": None} for c in COLORS], "q": list(COLORS.values())},
        features=datasets.Features({"image": datasets.Image(), "q": datasets.Value("string")}))
    ds.to_parquet(str(parquet / "data" / "train-00000-of-00001.parquet"))
    meta = []
    for color, q in COLORS.items():
        (folder / "train" / f"{color}.png").write_bytes(png(color))
        meta.append(json.dumps({"file_name": f"{color}.png", "q": q}))
    (folder / "train" / "metadata.jsonl").write_text("\n".join(meta) + "\n")
    return parquet, folder


def test_streamed_from_the_hub_equals_downloaded(tmp_path):
    import hashlib

    repos = make_repos(tmp_path)
    with LocalHub(tmp_path / "hub") as url:
        env = {**os.environ, "HF_ENDPOINT": url, "HF_TOKEN": "any", "HF_HUB_DISABLE_XET": "1",
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "home"),
               "HF_DATASETS_CACHE": str(tmp_path / "datasets")}
        done = subprocess.run([sys.executable, "-c", CLIENT, *map(str, repos)], env=env,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    want = sorted([f"hub-{content_id(png(c), q)}-p0", q or "P",
                   hashlib.sha256(Image.new("RGB", (4, 4), c).tobytes()).hexdigest()]
                  for c, q in COLORS.items())  # keys hash the files' bytes as stored
    for name in ("as-parquet False", "as-parquet True", "as-images False", "as-images True"):
        assert sorted(out[name]) == want, name
