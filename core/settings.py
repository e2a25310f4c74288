"""Deployment settings from the environment: a laptop by default, a hosted demo with EQUISCOPE_HOSTED=1.

Environment variables (all optional):
    EQUISCOPE_HOSTED=1             public demo: stricter limits below, the Train page hidden or capped
    EQUISCOPE_MAX_PIXELS=N         largest image (H * W pixels) read from an upload or a file
    EQUISCOPE_MAX_FILES=N          images the session's image list holds (uploads, zip members, examples, simulations)
    EQUISCOPE_MAX_UPLOAD_MB=N      largest upload in MB; keep equal to server.maxUploadSize in
                                   .streamlit/config.toml (Streamlit enforces that one first)
The upload size itself is enforced by Streamlit (`server.maxUploadSize`); `max_upload_mb` is
what the app tells the user.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    hosted: bool = False  # serving a public demo
    max_pixels: int = 4096 * 4096  # largest H * W read by core.io.read_image
    max_files_per_session: int = 100  # images one browser session's image list holds at once
    max_upload_mb: int = 50  # per file; mirrors server.maxUploadSize
    train_max_epochs: int = 100  # cap on a run started from the browser
    train_max_images: int = 4000  # cap on images simulated for such a run
    train_max_minutes: float | None = None  # wall-clock cap of such a run (None = no cap)


HOSTED = Settings(
    hosted=True,
    max_pixels=2048 * 2048,
    max_files_per_session=40,
    max_upload_mb=50,
    train_max_epochs=3,
    train_max_images=64,
    train_max_minutes=3.0,
)


def _int_env(environ, name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(
            f"The environment variable {name} must be a whole number, not {text!r}."
        ) from exc
    if value <= 0:
        raise ValueError(f"The environment variable {name} must be positive, not {value}.")
    return value


def load_settings(environ=None) -> Settings:
    """Settings for the given environment mapping (default: os.environ)."""
    environ = os.environ if environ is None else environ
    hosted = environ.get("EQUISCOPE_HOSTED", "").strip().lower() in TRUE
    base = HOSTED if hosted else Settings()
    return Settings(
        hosted=hosted,
        max_pixels=_int_env(environ, "EQUISCOPE_MAX_PIXELS", base.max_pixels),
        max_files_per_session=_int_env(environ, "EQUISCOPE_MAX_FILES", base.max_files_per_session),
        max_upload_mb=_int_env(environ, "EQUISCOPE_MAX_UPLOAD_MB", base.max_upload_mb),
        train_max_epochs=base.train_max_epochs,
        train_max_images=base.train_max_images,
        train_max_minutes=base.train_max_minutes,
    )


@functools.cache
def settings() -> Settings:
    """The process's settings, read once from the environment."""
    return load_settings()
