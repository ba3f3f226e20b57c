"""Pairs per second: batched mixed decoding vs a naive baseline, same model, same inputs.

batched: per step ONE forward over 3 rows per sample (positive-cond, negative-cond,
         negative-uncond) with one KV cache, as the builder runs it.
naive:   the positive with model.generate(), then the negative with a separate conditional
         and a separate unconditional forward per step (two KV caches), mixed in logits.
Both decode greedily the same number of tokens; the script checks they produce the same text.

    python benchmarks/decode.py [--model demo:tiny-llava] [--samples 16] [--batch 8] [--tokens 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import DynamicCache

from judgefree_hub.backends import AnswerPlan, Branch, decode_answers, load_backend, mix_scores
from judgefree_hub.recipe import GenerationSpec, ModelSpec
from judgefree_hub.sources import open_rgb, package_dir

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png",
          "hubble_deep_field.jpg", "retina.jpg", "camera.png"]


def batched(backend, items, gen, h):
    rows, answers = [], []
    for prompt, image in items:
        answers.append(AnswerPlan(len(rows), None, 0.0))
        rows.append(Branch(prompt, image))
        answers.append(AnswerPlan(len(rows), len(rows) + 1, h))
        rows += [Branch(prompt, image), Branch(prompt, None)]
    return decode_answers(backend, rows, answers, gen, "logits")


@torch.inference_mode()
def _forward_steps(backend, rows, steps):
    """A plain greedy loop over one batch with its own cache; yields logits per step."""
    batch = backend.encode(rows)
    mask = batch.pop("attention_mask")
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = backend.model(**batch, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1)
    for _ in range(steps):
        token = yield out.logits[:, -1].float()
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], -1)
        pos = pos[:, -1:] + 1
        out = backend.model(input_ids=token[:, None], attention_mask=mask, position_ids=pos, cache=cache, use_cache=True)


@torch.inference_mode()
def naive(backend, items, gen, h):
    texts = []
    cond_rows = [Branch(p, im) for p, im in items]
    enc = backend.encode(cond_rows)
    out = backend.model.generate(**enc, max_new_tokens=gen.max_new_tokens, do_sample=False)
    positives = [backend.decode_text(_until_eos(backend, o[enc["input_ids"].shape[1]:].tolist())) for o in out]
    cond = _forward_steps(backend, cond_rows, gen.max_new_tokens)
    uncond = _forward_steps(backend, [Branch(p, None) for p, _ in items], gen.max_new_tokens)
    lc, lu = next(cond), next(uncond)
    tokens = []
    hh = torch.full((len(items),), h)
    for step in range(gen.max_new_tokens):
        tok = mix_scores(lc, lu, hh, "logits").argmax(-1)
        tokens.append(tok)
        if step + 1 < gen.max_new_tokens:
            lc, lu = cond.send(tok), uncond.send(tok)
    negatives = [backend.decode_text(_until_eos(backend, t)) for t in torch.stack(tokens, 1).tolist()]
    for p, n in zip(positives, negatives):
        texts += [p, n]
    return texts


def _until_eos(backend, toks):
    for i, t in enumerate(toks):
        if t in backend.eos_token_ids:
            return toks[:i]
    return toks


def timed(fn, *args, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="demo:tiny-llava")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    gen = GenerationSpec(max_new_tokens=args.tokens, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    spec = ModelSpec(args.model, None, "auto", args.device, args.batch, gen)
    backend = load_backend(spec)  # a transformers backend: the baseline below uses its model
    # Fixed-length answers make both paths do the same work (EOS would end them at different steps).
    backend.eos_token_ids = frozenset()
    backend.model.generation_config.eos_token_id = None
    data = package_dir("skimage") / "data"
    items = [("Describe the image in detail.", open_rgb(data / PHOTOS[i % len(PHOTOS)])) for i in range(args.samples)]
    batches = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
    run = lambda fn: [t for b in batches for t in fn(backend, b, gen, args.ratio)]
    run(batched), run(naive)  # warm-up
    t_b, out_b = timed(run, batched, repeats=args.repeats)
    t_n, out_n = timed(run, naive, repeats=args.repeats)
    same = sum(a == b for a, b in zip(out_b, out_n))
    print(f"model {args.model} on {args.device}: {args.samples} samples, batch {args.batch}, {args.tokens} tokens, h={args.ratio}")
    print(f"batched mix decoding: {args.samples / t_b:8.2f} pairs/s ({t_b:.2f} s)")
    print(f"naive baseline:       {args.samples / t_n:8.2f} pairs/s ({t_n:.2f} s)")
    print(f"speed-up (batched / naive): {t_n / t_b:.2f}x; identical answers: {same}/{len(out_b)}")


if __name__ == "__main__":
    main()
