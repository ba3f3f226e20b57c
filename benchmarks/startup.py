"""Start-up cost of the light paths: `import judgefree_hub` and `jfhub validate`.

Both must stay free of model code (tests/unit/test_layout.py checks which modules load); this
prints how long they take, median of N fresh processes, against `python -c pass` and against
`import torch` measured in the same run, so the figures compare across machines.

    python benchmarks/startup.py [--runs 7] [--recipe recipes/demo.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per command (median taken)")
    ap.add_argument("--recipe", default="recipes/demo.json", help="recipe that `jfhub validate` checks")
    args = ap.parse_args()
    py = sys.executable
    jfhub = [str(Path(py).with_name("jfhub"))] if Path(py).with_name("jfhub").is_file() else [py, "-m", "judgefree_hub.cli"]
    rows = [
        ("python -c pass (baseline)", [py, "-c", "pass"]),
        ("import judgefree_hub", [py, "-c", "import judgefree_hub"]),
        (f"jfhub validate {args.recipe}", [*jfhub, "validate", args.recipe]),
        ("import torch (for scale)", [py, "-c", "import torch"]),
    ]
    base = None
    for label, cmd in rows:
        s = median_seconds(cmd, args.runs)
        base = base or s
        print(f"{label:40s} {s * 1000:8.0f} ms  ({s / base:5.1f}x the baseline)")


if __name__ == "__main__":
    main()
