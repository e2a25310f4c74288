"""From any 2-D image to the model grid.

Model grids are odd (e.g. 129 = 2**7 + 1) so that every stride-2 layer samples a grid that
90-degree rotations and flips map onto itself: the equivariance to those is then exact.

Steps (`prepare`): centre-crop to a square on the shorter side, resize with antialiased
bilinear interpolation (which commutes with 90-degree rotations and flips of a square
image), then per-image min-max normalisation to [0, 1]. Min-max works the same for float
images in any unit (Jy/beam, Jy/pixel, arbitrary) and for integer counts, and it is
invariant to the exact group elements.

`prepare_on_grid` puts an image with a known pixel scale on the grid the model was trained at
first (core.data.regrid: resampled to its arcsec per pixel, cropped or padded to its field), then
prepares it as the training images were; an image without a pixel scale keeps its pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.data.regrid import GridMatch, match_grid, to_grid
from core.errors import InputError

DEFAULT_GRID = 129


def center_square(image: np.ndarray) -> np.ndarray:
    """The central square of side min(H, W)."""
    h, w = image.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[top : top + s, left : left + s]


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a square 2-D image to (size, size) with antialiased bilinear interpolation."""
    if image.shape == (size, size):
        return image.astype(np.float32, copy=False)
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    antialias = image.shape[0] > size
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return out[0, 0].numpy()


def normalize_image(image: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] (float32); non-finite pixels must have been filled before."""
    image = np.asarray(image, dtype=np.float32)
    if not np.isfinite(image).all():
        raise InputError("The image still contains NaN or Inf pixels; fill them before normalising.")
    lo, hi = float(image.min()), float(image.max())
    if not hi > lo:
        raise InputError("The image is constant (every pixel has the same value), so it carries nothing to analyse; use an image with structure.")
    return (image - lo) / (hi - lo)


def prepare(image: np.ndarray, size: int = DEFAULT_GRID) -> np.ndarray:
    """Crop, resize and normalise a 2-D image to the (size, size) model grid, in [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise InputError(f"Expected a 2-D image, got an array of shape {image.shape}.")
    return normalize_image(resize(center_square(image), size))


def prepare_on_grid(image: np.ndarray, size: int, pixel_scale_arcsec: float | None, grid: dict | None,
                    scale_origin: str = "file") -> tuple[np.ndarray, GridMatch]:
    """`prepare` after putting the image on the checkpoint's training grid (`grid`, its index entry's record):
    (the (size, size) image in [0, 1], what was done with its note). See core.data.regrid.match_grid."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise InputError(f"Expected a 2-D image, got an array of shape {image.shape}.")
    match = match_grid(image.shape, pixel_scale_arcsec, grid, scale_origin)
    return prepare(to_grid(image, match), size), match


def prepare_batch(images, size: int = DEFAULT_GRID) -> torch.Tensor:
    """A list of 2-D images -> (B, 1, size, size) float32 tensor."""
    return torch.from_numpy(np.stack([prepare(im, size) for im in images]))[:, None]
