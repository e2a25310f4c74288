"""Put an image on a model's grid: resample it to the pixel scale the model was trained at, then
crop or pad it to the model's field of view, centred on the image centre.

Resampling conserves surface brightness: each new pixel is the area-weighted mean of the old
pixels it overlaps (exact overlap of square pixels, axis by axis), so a flat sky keeps its level
and the flux of a source is conserved once multiplied by the pixel area. From 0.05″ to 0.1″ it is
the 2 × 2 block mean the lens-finding simulator used to make its 0.1″ training images
(core.data.lensfinding.bin_to_grid); towards finer pixels each new pixel takes the value of the old
one(s) under it (no detail is invented). Where the model's field reaches beyond the image, the
missing area is filled with sky: the median of the image's border pixels (its sky level) plus
Gaussian noise with the robust standard deviation (1.4826 x MAD) of the outermost resampled pixels,
so padding draws neither an edge nor a flat, noiseless frame that a model could pick up. The noise is
deterministic, seeded from the image's content, and drawn in a canonical orientation of the image
(the one of its eight quarter turns and flips whose bytes hash lowest), so regridding a turned or
flipped image gives the turned or flipped result exactly.

`grid` is a checkpoint's grid record (core.data.grids.grid_record); only records with an
`arcsec_per_pixel` ask for resampling (lens models). Disk models frame the disk itself
(core.data.cutout) and images without a pixel scale keep their pixels: both come back unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

SAME_SCALE = 0.01  # pixel scales within 1 % count as one grid: crop or pad only (0.3 px drift over 32 px)


def arcsec_text(value: float) -> str:
    """0.05 -> "0.05″", 0.1 -> "0.10″", 0.101 -> "0.101″": two decimals unless that is more than 0.5 % off."""
    text = f"{value:.2f}"
    return (text if abs(float(text) - value) <= 0.005 * value else f"{value:.3g}") + "″"


def _overlap(n_in: int, n_out: int, ratio: float, start: float) -> np.ndarray:
    """(n_out, n_in) weights: the fraction of new pixel o (spanning [start + o ratio, start + (o+1) ratio]
    in old-pixel units, old pixel i spanning [i, i+1]) that old pixel i covers."""
    lo = start + np.arange(n_out, dtype=np.float64)[:, None] * ratio
    edge = np.arange(n_in, dtype=np.float64)[None, :]
    covered = np.minimum(lo + ratio, edge + 1.0) - np.maximum(lo, edge)
    return np.clip(covered, 0.0, None) / ratio


def border_level(image: np.ndarray) -> float:
    """Median of the outermost row and column on each side: the sky level a pad continues."""
    edges = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return float(np.median(edges))


def _robust_std(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if values.size else 0.0


def edge_noise(out: np.ndarray, covered: np.ndarray, width: int = 2) -> float:
    """Robust std of the `width` outermost rows and columns of the fully covered (rectangular) part of `out`."""
    rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if not rows.size or not cols.size:
        return 0.0
    block = out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ring = np.ones(block.shape, dtype=bool)
    if min(block.shape) > 2 * width:
        ring[width:-width, width:-width] = False
    return _robust_std(block[ring])


def pad_noise(image: np.ndarray, size: int) -> np.ndarray:
    """(size, size) standard normal noise, the same for the same image, turned and flipped with it."""
    best = None
    for flip in (False, True):
        a = image[:, ::-1] if flip else image
        for k in range(4):
            turned = np.ascontiguousarray(np.rot90(a, k), dtype=np.float64)
            digest = hashlib.blake2b(turned.tobytes() + str(turned.shape).encode(), digest_size=8).digest()
            if best is None or digest < best[0]:
                best = (digest, flip, k)
    digest, flip, k = best
    noise = np.rot90(np.random.default_rng(int.from_bytes(digest, "little")).standard_normal((size, size)), -k)
    return noise[:, ::-1] if flip else noise


def regrid(image: np.ndarray, from_arcsec: float, to_arcsec: float, size: int,
           fill: float | None = None) -> np.ndarray:
    """`image` (pixels of `from_arcsec`) on a (size, size) grid of `to_arcsec` pixels centred on its centre.

    Surface-brightness conserving (area-weighted mean of the old pixels under each new one); pixel
    scales within SAME_SCALE only crop or pad (by whole pixels, as `preprocess.center_square` crops).
    Area outside the image takes `fill`, or by default sky: `border_level` plus noise as strong as in the
    outermost resampled pixels (`edge_noise`, `pad_noise`). Returns float32.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"Expected a 2-D image, got shape {image.shape}.")
    if not (from_arcsec > 0 and to_arcsec > 0 and size > 0):
        raise ValueError("Pixel scales and the grid size must be positive.")
    ratio = to_arcsec / from_arcsec  # new pixel side in old pixels
    same = abs(ratio - 1.0) <= SAME_SCALE
    ratio = 1.0 if same else ratio
    weights = []
    for n in image.shape:
        start = float((n - size) // 2) if same else n / 2 - size * ratio / 2
        weights.append(_overlap(n, size, ratio, start))
    wy, wx = weights
    rows, cols = np.flatnonzero(wy.any(axis=0)), np.flatnonzero(wx.any(axis=0))  # old pixels under the new grid
    out = np.zeros((size, size))
    if rows.size and cols.size:
        r, c = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        out = wy[:, r] @ image[r, c] @ wx[:, c].T
    missing = np.clip(1.0 - np.outer(wy.sum(axis=1), wx.sum(axis=1)), 0.0, 1.0)
    if (missing > 1e-9).any():
        if fill is not None:
            out += missing * fill
        else:
            sigma = edge_noise(out, missing <= 1e-9)
            out += missing * (border_level(image) + (sigma * pad_noise(image, size) if sigma > 0 else 0.0))
    return out.astype(np.float32)


@dataclass(frozen=True)
class GridMatch:
    """What putting an image on a model's grid does: the resampling factor, the note for the user."""

    resample: bool  # the image is taken to the model's pixel scale and field (False: its pixels as they are)
    note: str | None  # one line for the user; None when there is nothing to say (a model without a pixel scale)
    from_arcsec: float | None = None
    to_arcsec: float | None = None
    size: int | None = None  # pixels per side of the model's field at `to_arcsec`


def match_grid(shape: tuple[int, int], pixel_scale_arcsec: float | None, grid: dict | None,
               scale_origin: str = "file") -> GridMatch:
    """How an image of `shape` and pixel scale (None: unknown) meets a checkpoint's `grid` record.

    `scale_origin`: "file" (its header) or "user" (typed in by the user), named in the note.
    """
    target = (grid or {}).get("arcsec_per_pixel")
    if not target:
        return GridMatch(False, None)
    size = int(grid["image_size"])
    fov = f"{grid.get('field_of_view_arcsec') or size * target:.3g}″"
    if not pixel_scale_arcsec or not pixel_scale_arcsec > 0:
        return GridMatch(False, f"This image has no pixel scale, so its pixels go to the model as they are (it was "
                                f"trained at {arcsec_text(target)} per pixel on a {fov} field); set the pixel scale to "
                                "resample it.")
    given = " (the pixel scale you set)" if scale_origin == "user" else ""
    height, width = shape
    if abs(target / pixel_scale_arcsec - 1.0) <= SAME_SCALE:
        text = f"Already at the model's {arcsec_text(target)} per pixel{given}"
    else:
        text = (f"Resampled from {arcsec_text(pixel_scale_arcsec)}{given} to {arcsec_text(target)} per pixel "
                "to match the model's grid")
    extent = min(height, width) * pixel_scale_arcsec
    size_arcsec = size * target
    if extent < size_arcsec * (1 - SAME_SCALE):
        text += f"; the image covers {extent:.3g}″ of its {fov} field, the rest is filled with the sky level"
    elif max(height, width) * pixel_scale_arcsec > size_arcsec * (1 + SAME_SCALE):
        text += f"; the central {fov} field is used"
    return GridMatch(True, text + ".", float(pixel_scale_arcsec), float(target), size)


def to_grid(image: np.ndarray, match: GridMatch) -> np.ndarray:
    """The image as `match` says: regridded to the model's pixel scale and field, or unchanged."""
    if not match.resample:
        return image
    return regrid(image, match.from_arcsec, match.to_arcsec, match.size)
