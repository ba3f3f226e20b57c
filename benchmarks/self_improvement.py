"""Does judge-free self-improvement work? The experiment of issue 6, on the procedural world.

Seed model: demo:world-llava (trained by jfhub on the world's biased train split, shipped); verifier:
demo:world-clip. Pairs are built on unlabelled eval-distribution scenes (indices from 10000,
clear of the IC set's 0..n-1), DPO runs on them, and captions of the held-out IC set (built
with the IC builder) are scored judge-free. One table: the seed, round 1 of the full method,
the ablations, and three rounds of the full method. Every row's model also answers POPE's yes/no
object questions (judgefree_hub.evals.pope, logits reader) on the IC scenes, with popular and
adversarial counted on as many world train-split scenes (built once per seed folder): so the
adversarial "no" questions ask about the planted partners of the image's shapes, the
co-occurrences the seed describer learnt, which counts on the unbiased IC scenes would miss.

    python benchmarks/self_improvement.py                        # the README's seed-0 table (about 7 min on 2 cores)
    python benchmarks/self_improvement.py --seeds 0,1,2,3,4      # + mean and 95% interval over 5 seeds (about 35 min)
    python benchmarks/self_improvement.py --quick                # the reduced run CI checks (about a minute)

Seed 0's table gives every change against the seed model (precision, recall, POPE adversarial
accuracy) with a paired bootstrap interval over the IC scenes (benchmarks/intervals.py); with
several seeds, a second table gives each row's mean and Student-t 95% interval across seeds.
POPE asks several questions per scene; `--pope-images N` asks them on the first N IC scenes only
(--quick: 200, which keeps the CI run short). `--sft-weight W` adds a row family: the full
method with an SFT term on the chosen answers (train dpo.sft_weight), for the round-2 collapse.


Every variant reuses `jfhub loop` (judgefree_hub.loop) and writes its folder under --out, each
row's POPE report in its round's eval-pope/ (`jfhub eval --bench pope`'s files), so a rerun
with the same settings only prints the table again.
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

import intervals  # noqa: E402  (benchmarks/intervals.py, next to this script)

from judgefree_hub.errors import JfhubError  # noqa: E402
from judgefree_hub.evals.pope import SETTINGS as POPE_SETTINGS  # noqa: E402
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


FULL_ROUNDS = ("full", "full + SFT term")  # the variants run for every round; the others for round 1


IC_FOLDERS = {"eval": ("world-ic", "ic"), "train": ("world-ic-train", "ic-train")}
"""split -> (exported scenes, IC build) folder names in a seed folder."""


def build_ic(out: Path, n: int, split: str = "eval") -> Path:
    """World scenes 0..n-1 of `split`, built with the IC builder: "eval" is the held-out IC set
    every model is scored on; "train" see build_counts_ic."""
    from judgefree_hub.builders import BUILDERS

    from judgefree_hub.recipe import recipe_from_dict
    from judgefree_hub.world import WorldConfig, export_ic_set

    scenes, build = IC_FOLDERS[split]
    src = out / scenes
    if not (src / "manifest.jsonl").is_file():
        export_ic_set(src, WorldConfig(seed=0, image_size=96), n, split=split)
    raw = json.loads((ROOT / "recipes" / "world-ic.json").read_text())
    raw["ic"]["manifest"] = f"{scenes}/manifest.jsonl"
    raw["version"] = f"0.1.0-n{n}"
    if split != "eval":
        raw["description"] = (f"{n} scenes of jfhub's procedural shape world, {split} split (planted co-occurrences), "
                              f"with exact elements: POPE's counts in benchmarks/self_improvement.py.")
    recipe = recipe_from_dict(raw, out, "world-ic")
    return BUILDERS.get("ic")(recipe, out / build, show_progress=False).root


def build_counts_ic(out: Path, n: int) -> Path:
    """POPE's counts set: world train-split scenes, the distribution the seed describer learnt
    its co-occurrences from (the IC scenes, from the unbiased eval split, do not show them)."""
    return build_ic(out, n, split="train")


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


def sft_train_settings(args) -> dict:
    train = train_settings(args)
    train["dpo"]["sft_weight"] = args.sft_weight
    return train


Rows = list[tuple[str, list[RoundResult], Path]]
POPE_DIR = "eval-pope"
QUICK_POPE_IMAGES = 200


def pope_dir(loop_dir: Path, r: int) -> Path:
    return loop_dir / f"round-{r}" / POPE_DIR


def run_pope(model: str, out: Path, ic: Path, items: list, counts: Path) -> None:
    """POPE of one row's model on `items` (the first IC scenes) with the counts of `counts`,
    written to `out` as `jfhub eval --bench pope` writes it; kept when its summary.json is there
    for as many scenes."""
    from judgefree_hub.evals import EvalOptions, Responses, evaluate
    from judgefree_hub.ic import eval_model_spec

    done = out / "summary.json"
    if done.is_file() and json.loads(done.read_text())["counts"]["images"] == len(items):
        return
    report = evaluate("pope", str(ic), None, Responses(model=eval_model_spec(model, None, "cpu", 50, 8)),
                      EvalOptions(seed=0, pope_counts=str(counts)), items=items)
    report.write(out)


def run(args, seed: int, out: Path) -> Rows:
    """Every variant of one seed (its own folder: finished rounds are reused), then POPE of
    every table row."""
    from judgefree_hub.ic import load_ic

    out.mkdir(parents=True, exist_ok=True)
    ic = build_ic(out, args.eval_images)
    counts = build_counts_ic(out, args.eval_images)
    args = argparse.Namespace(**{**vars(args), "seed": seed})
    rows = []
    recipes = variants(seed, args.images)
    if args.sft_weight:
        recipes["full + SFT term"] = copy.deepcopy(recipes["full"])
    for name, recipe in recipes.items():
        if args.quick and name != "full":
            continue
        rounds = args.rounds if name in FULL_ROUNDS else 1
        train = sft_train_settings(args) if name == "full + SFT term" else train_settings(args)
        spec = LoopSpec(recipe=recipe, recipe_dir=ROOT / "recipes", recipe_label=f"variant {name!r}",
                        ic=str(ic), ic_revision=None, rounds=rounds,
                        out_dir=out / name.replace(" ", "_").replace("=", "").replace(".", "").replace("+", "plus"),
                        train=train, eval_prompt=PROMPT, eval_max_new_tokens=64,
                        eval_batch_size=50, eval_device="cpu")
        t0 = time.perf_counter()
        results = run_loop(spec, echo=(lambda m: print("  " + m, flush=True)) if args.verbose else None)
        print(f"seed {seed}, {name}: {time.perf_counter() - t0:.0f}s", flush=True)
        rows.append((name, results, spec.out_dir))
    t0 = time.perf_counter()
    items = load_ic(str(ic))[:args.pope_images]
    for _, r, loop_dir in table_rows(rows):
        run_pope(r.model, pope_dir(loop_dir, r.round), ic, items, counts)
    print(f"seed {seed}, POPE: {time.perf_counter() - t0:.0f}s", flush=True)
    return rows


def table_rows(rows: Rows) -> list[tuple[str, RoundResult, Path]]:
    """(label, round result, loop folder) in table order: the seed, round 1 of every variant,
    then the later rounds of the variants that run them."""
    name, results, loop_dir = rows[0]
    out = [("seed (demo:world-llava)", results[0], loop_dir)]
    for name, results, loop_dir in rows:
        out.append(("round 1, full method" if name == "full" else f"round 1, {name}", results[1], loop_dir))
    for name, results, loop_dir in rows:
        if name in FULL_ROUNDS:
            label = "full method" if name == "full" else name
            out += [(f"round {r.round}, {label}", r, loop_dir) for r in results[2:]]
    return out


def per_image(loop_dir: Path, r: int) -> list[dict]:
    return [json.loads(line) for line in (loop_dir / f"round-{r}" / "eval" / "per_image.jsonl").read_text().splitlines()]


def pope_records(loop_dir: Path, r: int) -> list[dict]:
    return [json.loads(line) for line in (pope_dir(loop_dir, r) / "per_question.jsonl").read_text().splitlines()]


def row_values(r: RoundResult, loop_dir: Path, manifest: Path) -> dict[str, float]:
    """What the tables show of one evaluated model: the IC scores, the planted-bias rates and
    POPE's accuracy per setting (pope_<setting>)."""
    partner, other = cooccurrence_rates(loop_dir / f"round-{r.round}" / "eval", manifest)
    pope = json.loads((pope_dir(loop_dir, r.round) / "summary.json").read_text())["settings"]
    return {**{k: r.scores[k] for k in intervals.METRICS}, "partner": partner, "other": other,
            **{f"pope_{s}": pope[s]["accuracy"] for s in POPE_SETTINGS}}


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


POPE_HEAD = [f"POPE {s}" for s in POPE_SETTINGS]


def table(rows: Rows, manifest: Path, resamples: int = 2000) -> str:
    """One seed: every row's scores; the change of precision, recall and POPE adversarial
    accuracy against the seed model, with a paired bootstrap 95% interval over the IC scenes."""
    head = ["model", "pairs", "reversed", "precision", "recall", "F1", "CHAIR-i", "CHAIR-s",
            "absent partner named", "other absent shape named", *POPE_HEAD, "d precision [95%]", "d recall [95%]",
            "d POPE adversarial [95%]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    listed = table_rows(rows)
    _, seed, seed_dir = listed[0]
    before = intervals.ImageCounts.from_rows(per_image(seed_dir, 0))
    before_pope = intervals.AnswerCounts.from_records(pope_records(seed_dir, 0), "adversarial")
    for label, r, loop_dir in listed:
        v = row_values(r, loop_dir, manifest)
        d = ["", "", ""]
        if r.round:
            after = intervals.ImageCounts.from_rows(per_image(loop_dir, r.round), before.ids)
            boot = intervals.paired_bootstrap(before, after, resamples=resamples, seed=0)
            after_pope = intervals.AnswerCounts.from_records(pope_records(loop_dir, r.round), "adversarial",
                                                             before_pope.ids)
            pope = intervals.paired_bootstrap(before_pope, after_pope, resamples=resamples, seed=0)
            d = [boot["precision"].fmt(signed=True), boot["recall"].fmt(signed=True),
                 pope["accuracy"].fmt(signed=True)]
        rev = "" if r.pairs is None else f"{pct(r.reversed_share)}%"
        shown = ("precision", "recall", "f1", "chair_i", "chair_s", "partner", "other",
                 *(f"pope_{s}" for s in POPE_SETTINGS))
        cells = [label, "" if r.pairs is None else str(r.pairs), rev, *(pct(v[k]) for k in shown), *d]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_table(per_seed: dict[int, Rows], manifest_of: dict[int, Path]) -> str:
    """Several seeds: each row's mean and Student-t 95% interval across seeds, and the same for
    its change against the seed model (paired by seed)."""
    keys = ("precision", "recall", "f1", "chair_i", "chair_s", "partner", *(f"pope_{s}" for s in POPE_SETTINGS))
    changes = ("precision", "recall", "pope_adversarial")
    head = ["model (n seeds)", "precision", "recall", "F1", "CHAIR-i", "CHAIR-s", "absent partner named",
            *POPE_HEAD, "d precision", "d recall", "d POPE adversarial"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    values: dict[str, list[dict[str, float]]] = {}
    for seed, rows in per_seed.items():
        listed = table_rows(rows)
        base = row_values(listed[0][1], listed[0][2], manifest_of[seed])
        for label, r, loop_dir in listed:
            v = row_values(r, loop_dir, manifest_of[seed])
            v.update({f"d_{k}": v[k] - base[k] for k in changes})
            values.setdefault(label, []).append(v)
    for label, vs in values.items():
        cells = [f"{label} ({len(vs)})"]
        cells += [intervals.t_interval([v[k] for v in vs]).fmt() for k in keys]
        cells += ["" if label.startswith("seed") else intervals.t_interval([v[f"d_{k}"] for v in vs]).fmt(signed=True)
                  for k in changes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers, e.g. 0,1,2,3,4; got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds takes distinct integers >= 0; got {text!r}")
    return seeds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench-out/self_improvement",
                   help="Folder for the runs, one sub-folder per seed (seed-N); finished rounds are reused.")
    p.add_argument("--seeds", type=seed_list, default=[0],
                   help="Recipe and DPO seeds, comma-separated (the models' own seeds are fixed); default 0.")
    p.add_argument("--images", type=int, default=256, help="Unlabelled scenes per round.")
    p.add_argument("--eval-images", type=int, default=1000, help="IC scenes scored per round.")
    p.add_argument("--rounds", type=int, default=3, help="Rounds of the full method.")
    p.add_argument("--beta", type=float, help="DPO beta (default: configs/train/world-dpo.json)")
    p.add_argument("--lr", type=float, help="DPO learning rate (default: configs/train/world-dpo.json)")
    p.add_argument("--epochs", type=float, help="DPO epochs per round (default: configs/train/world-dpo.json)")
    p.add_argument("--sft-weight", type=float, default=0.0,
                   help="Also run the full method with this SFT weight on the chosen answers, every round (0: not run).")
    p.add_argument("--resamples", type=int, default=2000, help="Bootstrap resamples for seed 0's intervals.")
    p.add_argument("--pope-images", type=int,
                   help=f"POPE on the first N IC scenes only (default: all; --quick: {QUICK_POPE_IMAGES}).")
    p.add_argument("--quick", action="store_true", help="Full method only, one round, the first seed (the CI check).")
    p.add_argument("--verbose", action="store_true", help="Print each loop step as it runs.")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seeds = 1, args.seeds[:1]
        if args.pope_images is None:
            args.pope_images = QUICK_POPE_IMAGES
    if args.pope_images is not None and args.pope_images < 1:
        p.error(f"--pope-images takes a number of scenes >= 1, got {args.pope_images}")
    from judgefree_hub.output.progress import quiet_dependencies

    quiet_dependencies()  # the table is the output; the libraries' bars are not
    t0 = time.perf_counter()
    per_seed, manifest_of = {}, {}
    try:
        for seed in args.seeds:
            out = Path(args.out) / f"seed-{seed}"
            per_seed[seed] = run(args, seed, out)
            manifest_of[seed] = out / "world-ic" / "manifest.jsonl"
    except JfhubError as e:  # e.g. --out holds a run with other settings: one line, as jfhub says it
        print(f"Error: {e}", file=sys.stderr)
        return 2
    first = args.seeds[0]
    print()
    print(table(per_seed[first], manifest_of[first], args.resamples))
    pope_n = min(args.pope_images or args.eval_images, args.eval_images)
    print(f"\nseed {first}, {args.images} scenes per round, {args.eval_images} IC scenes; "
          f"d: change against the seed model, [95% paired bootstrap interval over the IC scenes]; "
          f"POPE: accuracy on {pope_n} IC scenes, popular and adversarial counted on {args.eval_images} "
          f"train-split scenes")
    if len(args.seeds) > 1:
        print()
        print(seeds_table(per_seed, manifest_of))
        print(f"\nseeds {','.join(map(str, args.seeds))}: mean [95% Student-t interval across seeds]")
    print(f"\n{time.perf_counter() - t0:.0f}s in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
