"""Does judge-free self-improvement work? The experiment of issue 6, on the procedural world.

Seed model: demo:world-llava (trained by jfhub on the world's biased train split, shipped); verifier:
demo:world-clip. Pairs are built on unlabelled eval-distribution scenes (indices from 10000,
clear of the IC set's 0..n-1), DPO runs on them, and captions of the held-out IC set (built
with the IC builder) are scored judge-free. One table: the seed, round 1 of the full method,
the ablations, and three rounds of the full method.

    python benchmarks/self_improvement.py            # the README table (about 3 min on 2 cores)
    python benchmarks/self_improvement.py --quick    # the reduced run CI checks (under a minute)


Every variant reuses `jfhub loop` (judgefree_hub.loop) and writes its folder under --out, so a
rerun with the same settings only prints the table again.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judgefree_hub.errors import JfhubError  # noqa: E402
from judgefree_hub.loop import LoopSpec, RoundResult, run_loop  # noqa: E402

PROMPT = "Describe the image."


def base_recipe(seed: int, images: int) -> dict:
    """The full method, as recipes/demo.json has it but with `images` scenes."""
    recipe = json.loads((ROOT / "recipes" / "demo.json").read_text())
    recipe["seed"] = seed
    recipe["sources"][0]["count"] = images
    return recipe


def variants(seed: int, images: int) -> dict[str, dict]:
    """Name -> recipe. Each ablation changes one thing of the full method."""
    full = base_recipe(seed, images)
    out = {"full": full}

    def change(name: str, fn) -> None:
        r = copy.deepcopy(full)
        fn(r)
        out[name] = r

    change("no CLIP reversal", lambda r: r["verifier"].update(reverse=False))
    change("fixed ratio h = 0.5", lambda r: r["strategy"].update(
        negative_ratio={"distribution": "fixed", "value": 0.5}))
    change("h = 1 only", lambda r: r["strategy"].update(negative_ratio={"distribution": "fixed", "value": 1.0}))
    change("random negatives", lambda r: r.update(strategy={"name": "random_negative"}))
    change("noise_image", lambda r: r.update(strategy={"name": "noise_image"}))
    return out


def build_ic(out: Path, n: int) -> Path:
    """The held-out IC set: world eval scenes 0..n-1, built with the IC builder."""
    from judgefree_hub.builders import BUILDERS
    from judgefree_hub.recipe import recipe_from_dict
    from judgefree_hub.world import WorldConfig, export_ic_set

    src = out / "world-ic"
    if not (src / "manifest.jsonl").is_file():
        export_ic_set(src, WorldConfig(seed=0, image_size=96), n)
    raw = json.loads((ROOT / "recipes" / "world-ic.json").read_text())
    raw["ic"]["manifest"] = "world-ic/manifest.jsonl"
    raw["version"] = f"0.1.0-n{n}"
    recipe = recipe_from_dict(raw, out, "world-ic")
    return BUILDERS.get("ic")(recipe, out / "ic", show_progress=False).root


def cooccurrence_rates(eval_dir: Path, manifest: Path) -> tuple[float, float]:
    """(share of absent pair partners that captions name, share of other absent shapes they
    name), from the scorer's per-image hallucination lists: the planted bias, measured."""
    from judgefree_hub.world import SHAPES, WorldConfig

    partner_of = {a: b for pair in WorldConfig(seed=0).pairs for a, b in (pair, pair[::-1])}
    truth = {r["id"]: {e["name"] for e in r["elements"] if e["kind"] == "object"}
             for r in map(json.loads, manifest.read_text().splitlines())}
    counts = {True: [0, 0], False: [0, 0]}
    for line in (eval_dir / "per_image.jsonl").read_text().splitlines():
        row = json.loads(line)
        present, named = truth[row["id"]], set(row["hallucinated"])
        for shape in SHAPES:
            if shape not in present:
                is_partner = any(partner_of.get(p) == shape for p in present)
                counts[is_partner][0] += shape in named
                counts[is_partner][1] += 1
    return counts[True][0] / counts[True][1], counts[False][0] / counts[False][1]


def train_settings(args) -> dict:
    """configs/train/world-dpo.json (what `jfhub loop --train-config` takes), with the flags on top."""
    train = json.loads((ROOT / "configs" / "train" / "world-dpo.json").read_text())
    for key, value in (("beta", args.beta), ("learning_rate", args.lr), ("num_train_epochs", args.epochs)):
        if value is not None:
            train["dpo"][key] = value
    train["dpo"]["seed"] = args.seed
    return train


def run(args) -> list[tuple[str, list[RoundResult], Path]]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ic = build_ic(out, args.eval_images)
    rows = []
    recipes = variants(args.seed, args.images)
    for name, recipe in recipes.items():
        if args.quick and name != "full":
            continue
        rounds = args.rounds if name == "full" else 1
        spec = LoopSpec(recipe=recipe, recipe_dir=ROOT / "recipes", recipe_label=f"variant {name!r}",
                        ic=str(ic), ic_revision=None, rounds=rounds,
                        out_dir=out / name.replace(" ", "_").replace("=", "").replace(".", ""),
                        train=train_settings(args), eval_prompt=PROMPT, eval_max_new_tokens=64,
                        eval_batch_size=50, eval_device="cpu")
        t0 = time.perf_counter()
        results = run_loop(spec, echo=(lambda m: print("  " + m, flush=True)) if args.verbose else None)
        print(f"{name}: {time.perf_counter() - t0:.0f}s", flush=True)
        rows.append((name, results, spec.out_dir))
    return rows


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table(rows: list[tuple[str, list[RoundResult], Path]], manifest: Path) -> str:
    seed = rows[0][1][0]
    head = ["model", "pairs", "reversed", "precision", "recall", "F1", "CHAIR-i", "CHAIR-s",
            "absent partner named", "other absent shape named", "d precision", "d recall"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def line(label: str, r: RoundResult, loop_dir: Path) -> str:
        s, b = r.scores, seed.scores
        d = [f"{100 * (s[k] - b[k]):+.1f}" if r.round else "" for k in ("precision", "recall")]
        rev = "" if r.pairs is None else f"{pct(r.reversed_share)}%"
        partner, other = cooccurrence_rates(loop_dir / f"round-{r.round}" / "eval", manifest)
        cells = [label, "" if r.pairs is None else str(r.pairs), rev, pct(s["precision"]), pct(s["recall"]),
                 pct(s["f1"]), pct(s["chair_i"]), pct(s["chair_s"]), pct(partner), pct(other), *d]
        return "| " + " | ".join(cells) + " |"

    lines.append(line("seed (demo:world-llava)", seed, rows[0][2]))
    for name, results, loop_dir in rows:
        lines.append(line("round 1, full method" if name == "full" else f"round 1, {name}", results[1], loop_dir))
    name, full, loop_dir = rows[0]
    for r in full[2:]:
        lines.append(line(f"round {r.round}, full method", r, loop_dir))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench-out/self_improvement",
                   help="Folder for every variant's loop run; finished rounds are reused, so use a new one per --seed.")
    p.add_argument("--seed", type=int, default=0, help="Recipe and DPO seed (the models' own seeds are fixed).")
    p.add_argument("--images", type=int, default=256, help="Unlabelled scenes per round.")
    p.add_argument("--eval-images", type=int, default=1000, help="IC scenes scored per round.")
    p.add_argument("--rounds", type=int, default=3, help="Rounds of the full method.")
    p.add_argument("--beta", type=float, help="DPO beta (default: configs/train/world-dpo.json)")
    p.add_argument("--lr", type=float, help="DPO learning rate (default: configs/train/world-dpo.json)")
    p.add_argument("--epochs", type=float, help="DPO epochs per round (default: configs/train/world-dpo.json)")
    p.add_argument("--quick", action="store_true", help="Full method only, one round (the CI check).")
    p.add_argument("--verbose", action="store_true", help="Print each loop step as it runs.")
    args = p.parse_args()
    if args.quick:
        args.rounds = 1
    t0 = time.perf_counter()
    try:
        rows = run(args)
    except JfhubError as e:  # e.g. --out holds a run with other settings: one line, as jfhub says it
        print(f"Error: {e}", file=sys.stderr)
        return 2
    print()
    print(table(rows, Path(args.out) / "world-ic" / "manifest.jsonl"))
    print(f"\nseed {args.seed}, {args.images} scenes per round, {args.eval_images} IC scenes; "
          f"{time.perf_counter() - t0:.0f}s in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
