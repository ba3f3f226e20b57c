"""Reads a pushed dataset back as a user would, in a fresh process: huggingface_hub and datasets
read HF_ENDPOINT at import time, so the test runs this with the local Hub's URL in the env.

    python hub_client.py load|stream|dpo REPO REVISION   -> one JSON line on stdout
"""

import json
import sys


def main(mode: str, repo: str, revision: str) -> dict:
    from datasets import load_dataset

    if mode == "load":
        ds = load_dataset(repo, revision=revision, split="train")
        return {"rows": len(ds), "keys": list(ds["__key__"]), "chosen": [r["chosen"] for r in ds["json"]],
                "columns": sorted(ds.column_names), "image_size": list(ds[0]["jpg"].size)}
    if mode == "stream":
        ds = load_dataset(repo, revision=revision, split="train", streaming=True)
        rows = list(ds)
        return {"rows": len(rows), "keys": [r["__key__"] for r in rows]}
    if mode == "dpo":
        return dpo_step(repo, revision)
    raise SystemExit(f"unknown mode {mode}")


def dpo_step(repo: str, revision: str) -> dict:
    import copy
    import tempfile

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import DPOConfig, DPOTrainer

    from judgefree_hub import load_pairs
    from judgefree_hub.demo import resolve

    train = load_pairs(repo, revision=revision)
    path = resolve("demo:tiny-llava")
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=2, max_steps=1, bf16=False,
                     activation_checkpointing=False, max_length=None, report_to=[], use_cpu=True,
                     logging_steps=1, save_strategy="no")
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=train,
                         processing_class=processor)
    trainer.train()
    return {"rows": len(train), "loss": trainer.state.log_history[0]["loss"],
            "columns": sorted(train.column_names)}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
