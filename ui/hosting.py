"""The hosted-demo switch: `EQUISCOPE_HOSTED=1` hides the Train page and caps training."""

from __future__ import annotations

import os


def is_hosted() -> bool:
    """True when the app serves a public demo (environment variable EQUISCOPE_HOSTED=1)."""
    try:
        from core.settings import settings
    except ImportError:
        return os.environ.get("EQUISCOPE_HOSTED", "").strip().lower() in {"1", "true", "yes", "on"}
    return bool(settings().hosted)


def train_limits() -> dict:
    """Upper bounds for a run started from the browser (epochs, images simulated, minutes)."""
    if is_hosted():
        return {"epochs": 3, "images": 64, "minutes": 3.0}
    return {"epochs": 100, "images": 4000, "minutes": None}
