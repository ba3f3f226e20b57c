"""Every random draw comes from (recipe seed, sample key, purpose).

Deriving per-sample generators from names, never from a position or a shared stream, is what
makes a resumed or re-batched build draw exactly the same ratios, noise and tokens.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *parts: str) -> int:
    """A 63-bit seed from the root seed and any number of names."""
    h = hashlib.sha256(str(seed).encode())
    for part in parts:
        h.update(b"\x00" + part.encode())
    return int.from_bytes(h.digest()[:8], "big") >> 1


def rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *parts))
