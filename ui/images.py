"""Astronomical display stretches and image figures with a colour bar in the image's own units.

A stretch maps pixel values to [0, 1] for display: an interval (min-max, or IRAF's z-scale)
then a curve from astropy.visualization (linear, log, sqrt, asinh). The viewer (ui/viewer)
labels the colour bar with the original values (inverse of the stretch), so a log-stretched
Jy/beam image still reads in Jy/beam. Other pages call `stretched_figure`.
"""

from __future__ import annotations

import numpy as np
from astropy.visualization import (
    AsinhStretch,
    LinearStretch,
    LogStretch,
    MinMaxInterval,
    SqrtStretch,
    ZScaleInterval,
)

STRETCHES = ("linear", "log", "sqrt", "asinh", "z-scale")
STRETCH_HELP = (
    "linear: min to max; log and sqrt lift faint emission; asinh is linear near zero and "
    "logarithmic for bright pixels; z-scale (IRAF) clips to the range around the background."
)


def _curve(stretch: str):
    curves = {
        "linear": LinearStretch(),
        "log": LogStretch(a=1000.0),
        "sqrt": SqrtStretch(),
        "asinh": AsinhStretch(a=0.02),
        "z-scale": LinearStretch(),
    }
    if stretch not in curves:
        raise ValueError(f"Unknown stretch {stretch!r}; choose one of {', '.join(STRETCHES)}.")
    return curves[stretch]


def stretch_limits(image: np.ndarray, stretch: str) -> tuple[float, float]:
    """(vmin, vmax) in the image's units: min-max, or z-scale for "z-scale"."""
    interval = ZScaleInterval() if stretch == "z-scale" else MinMaxInterval()
    vmin, vmax = (float(v) for v in interval.get_limits(np.asarray(image, dtype=np.float32)))
    if not vmax > vmin:
        vmax = vmin + 1.0
    return vmin, vmax


def stretch_image(
    image: np.ndarray, stretch: str, limits: tuple[float, float] | None = None
) -> np.ndarray:
    """The image mapped to [0, 1] (float32) by the interval `limits` and the stretch curve."""
    vmin, vmax = limits if limits is not None else stretch_limits(image, stretch)
    scaled = np.clip((np.asarray(image, dtype=np.float32) - vmin) / (vmax - vmin), 0.0, 1.0)
    return np.asarray(_curve(stretch)(scaled, clip=True), dtype=np.float32)


def stretched_figure(
    image: np.ndarray,
    stretch: str,
    title: str = "",
    *,
    bunit: str | None = None,
    limits: tuple[float, float] | None = None,
    height: int = 420,
    meta=None,
):
    """The image in the viewer (ui/image_figures): true pixel coordinates, colour bar and hover in its own
    units; "z-scale" is the linear stretch over the z-scale cut. `meta` adds RA/Dec and the beam."""
    from ui.image_figures import View, view_figure

    view = View(stretch="linear", cut="z-scale") if stretch == "z-scale" else View(stretch=stretch)
    _curve(stretch)  # an unknown stretch is a ValueError here as before
    return view_figure(image, view, meta=meta, title=title, bunit=bunit, height=height, limits=limits)


def pixel_statistics(image: np.ndarray) -> dict[str, float]:
    """Summary numbers in the image's units; the robust noise is 1.4826 x the median absolute deviation."""
    data = np.asarray(image, dtype=np.float64)
    median = float(np.median(data))
    robust_sigma = 1.4826 * float(np.median(np.abs(data - median)))
    stats = {
        "min": float(data.min()),
        "max": float(data.max()),
        "mean": float(data.mean()),
        "median": median,
        "std": float(data.std()),
        "robust noise (1.4826 MAD)": robust_sigma,
    }
    if robust_sigma > 0:
        stats["peak / robust noise"] = (stats["max"] - median) / robust_sigma
    return stats
