"""What an image shows, guessed from its file: a protoplanetary disk, a strong lens, or unknown."""

from __future__ import annotations

from core.io.meta import ImageMeta


def guess_kind(meta: ImageMeta, label: str | None = None) -> str | None:
    """"disk", "lens" or None (unknown). A class label (from a zip's class folder) decides; else a FITS
    beam or a Jy unit says disk, a NumPy file says lens, any other FITS file says disk."""
    from core.data.datasets import DISK_CLASSES, LENS_CLASSES  # here: datasets imports torch

    if label in LENS_CLASSES:
        return "lens"
    if label in DISK_CLASSES:
        return "disk"
    if meta.beam is not None or (meta.bunit or "").lower().startswith("jy"):
        return "disk"
    if meta.source_format in ("npy", "npz"):
        return "lens"
    return "disk" if meta.source_format == "fits" else None
