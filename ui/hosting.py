"""The hosted-demo switch (`EQUISCOPE_HOSTED=1`, read by core.settings) and the training caps."""

from __future__ import annotations

from core.settings import settings


def is_hosted() -> bool:
    """True when the app serves a public demo: app.py then leaves the Train page out."""
    return settings().hosted


def train_limits() -> dict:
    """Upper bounds for a run started from the browser: epochs, images simulated, minutes (None = no cap)."""
    s = settings()
    return {"epochs": s.train_max_epochs, "images": s.train_max_images, "minutes": s.train_max_minutes}
