"""What decides the bits of a float computation on this machine, so results can be compared fairly.

Training the demo models or building a recipe is deterministic for a given fingerprint, but the
CPU's vector width (AVX2 vs AVX-512), its vendor (MKL takes other paths on AMD and Intel), the
thread count and the library versions all change the order of float reductions (measured:
each of them alone changes the world models' weights). Tests compare bytes when the
fingerprint matches the one a reference was made on, and what is meant to be stable otherwise.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fingerprint(threads: int | None = None) -> dict[str, str]:
    """The numerics a CPU computation runs with; `threads` overrides torch's current count."""
    import PIL
    import torch

    return {
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": str(threads if threads is not None else torch.get_num_threads()),
        "torch": torch.__version__,
        "pillow": PIL.__version__,
    }
