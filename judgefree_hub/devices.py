"""Device and dtype choice, shared by the generator model and the verifier."""

from __future__ import annotations

import torch

from .errors import ModelLoadError


def pick_device(device: str) -> torch.device:
    """'auto' = the current GPU when there is one, else cpu; an explicit cuda without CUDA is an error."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r}: CUDA is not available here; use auto or cpu")
    if device == "cuda":  # the current GPU: each process of a launch has its own (distributed.bind_device)
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' = bfloat16 on a GPU that supports it, else float32 (CPUs are slow in half)."""
    if dtype == "auto":
        gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if gpu_bf16 else torch.float32
    return getattr(torch, dtype)
