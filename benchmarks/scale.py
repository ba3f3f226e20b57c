"""Scale out, measured: pairs/s of one build on 1 and 2 processes, and peak memory at 1x and 10x
samples. Every figure is a real `jfhub build` of the offline demo recipe (the shipped world
models), run as a user runs it; the ratios compare runs made here, in the same invocation.

    python benchmarks/scale.py                 # 512 samples; memory at 512 and 5120 (about 5 min on 2 cores)
    python benchmarks/scale.py --samples 64    # quicker

- Processes: `torchrun --standalone --nproc-per-node 2` (gloo, CPU) against one process, both
  with one thread per process (torchrun's default), so that 2 processes on 2 cores is the
  data-parallel case; one process with 2 threads is printed too, as what one process gets from
  the same cores. Pairs/s counts the whole command (start, model load, build, card).
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
    ap.add_argument("--samples", type=int, default=512, help="Samples of the speed runs and of the 1x memory run.")
    ap.add_argument("--memory-factor", type=int, default=10, help="The larger memory run has this many times more.")
    ap.add_argument("--processes", type=int, default=2, help="Processes of the torchrun run.")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="jfhub-scale-") as tmp:
        tmp = Path(tmp)
        recipe = recipe_with(args.samples, tmp)
        rows = []
        for label, cmd, threads in [
            ("1 process, 1 thread", build_cmd(recipe, tmp / "p1"), 1),
            (f"{args.processes} processes (torchrun, gloo), 1 thread each",
             [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.processes),
              *build_cmd(recipe, tmp / "p2")[1:]], 1),
            ("1 process, 2 threads", build_cmd(recipe, tmp / "t2"), 2),
        ]:
            seconds, _, out = peak_rss(cmd, threads)
            rows.append((label, *pairs_of(out), seconds))
        same = _tree(tmp / "p1") == _tree(tmp / "p2")
        base, base_build = rows[0][1] / rows[0][3], rows[0][1] / rows[0][2]
        print(f"scale: the demo recipe at {args.samples} samples ({os.cpu_count()} CPU cores); pairs/s of "
              f"the whole command, and of the build alone (models loaded to manifest written)")
        for label, pairs, build_s, seconds in rows:
            rate, build_rate = pairs / seconds, pairs / build_s
            print(f"  {label:<45} {pairs:4d} pairs: command {seconds:5.1f} s = {rate:5.2f} pairs/s ({rate / base:.2f}x)"
                  f", build {build_s:5.1f} s = {build_rate:5.2f} pairs/s ({build_rate / base_build:.2f}x)")
        print(f"  {args.processes} processes wrote the same bytes as 1: {'yes' if same else 'NO'}")

        mem = []
        for n in (args.samples, args.samples * args.memory_factor):
            seconds, rss, out = peak_rss(build_cmd(recipe_with(n, tmp), tmp / f"m{n}"), 2)
            mem.append((n, rss, seconds, pairs_of(out)[0]))
        print("peak RSS of a one-process build (2 threads):")
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
