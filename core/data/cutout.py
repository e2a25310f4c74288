"""Cut the source out of an observer's image before a disk model sees it.

An ALMA image or a sky model usually holds a disk in the middle of a larger field; putting the
whole frame on the 129-px grid shrinks the disk to a few pixels and lets empty sky decide the
metrics. `cutout` finds the source and crops a square around it (`find_source`), or takes the
box the user gives (`CutoutBox`, in pixels, arcsec or au), then resamples the crop to the model
grid and min-max normalises it like `core.data.preprocess.prepare`.

Steps, each reported in `Cutout.notes`:
1. Pixels that are NaN / Inf (or outside the field, or masked by the caller) are invalid: they
   are set to the background level for the model and excluded from metrics (`valid` is False
   there), instead of being filled with a value that looks like signal.
2. Background and noise: sigma-clipped (3 sigma) median and MAD-based standard deviation of the
   valid pixels (astropy.stats.sigma_clipped_stats).
3. Source: the image minus the background, smoothed with a Gaussian of `SMOOTH_PX` pixels; the
   pixels above max(5 x its noise, 1 % of its peak) are grown by a few pixels (so rings separated
   by gaps stay one source) and labelled; the component holding the most flux is the source.
   Centre: the flux-weighted mean position of its above-threshold pixels. Radius: the distance
   from that centre that encloses `FLUX_FRACTION` of their flux or `EXTENT_FRACTION` of the
   pixels themselves, whichever is larger (a centrally peaked disk keeps its faint outskirts).
4. Box: a square of half-side `MARGIN` x radius (at least `MIN_HALF_PX`), centred on the source;
   parts outside the image are padded with the background and marked invalid. A source whose
   box would take `FILLS_FRAME` of the image or more already fills the frame: the whole image
   (its central square, as `core.data.preprocess.prepare`) is used.
5. Resample the square to (size, size) (antialiased bilinear, `core.data.preprocess.resize`) and
   min-max normalise over the valid pixels.

Coordinates: (row, col) array indices, row 0 first; a box is (row0, row1, col0, col1), half-open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.data.preprocess import DEFAULT_GRID, resize
from core.errors import InputError

SMOOTH_PX = 1.5  # Gaussian sigma (input pixels) of the smoothing used for detection
DETECT_SIGMA = 5.0  # detection threshold in units of the smoothed image's noise
DETECT_PEAK_FRACTION = 0.01  # ... and at least this fraction of the smoothed peak (noise-free models)
FLUX_FRACTION = 0.95  # the radius encloses this share of the detected flux ...
EXTENT_FRACTION = 0.98  # ... and this share of the detected pixels (whichever is larger)
MARGIN = 1.35  # half-side of the box over that radius (the training disks fill 40-95 % of the field)
MIN_HALF_PX = 8  # smallest half-side of an automatic box, input pixels
FILLS_FRAME = 0.85  # a box at least this share of the image's shorter side: keep the whole image
UNITS = ("px", "arcsec", "au")


@dataclass
class CutoutBox:
    """A user's box: a square of `side` in `unit` ("px", "arcsec" or "au"), centred on `centre`
    ((row, col) input pixels; None: the detected source, or the image centre if none is found).
    "arcsec" needs the image's pixel scale, "au" also the distance in pc."""

    side: float
    unit: str = "px"
    centre: tuple[float, float] | None = None
    distance_pc: float | None = None

    @classmethod
    def from_tuple(cls, box: tuple | None) -> CutoutBox | None:
        """The box of the app's plain tuple (side, unit, centre_row or None, centre_col or None,
        distance_pc or None), as pages pass and cache it; None stays None (automatic cutout)."""
        if box is None:
            return None
        side, unit, row, col, distance = box
        return cls(side, unit, None if row is None else (row, col), distance)

    def side_pixels(self, pixel_scale_arcsec: float | None) -> float:
        if self.unit not in UNITS:
            raise InputError(f"Unknown box unit {self.unit!r}; use px, arcsec or au.")
        if not self.side > 0:
            raise InputError(f"The box side must be positive; got {self.side}.")
        if self.unit == "px":
            return float(self.side)
        if not pixel_scale_arcsec:
            raise InputError(f"A box in {self.unit} needs the image's pixel scale, which its header does not give; give the box in pixels.")
        arcsec = float(self.side)
        if self.unit == "au":
            if not self.distance_pc or not self.distance_pc > 0:
                raise InputError("A box in au needs the distance to the disk in pc (1 arcsec = distance au).")
            arcsec = self.side / self.distance_pc
        return arcsec / pixel_scale_arcsec


@dataclass
class Source:
    centre: tuple[float, float]  # (row, col) flux-weighted, input pixels
    radius_px: float  # encloses FLUX_FRACTION of the detected flux
    peak_snr: float  # smoothed peak over the smoothed noise (inf for noise-free images)
    n_pixels: int  # pixels above the threshold in the source


@dataclass
class Cutout:
    """What the model sees and how it was made."""

    image: np.ndarray  # (size, size) float32 in [0, 1]
    valid: np.ndarray  # (size, size) bool: False where the input was NaN / outside the field / masked
    box: tuple[int, int, int, int]  # (row0, row1, col0, col1) in input pixels, half-open; may exceed the image
    centre: tuple[float, float]  # (row, col) the box is centred on, input pixels
    radius_px: float | None  # the detected source's radius, input pixels (None if not detected)
    background: float  # sigma-clipped median, input units
    noise: float  # sigma-clipped MAD standard deviation, input units
    source: str  # "detected" | "user box" | "whole image"
    pixels_per_grid: float  # input pixels per model-grid pixel
    notes: list[str] = field(default_factory=list)

    @property
    def side_px(self) -> int:
        return self.box[1] - self.box[0]


def background_noise(image: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """(background, noise): sigma-clipped median and MAD standard deviation of the valid pixels.

    Measured on the whole image and on its border (the outer eighth on each side), and the one
    with the lower median kept: a disk that fills most of the frame would otherwise pass for the
    background, while the border of such an image is still mostly sky.
    """
    from astropy.stats import sigma_clipped_stats

    valid = np.isfinite(image) if valid is None else valid
    if not valid.any():
        raise InputError("The image has no valid (finite, unmasked) pixel to measure its background on.")
    border = np.zeros(image.shape, dtype=bool)
    width = max(2, min(image.shape) // 8)
    border[:width], border[-width:], border[:, :width], border[:, -width:] = True, True, True, True
    best = None
    for region in (valid, valid & border):
        if region.sum() < 50:
            continue
        _, median, std = sigma_clipped_stats(image[region], sigma=3.0, maxiters=10, stdfunc="mad_std")
        if best is None or median < best[0]:
            best = (float(median), float(std))
    if best is None:  # fewer than 50 valid pixels
        _, median, std = sigma_clipped_stats(image[valid], sigma=3.0, maxiters=10, stdfunc="mad_std")
        best = (float(median), float(std))
    return best


def find_source(image: np.ndarray, valid: np.ndarray, background: float) -> Source | None:
    """The brightest extended source of `image` (see the module's step 3); None if nothing stands out."""
    from scipy import ndimage

    signal = np.where(valid, image - background, 0.0).astype(np.float64)
    smooth = ndimage.gaussian_filter(signal, SMOOTH_PX)
    _, noise_s = background_noise(smooth, valid)
    peak = float(smooth[valid].max())
    if not peak > 0:
        return None
    threshold = max(DETECT_SIGMA * noise_s, DETECT_PEAK_FRACTION * peak)
    detected = (smooth > threshold) & valid
    if not detected.any() or (noise_s > 0 and peak < DETECT_SIGMA * noise_s):
        return None
    grow = max(2, int(round(0.01 * min(image.shape))))
    labels, n = ndimage.label(ndimage.binary_dilation(detected, iterations=grow))
    flux = ndimage.sum(np.where(detected, smooth, 0.0), labels, index=np.arange(1, n + 1))
    member = detected & (labels == 1 + int(np.argmax(flux)))
    rows, cols = np.nonzero(member)
    w = smooth[rows, cols]
    centre = (float((rows * w).sum() / w.sum()), float((cols * w).sum() / w.sum()))
    r = np.hypot(rows - centre[0], cols - centre[1])
    order = np.argsort(r)
    cumulative = np.cumsum(w[order]) / w.sum()
    flux_radius = float(r[order][np.searchsorted(cumulative, FLUX_FRACTION)])
    extent = float(np.percentile(r, 100 * EXTENT_FRACTION))  # the faint outskirts above the threshold count too
    radius = max(flux_radius, extent) + SMOOTH_PX
    return Source(centre, radius, peak / noise_s if noise_s > 0 else math.inf, int(member.sum()))


def _crop(image: np.ndarray, valid: np.ndarray, box: tuple[int, int, int, int], fill: float) -> tuple[np.ndarray, np.ndarray]:
    """image[box] and valid[box], padded with `fill` / False where the box leaves the image."""
    r0, r1, c0, c1 = box
    h, w = image.shape
    out = np.full((r1 - r0, c1 - c0), fill, dtype=np.float32)
    ok = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    sr0, sr1, sc0, sc1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
    if sr1 > sr0 and sc1 > sc0:
        out[sr0 - r0 : sr1 - r0, sc0 - c0 : sc1 - c0] = image[sr0:sr1, sc0:sc1]
        ok[sr0 - r0 : sr1 - r0, sc0 - c0 : sc1 - c0] = valid[sr0:sr1, sc0:sc1]
    return out, ok


def square_box(centre: tuple[float, float], side: float) -> tuple[int, int, int, int]:
    """The square of `side` pixels (rounded to an odd number, at least 3) centred on the pixel nearest `centre`."""
    half = max(1, int(round((side - 1) / 2)))
    r, c = int(round(centre[0])), int(round(centre[1]))
    return r - half, r + half + 1, c - half, c + half + 1


def cutout(
    image: np.ndarray,
    size: int = DEFAULT_GRID,
    *,
    box: CutoutBox | None = None,
    pixel_scale_arcsec: float | None = None,
    mask: np.ndarray | None = None,
    auto: bool = True,
) -> Cutout:
    """The source of `image` (H, W) on the (size, size) model grid, with the notes on what was done.

    box: a user's box, which wins over the detection. mask: (H, W) bool, True where pixels are
    valid (NaN / Inf pixels are invalid anyway). auto=False (and no box) keeps the whole image
    (its central square) as `core.data.preprocess.prepare` does, but still masks invalid pixels.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise InputError(f"Expected a 2-D image, got an array of shape {image.shape}.")
    valid = np.isfinite(image)
    if mask is not None:
        if np.shape(mask) != image.shape:
            raise InputError(f"The mask has shape {np.shape(mask)} but the image {image.shape}; give a mask of the image's shape.")
        valid &= np.asarray(mask, dtype=bool)
    notes: list[str] = []
    n_bad = int(valid.size - valid.sum())
    background, noise = background_noise(image, valid)
    if n_bad:
        notes.append(f"{n_bad:,} pixels ({100 * n_bad / valid.size:.2g}% of the image) are NaN, infinite or masked: "
                     "they are set to the background for the model and left out of the metrics.")
    notes.append(f"Background {background:.4g} and noise {noise:.3g} (sigma-clipped median and MAD of the valid pixels).")
    filled = np.where(valid, image, background)
    found = find_source(filled, valid, background) if (auto or box is not None) else None
    h, w = image.shape
    if box is not None:
        side = box.side_pixels(pixel_scale_arcsec)
        centre = box.centre if box.centre is not None else (found.centre if found else ((h - 1) / 2, (w - 1) / 2))
        where = "the given centre" if box.centre is not None else ("the detected source" if found else "the image centre")
        bounds, source = square_box(centre, side), "user box"
        notes.append(f"Your box: {box.side:g} {box.unit} = {bounds[1] - bounds[0]} px on a side, centred on {where} "
                     f"(row {centre[0]:.1f}, column {centre[1]:.1f}).")
    elif found is not None and 2 * MARGIN * found.radius_px >= FILLS_FRAME * min(h, w):
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        centre, bounds, source = ((top + (s - 1) / 2), (left + (s - 1) / 2)), (top, top + s, left, left + s), "whole image"
        notes.append(f"The source (radius {found.radius_px:.1f} px) fills the frame: the whole image (its central square) is used.")
    elif found is not None:
        centre = found.centre
        bounds, source = square_box(centre, 2 * max(MARGIN * found.radius_px, MIN_HALF_PX) + 1), "detected"
        notes.append(f"Source found at row {centre[0]:.1f}, column {centre[1]:.1f} (flux-weighted), radius {found.radius_px:.1f} px "
                     f"(enclosing {100 * FLUX_FRACTION:.0f}% of the flux above the noise); cut a {bounds[1] - bounds[0]} px square "
                     f"({MARGIN:g} x the radius on each side).")
    else:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        centre, bounds, source = ((top + (s - 1) / 2), (left + (s - 1) / 2)), (top, top + s, left, left + s), "whole image"
        notes.append("No source stands out of the noise: the whole image (its central square) is used."
                     if auto else "The whole image (its central square) is used, as asked.")
    crop, ok = _crop(filled, valid, bounds, background)
    if bounds[0] < 0 or bounds[2] < 0 or bounds[1] > h or bounds[3] > w:
        notes.append("The box reaches beyond the image: the missing part is padded with the background and left out of the metrics.")
    side = crop.shape[0]
    grid = resize(crop, size).astype(np.float64)
    grid_ok = resize(ok.astype(np.float32), size) > 0.999
    if not grid_ok.any():
        raise InputError("No valid pixel is left in the box; move the box onto the image.")
    lo, hi = float(grid[grid_ok].min()), float(grid[grid_ok].max())
    if not hi > lo:
        raise InputError("The box is constant (every valid pixel has the same value), so it carries nothing to analyse; choose another box.")
    normalised = np.clip((grid - lo) / (hi - lo), 0.0, 1.0)
    normalised[~grid_ok] = np.clip((background - lo) / (hi - lo), 0.0, 1.0)
    notes.append(f"Resampled {side} px to the {size} px grid ({side / size:.3g} input px per grid px) and scaled to [0, 1].")
    return Cutout(normalised.astype(np.float32), grid_ok, bounds, (float(centre[0]), float(centre[1])),
                  found.radius_px if found else None, background, noise, source, side / size, notes)


def exclude_invalid(recon: np.ndarray, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`recon` with its invalid pixels replaced by `x`'s, so that they add no error to a metric."""
    return np.where(valid, recon, x)


FLUX_WORDS = ("jy", "erg", "w/", "w m", "w.m", "mag", "count", "adu", "electron", "photon", "lsun", "cts", "dn/", "e-/", "e/s")
TEMPERATURE_UNITS = ("k", "mk", "kelvin")
VELOCITY_UNITS = ("m/s", "km/s", "cm/s", "m s-1", "km s-1", "cm s-1", "m.s-1", "km.s-1", "m.s**-1", "km.s**-1")


def disk_unit_note(bunit: str | None) -> str | None:
    """A sentence when the pixel unit says the image is not a brightness map (e.g. a velocity map), else None.

    The disk models learned dust continuum intensity (Jy/beam, Jy/pixel, K, counts ...);
    a moment-1 map in m/s or km/s, or any other non-brightness unit, is not what they know.
    No unit (plain arrays, PNGs) gives no note: nothing says the image is not a brightness map.
    """
    if not bunit or not bunit.strip():
        return None
    unit = bunit.strip().lower()
    if unit in VELOCITY_UNITS or unit.replace(" ", "") in VELOCITY_UNITS:
        return (f"The pixel unit is {bunit.strip()}, a velocity: this looks like a velocity (moment-1) map, not a brightness "
                "image, and the disk models only learned dust continuum intensity; read the reconstruction with care.")
    if unit in TEMPERATURE_UNITS or any(word in unit for word in FLUX_WORDS):
        return None
    return (f"The pixel unit {bunit.strip()!r} is not a brightness unit the disk models know (Jy/beam, Jy/pixel, K, counts); "
            "read the reconstruction with care.")
