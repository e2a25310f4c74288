"""From an n-D array shape to one 2-D plane, and the checks every loaded image passes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InputError

# arrays loaded whole (.npy/.npz) may hold this many times max_pixels over all planes
TOTAL_PIXELS_FACTOR = 4
MAX_BANDS = 4  # a 3-D .npy with at most this many channels is multi-band (summed by default)


@dataclass
class Layout:
    """Where the image sits in an n-D array (numpy axis order)."""

    image_axes: tuple[int, int]  # the (H, W) axes
    plane_axis: int | None  # the axis of planes / bands, None for a plain 2-D image
    n_planes: int
    bands: bool  # planes are bands of one image (summed by default) rather than a cube

    def index(self, shape: tuple[int, ...], plane: int) -> tuple:
        """Index picking `plane` on the plane axis and 0 on every degenerate axis."""
        return tuple(
            slice(None) if axis in self.image_axes else (plane if axis == self.plane_axis else 0)
            for axis in range(len(shape))
        )


def plan_layout(
    shape: tuple[int, ...], name: str, *, channels_last_ok: bool, max_pixels: int
) -> Layout:
    """Find the two image axes (and a plane axis) of an array of `shape`, or raise InputError.

    Axes of length 1 are degenerate (e.g. CASA's (1, 1, 512, 512) Stokes and frequency axes) and
    dropped. Three real axes are a cube: FITS puts planes first; a .npy whose last axis has at most
    MAX_BANDS entries (and whose first has more) is channels-last (H, W, C) like an RGB array.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        raise InputError(
            f"{name} holds a single number, not an image; provide a 2-D array of pixels."
        )
    if any(n <= 0 for n in shape):
        raise InputError(
            f"{name} has an axis of length 0 (shape {shape}), so it holds no pixels; save an image with data in it."
        )
    real = [axis for axis, n in enumerate(shape) if n > 1]
    if not real:
        raise InputError(
            f"{name} holds a single pixel (shape {shape}), not an image; provide a 2-D array of pixels."
        )
    if len(real) == 1:
        raise InputError(
            f"{name} is 1-D data ({shape[real[0]]} values, shape {shape}); EquiScope needs a 2-D image of shape (H, W)."
        )
    if len(real) > 3:
        raise InputError(
            f"{name} has {len(real)} axes longer than 1 (shape {shape}); EquiScope needs a 2-D image "
            "or a 3-D cube, so save the plane you want as a 2-D array."
        )
    plane_axis = None
    bands = False
    if len(real) == 3:
        first, last = shape[real[0]], shape[real[2]]
        if channels_last_ok and last <= MAX_BANDS and first > MAX_BANDS:
            plane_axis = real[2]
        else:
            plane_axis = real[0]
        bands = channels_last_ok and shape[plane_axis] <= MAX_BANDS
    image_axes = tuple(a for a in real if a != plane_axis)
    h, w = (shape[a] for a in image_axes)
    if h * w > max_pixels:
        side = int(max_pixels**0.5)
        raise InputError(
            f"{name} is {h} x {w} pixels, more than the limit of {max_pixels:,} pixels "
            f"(about {side} x {side}); crop or bin the image first."
        )
    n_planes = shape[plane_axis] if plane_axis is not None else 1
    return Layout(image_axes=image_axes, plane_axis=plane_axis, n_planes=n_planes, bands=bands)


def check_total_pixels(shape: tuple[int, ...], name: str, max_pixels: int) -> None:
    """Refuse arrays that must be loaded whole and exceed TOTAL_PIXELS_FACTOR * max_pixels."""
    total = int(np.prod(shape, dtype=np.int64))
    if total > TOTAL_PIXELS_FACTOR * max_pixels:
        raise InputError(
            f"{name} holds {total:,} values in all, more than the limit of "
            f"{TOTAL_PIXELS_FACTOR * max_pixels:,}; save only the planes you need."
        )


def resolve_plane(layout: Layout, plane: int | None, name: str) -> tuple[int | None, list[str]]:
    """(plane index or None for a band sum, notes) for a user's `plane` request."""
    if layout.n_planes == 1:
        if plane not in (None, 0):
            raise InputError(
                f"{name} is a single 2-D image, so there is no plane {plane}; leave the plane unset."
            )
        return None, []
    if plane is None:
        if layout.bands:
            return None, [
                f"The array has {layout.n_planes} bands; they were summed into one image (choose a band to see it alone)."
            ]
        return 0, [
            f"The data is a cube of {layout.n_planes} planes; plane 0 is shown (choose another plane to see it)."
        ]
    if not 0 <= plane < layout.n_planes:
        raise InputError(
            f"Plane {plane} does not exist: {name} has planes 0 to {layout.n_planes - 1}."
        )
    return plane, []


def to_float32(array: np.ndarray, name: str) -> np.ndarray:
    """Native-endian float32 copy of a real numeric or boolean array, or InputError."""
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(
            f"{name} holds complex numbers; save the real part or the amplitude (numpy.abs) as a real array."
        )
    if kind not in "biuf":
        raise InputError(
            f"{name} holds values of type {array.dtype} rather than numbers; save a numeric (float or integer) array."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(array, dtype=np.float32).copy()


def finish(data: np.ndarray, name: str) -> tuple[np.ndarray, int, float | None, list[str]]:
    """Fill NaN/Inf with the median of the finite pixels and refuse empty or constant images.

    Returns (data, n_nonfinite, fill_value or None, notes).
    """
    finite = np.isfinite(data)
    n_bad = int(data.size - np.count_nonzero(finite))
    notes: list[str] = []
    fill = None
    if n_bad == data.size:
        raise InputError(
            f"Every pixel of {name} is NaN or infinite, so there is no image to show; check the file or choose another plane."
        )
    if n_bad:
        fill = float(np.median(data[finite]))
        data = np.where(finite, data, np.float32(fill)).astype(np.float32)
        share = 100.0 * n_bad / data.size
        notes.append(
            f"{n_bad:,} NaN/Inf pixels ({share:.2g}% of the image) were filled with the median of the finite pixels ({fill:.4g})."
        )
    lo, hi = float(data.min()), float(data.max())
    if not hi > lo:
        raise InputError(
            f"{name} is constant (every pixel equals {lo:.4g}), so there is nothing to see or analyse; use an image with structure."
        )
    return data, n_bad, fill, notes
