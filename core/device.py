"""Device choice: CUDA when present, otherwise CPU."""

from __future__ import annotations

import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """`prefer` may be "cpu", "cuda" or None (auto)."""
    if prefer == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if prefer == "cuda":
        raise ValueError("CUDA was requested but no CUDA device is available; use --device cpu.")
    return torch.device("cpu")
