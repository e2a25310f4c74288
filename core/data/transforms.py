"""E(2) transforms of image batches, for augmentation and for the equivariance analysis.

Every function takes a tensor (B, C, H, W) and returns one of the same shape. Orientation is
torch's: row 0 at the top, column 0 at the left. A positive angle turns the content
counter-clockwise as displayed with row 0 at the top, so `rotate(x, 90)` is exactly
`torch.rot90(x, 1, dims=(-2, -1))`. (Astronomical images drawn with origin="lower" appear
turned the other way.) Rotations, scalings and shears act about the grid centre
((H-1)/2, (W-1)/2), which is a pixel centre on odd grids such as 129.

Multiples of 90 degrees and flips are exact permutations of pixels. Other angles, sub-pixel
shifts, scales and shears resample with `torch.nn.functional.grid_sample` (bilinear by
default, or bicubic), zero outside the image; turns and shifts also take mode "sinc", the
band-limited three-shear turn of core.data.sinc, which smooths neither the image nor its noise.
The sampling grid is built in pixel units and normalised with align_corners=False for the true
H and W, and sampled in float64, so a 90-degree request through the interpolating path lands on
pixel centres and reproduces `torch.rot90` to float32 rounding (checked to 1e-6 in tests/test_transforms.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.data.sinc import sinc_resample

Tensor = torch.Tensor


def _check(x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"Expected a batch of images of shape (B, C, H, W); got shape {tuple(x.shape)}.")


def _right_angle_turns(angle_deg: float) -> int | None:
    """k if angle is k * 90 degrees (to 1e-9), else None."""
    k = angle_deg / 90.0
    return int(round(k)) % 4 if abs(k - round(k)) < 1e-9 else None


def rotation_sampling_matrix(angle_deg: Tensor | float) -> Tensor:
    """(…, 2, 2) matrix taking output (u right, v down) offsets to input offsets for a counter-clockwise turn."""
    a = torch.as_tensor(angle_deg, dtype=torch.float64) * (math.pi / 180.0)
    c, s = torch.cos(a), torch.sin(a)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def affine_sample(x: Tensor, matrix: Tensor, offset: Tensor | None = None, mode: str = "bilinear") -> Tensor:
    """Resample: output pixel at centre offset p (u right, v down, pixels) reads input at matrix @ p + offset.

    matrix: (2, 2) or (B, 2, 2); offset: (2,) or (B, 2) in pixels (u, v); zero outside the image.
    """
    _check(x)
    b, _, h, w = x.shape
    matrix = torch.as_tensor(matrix, dtype=torch.float64).expand(b, 2, 2)
    offset = torch.zeros(b, 2, dtype=torch.float64) if offset is None else torch.as_tensor(offset, dtype=torch.float64).expand(b, 2)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64) - cy, torch.arange(w, dtype=torch.float64) - cx, indexing="ij")
    p = torch.stack([u, v], -1).reshape(1, h * w, 2)  # (1, HW, 2)
    q = p @ matrix.transpose(1, 2) + offset[:, None, :]  # (B, HW, 2) input offsets
    col, row = q[..., 0] + cx, q[..., 1] + cy
    grid = torch.stack([(2 * col + 1) / w - 1, (2 * row + 1) / h - 1], -1).reshape(b, h, w, 2)  # (B, H, W, 2)
    # sampled in float64: in float32 the normalised coordinates alone carry ~W * 6e-8 px of error
    out = F.grid_sample(x.double(), grid.to(x.device), mode=mode, padding_mode="zeros", align_corners=False)
    return out.to(x.dtype)


def rotate(x: Tensor, angle_deg: float, mode: str = "bilinear", exact_right_angles: bool = True) -> Tensor:
    """Turn the content counter-clockwise by angle_deg about the grid centre (exact for multiples of 90)."""
    _check(x)
    k = _right_angle_turns(float(angle_deg))
    if exact_right_angles and k is not None:
        return torch.rot90(x, k, dims=(-2, -1))
    if mode == "sinc":
        return sinc_resample(x, float(angle_deg))
    return affine_sample(x, rotation_sampling_matrix(float(angle_deg)), mode=mode)


def flip(x: Tensor, axis: str = "horizontal") -> Tensor:
    """Mirror: "horizontal" swaps left and right (reverses columns), "vertical" swaps top and bottom."""
    _check(x)
    if axis == "horizontal":
        return torch.flip(x, dims=(-1,))
    if axis == "vertical":
        return torch.flip(x, dims=(-2,))
    raise ValueError(f"Unknown flip axis {axis!r}; use 'horizontal' or 'vertical'.")


_mirror = flip  # for functions whose `flip` argument shadows the function


def shift(x: Tensor, dy: float, dx: float, mode: str = "bilinear") -> Tensor:
    """Move the content dy pixels down and dx pixels right, zero fill; integers are exact, fractions interpolate."""
    _check(x)
    if float(dy).is_integer() and float(dx).is_integer():
        dy, dx = int(dy), int(dx)
        h, w = x.shape[-2:]
        out = torch.zeros_like(x)
        if abs(dy) >= h or abs(dx) >= w:
            return out
        out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
        return out
    if mode == "sinc":
        return sinc_resample(x, 0.0, float(dy), float(dx))
    return affine_sample(x, torch.eye(2, dtype=torch.float64), torch.tensor([-dx, -dy], dtype=torch.float64), mode=mode)


def apply_group_element(x: Tensor, angle_deg: float, flip: bool = False, mode: str = "bilinear") -> Tensor:
    """The O(2) element "horizontal mirror (if flip), then counter-clockwise turn by angle_deg"."""
    return rotate(_mirror(x) if flip else x, angle_deg, mode=mode)


def camera_matrix(angle_deg: float = 0.0, scale: float = 1.0, shear_deg: float = 0.0) -> Tensor:
    """Sampling matrix of the view "shear (x += tan(shear) y), then scale, then turn counter-clockwise"."""
    if not scale > 0:
        raise ValueError(f"The scale must be positive; got {scale}.")
    t = math.tan(math.radians(shear_deg))
    inv_shear = torch.tensor([[1.0, -t], [0.0, 1.0]], dtype=torch.float64)
    return inv_shear @ rotation_sampling_matrix(angle_deg) / scale


def camera(x: Tensor, angle_deg: float = 0.0, scale: float = 1.0, shear_deg: float = 0.0, dy: float = 0.0, dx: float = 0.0, mode: str = "bilinear") -> Tensor:
    """A "camera" view: shear, scale (>1 enlarges), counter-clockwise turn about the centre, then a shift of (dy down, dx right) pixels."""
    m = camera_matrix(angle_deg, scale, shear_deg)
    offset = -(m @ torch.tensor([dx, dy], dtype=torch.float64))
    return affine_sample(x, m, offset, mode=mode)


class RandomE2Augment:
    """Random E(2) augmentation of a batch (B, C, H, W) or one image (C, H, W), per sample.

    rotations: "continuous" (any angle, interpolated), "right" (multiples of 90, exact) or an
    int N (multiples of 360/N; exact when 360/N is a multiple of 90); flips: random horizontal
    mirror (before the turn); max_shift_px: uniform shift in [-max, max] on each axis (sub-pixel,
    interpolated; 0 = none); scale_range (lo, hi) and max_shear_deg for "camera" views.
    generator: a torch.Generator for reproducible draws. Leave it None inside DataLoader
    workers: a generator is copied into every worker (identical draws), while torch's global
    generator is seeded differently per worker.
    """

    def __init__(
        self,
        rotations: str | int = "continuous",
        flips: bool = True,
        max_shift_px: float = 0.0,
        scale_range: tuple[float, float] | None = None,
        max_shear_deg: float = 0.0,
        mode: str = "bilinear",
        generator: torch.Generator | None = None,
    ):
        if not (rotations in ("continuous", "right") or (isinstance(rotations, int) and rotations >= 1)):
            raise ValueError(f"rotations must be 'continuous', 'right' or a positive integer N; got {rotations!r}.")
        self.rotations = rotations
        self.flips = flips
        self.max_shift_px = float(max_shift_px)
        self.scale_range = scale_range
        self.max_shear_deg = float(max_shear_deg)
        self.mode = mode
        self.generator = generator

    def _uniform(self, n: int, lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.generator, dtype=torch.float64)

    def sample(self, n: int) -> dict[str, Tensor]:
        """Per-sample parameters: angle_deg, flip, scale, shear_deg, dy, dx (each shape (n,))."""
        if self.rotations == "continuous":
            angle = self._uniform(n, 0.0, 360.0)
        else:
            order = 4 if self.rotations == "right" else int(self.rotations)
            angle = torch.randint(order, (n,), generator=self.generator).double() * (360.0 / order)
        flips = torch.rand(n, generator=self.generator) < 0.5 if self.flips else torch.zeros(n, dtype=torch.bool)
        scale = self._uniform(n, *self.scale_range) if self.scale_range else torch.ones(n, dtype=torch.float64)
        shear = self._uniform(n, -self.max_shear_deg, self.max_shear_deg) if self.max_shear_deg else torch.zeros(n, dtype=torch.float64)
        s = self.max_shift_px
        dy = self._uniform(n, -s, s) if s else torch.zeros(n, dtype=torch.float64)
        dx = self._uniform(n, -s, s) if s else torch.zeros(n, dtype=torch.float64)
        return {"angle_deg": angle, "flip": flips, "scale": scale, "shear_deg": shear, "dy": dy, "dx": dx}

    def __call__(self, x: Tensor) -> Tensor:
        single = x.ndim == 3
        xb = x[None] if single else x  # (B, C, H, W)
        _check(xb)
        p = self.sample(xb.shape[0])
        xb = torch.where(p["flip"].view(-1, 1, 1, 1).to(xb.device), torch.flip(xb, dims=(-1,)), xb)
        plain = (p["scale"] == 1) & (p["shear_deg"] == 0) & (p["dy"] == 0) & (p["dx"] == 0)
        out = torch.empty_like(xb)
        interp = []
        for i in range(xb.shape[0]):
            k = _right_angle_turns(float(p["angle_deg"][i]))
            if plain[i] and k is not None:
                out[i] = torch.rot90(xb[i], k, dims=(-2, -1))
            else:
                interp.append(i)
        if interp:
            idx = torch.tensor(interp)
            m = torch.stack([camera_matrix(float(p["angle_deg"][i]), float(p["scale"][i]), float(p["shear_deg"][i])) for i in interp])  # (b, 2, 2)
            d = torch.stack([p["dx"][idx], p["dy"][idx]], -1)  # (b, 2)
            offset = -(m @ d[..., None])[..., 0]
            out[idx] = affine_sample(xb[idx], m, offset, mode=self.mode)
        return out[0] if single else out
