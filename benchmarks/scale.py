"""Scale out, measured: pairs/s of one build on 1 and 2 processes, and peak memory at 1x and 10x
samples. Every figure is a real `jfhub build` of the offline demo recipe (the shipped world
models), run as a user runs it; the ratios compare runs made here, in the same invocation.

    python benchmarks/scale.py                 # speed at 256 and 2048 samples, memory at 256 and 2560 (~5 min)
    python benchmarks/scale.py --samples 64    # quicker

- Processes: `torchrun --standalone --nproc-per-node 2` (gloo, CPU) against one process, both
  with one thread per process (torchrun's default), so that 2 processes on 2 cores is the
  data-parallel case; one process with 2 threads is printed too, as what one process gets from
  the same cores. Pairs/s counts the whole command (start, model load, build, card), at N and
  8N samples; the rate of the extra 7N samples is what a long build gets, fixed costs aside.
- Memory: the peak resident set (ru_maxrss of that process) of a one-process build at N and 10N
  samples, each from an empty output folder. Flat memory means the 10N figure is not 10 times
  the N one: nothing per sample is kept beyond the shard being built.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "demo.json"


def recipe_with(samples: int, folder: Path) -> Path:
    raw = json.loads(RECIPE.read_text())
    raw["sources"][0]["count"] = samples
    raw["version"] = f"{raw['version']}-scale{samples}"
    path = folder / f"demo-{samples}.json"
    path.write_text(json.dumps(raw))
    return path


def build_cmd(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "judgefree_hub.cli", "build", str(recipe), "--out", str(out), "--no-progress"]


def pairs_of(stdout: str) -> tuple[int, float]:
    """Pairs, and the seconds jfhub reports for the build (from loading the models to the
    manifest; without the interpreter's start and imports)."""
    m = re.search(r"^built \S+: (\d+) pairs.* in ([\d.]+)s$", stdout, re.M)
    if not m:
        sys.exit(f"no 'built ...: N pairs ... in Xs' line in:\n{stdout}")
    return int(m.group(1)), float(m.group(2))


def peak_rss(cmd: list[str], threads: int) -> tuple[float, int, str]:
    """Wall seconds, the peak RSS (bytes) of `cmd`'s own process (wait4's rusage), its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, usage.ru_maxrss * 1024, text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=256, help="Samples of the short speed runs and of the 1x memory run.")
    ap.add_argument("--longer", type=int, default=8, help="The long speed runs have this many times more samples.")
    ap.add_argument("--memory-factor", type=int, default=10, help="The larger memory run has this many times more.")
    ap.add_argument("--processes", type=int, default=2, help="Processes of the torchrun run.")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="jfhub-scale-") as tmp:
        tmp = Path(tmp)
        sizes = (args.samples, args.samples * args.longer)
        configs = [("1 process, 1 thread", 1, 1), (f"{args.processes} processes (torchrun), 1 thread each",
                                                  args.processes, 1), ("1 process, 2 threads", 1, 2)]
        runs = {}  # (config, samples) -> (pairs, seconds)
        for n in sizes:
            recipe = recipe_with(n, tmp)
            for c, (_, procs, threads) in enumerate(configs):
                out = tmp / f"c{c}-{n}"
                cmd = build_cmd(recipe, out)
                if procs > 1:
                    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           str(procs), *cmd[1:]]
                seconds, _, text = peak_rss(cmd, threads)
                runs[c, n] = (pairs_of(text)[0], seconds)
        same = all(_tree(tmp / f"c0-{n}") == _tree(tmp / f"c1-{n}") for n in sizes)
        print(f"scale: `jfhub build` of the demo recipe, {os.cpu_count()} CPU cores. pairs/s of the whole command "
              f"at {sizes[0]} and {sizes[1]} samples, and the rate of the extra samples (start, model load and "
              f"finish cancel out): what a long build gets")
        marginal = {}
        for c, (label, _, _) in enumerate(configs):
            (p1, s1), (p2, s2) = runs[c, sizes[0]], runs[c, sizes[1]]
            marginal[c] = (p2 - p1) / (s2 - s1)
            print(f"  {label:<40} {p1:4d} pairs in {s1:5.1f} s = {p1 / s1:5.2f} pairs/s | {p2:5d} pairs in "
                  f"{s2:5.1f} s = {p2 / s2:5.2f} pairs/s | extra {marginal[c]:5.2f} pairs/s "
                  f"({marginal[c] / marginal[0]:.2f}x)")
        print(f"  {args.processes} processes wrote the same bytes as 1 (both sizes): {'yes' if same else 'NO'}")

        mem = []
        for n in (args.samples, args.samples * args.memory_factor):
            seconds, rss, out = peak_rss(build_cmd(recipe_with(n, tmp), tmp / f"m{n}"), 1)
            mem.append((n, rss, seconds, pairs_of(out)[0]))
        print("peak RSS of a one-process build (1 thread):")
        for n, rss, seconds, pairs in mem:
            print(f"  {n:6d} samples ({pairs} pairs, {seconds:.0f} s): {rss / 2**20:7.1f} MiB")
        (n1, r1, _, _), (n2, r2, _, _) = mem
        print(f"  {n2 // n1}x the samples: {r2 / r1:.3f}x the peak RSS "
              f"({(r2 - r1) / 2**10 / max(n2 - n1, 1):+.2f} KiB per extra sample)")
        if not same:
            sys.exit(1)


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


if __name__ == "__main__":
    main()
