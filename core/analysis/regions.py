"""Region statistics and sky positions of an image, as DS9's region and pixel tables give them.

A region is a box or a circle in 0-based pixel coordinates (x = column, y = row, the viewer's axes).
`region_stats` sums and averages the pixels inside it; when the unit is Jy/beam and the beam and
pixel scale are known it also gives the flux density in Jy (sum / beam area in pixels). `sexagesimal`
writes a sky position as astropy's `SkyCoord.to_string("hmsdms")` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPES = ("box", "circle")
FWHM_AREA = math.pi / (4 * math.log(2))  # area of a Gaussian beam = FWHM_AREA * bmaj * bmin


@dataclass(frozen=True)
class Region:
    """A box (`size` = side) or a circle (`size` = radius) centred on pixel (`x`, `y`)."""

    shape: str
    x: float
    y: float
    size: float

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean (H, W): the pixels whose centres lie inside the region."""
        if self.shape not in SHAPES:
            raise ValueError(f"Unknown region shape {self.shape!r}; choose one of {', '.join(SHAPES)}.")
        if not self.size > 0:
            raise ValueError(f"The region's size must be positive, not {self.size}.")
        yy, xx = np.ogrid[: shape[0], : shape[1]]
        if self.shape == "circle":
            return (xx - self.x) ** 2 + (yy - self.y) ** 2 <= self.size**2
        half = self.size / 2
        return (np.abs(xx - self.x) <= half) & (np.abs(yy - self.y) <= half)

    def outline(self) -> dict:
        """A plotly shape (pixel edges, data coordinates of the first axes) drawing the region."""
        if self.shape == "circle":
            r = self.size
            return {"type": "circle", "x0": self.x - r, "x1": self.x + r, "y0": self.y - r, "y1": self.y + r}
        half = self.size / 2
        return {"type": "rect", "x0": self.x - half, "x1": self.x + half, "y0": self.y - half, "y1": self.y + half}


def beam_area_pixels(beam, pixel_scale_arcsec: float | None) -> float | None:
    """Area of the Gaussian beam (bmaj, bmin FWHM in arcsec, bpa) in pixels, or None when not known."""
    if not beam or not pixel_scale_arcsec or pixel_scale_arcsec <= 0:
        return None
    bmaj, bmin = float(beam[0]), float(beam[1])
    if not (bmaj > 0 and bmin > 0):
        return None
    return FWHM_AREA * bmaj * bmin / pixel_scale_arcsec**2


def is_jy_per_beam(bunit: str | None) -> bool:
    text = (bunit or "").replace(" ", "").lower()
    return text in ("jy/beam", "jy/bm", "jybeam-1", "jy.beam-1", "jy/beam-1")


def region_stats(image: np.ndarray, region: Region, *, bunit: str | None = None, beam=None,
                 pixel_scale_arcsec: float | None = None) -> dict:
    """n pixels, sum, mean, std, min, max, peak position (x, y) of the pixels inside `region`, and
    `flux_jy` (sum / beam area in pixels) for a Jy/beam image with a known beam and pixel scale
    (else None, with `flux_note` saying why)."""
    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"Region statistics need a 2-D image, not one of shape {data.shape}.")
    inside = region.mask(data.shape)
    n = int(inside.sum())
    if n == 0:
        raise ValueError("The region holds no pixel centre: move it onto the image or make it larger.")
    values = data[inside]
    ys, xs = np.nonzero(inside)
    k = int(np.argmax(values))
    stats = {"n": n, "sum": float(values.sum()), "mean": float(values.mean()), "std": float(values.std()),
             "min": float(values.min()), "max": float(values.max()), "peak": (int(xs[k]), int(ys[k])),
             "flux_jy": None, "flux_note": None}
    area = beam_area_pixels(beam, pixel_scale_arcsec)
    if not is_jy_per_beam(bunit):
        stats["flux_note"] = f"no flux in Jy: the unit is {bunit or 'not given'}, not Jy/beam"
    elif area is None:
        stats["flux_note"] = "no flux in Jy: the header gives no beam or no pixel scale"
    else:
        stats["flux_jy"] = stats["sum"] / area
        stats["beam_pixels"] = area
    return stats


def sexagesimal(coord, precision: int = 3) -> str:
    """RA and Dec as `SkyCoord.to_string("hmsdms")` writes them (ICRS), e.g. "05h35m17.300s -05d23m28.000s"."""
    return coord.icrs.to_string("hmsdms", precision=precision)
