"""Plain values: the one sanitiser for JSON files, CLI output and checkpoint metadata."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np


def to_plain(value: Any) -> Any:
    """Recursively convert dataclasses, tuples, Paths and numpy scalars to JSON-like values.

    Non-finite floats (also numpy ones) become None, so `json.dumps` writes strict JSON.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return str(value)  # also str subclasses such as torch's TorchVersion
    if value is None or isinstance(value, int | float | bool):
        return value
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported; never import it here
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1:
        return to_plain(value.item())
    return str(value)
