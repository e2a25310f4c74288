"""An asinh stretch of the input in units of its own noise, inside the model (plain torch, no parameters).

A lens's arcs are often a few per cent of its galaxy's peak: after the min-max scaling of
core.data.preprocess they sit near zero, under a bright core. Lens searches look at such images with
an asinh stretch; `NoiseAsinh` gives a model the same view:

    y = asinh((x - m) / (k sigma)) / asinh((max x - m) / (k sigma))

with m the median of the pixels in the grid's inscribed disc and sigma their noise, from the median
absolute difference of neighbouring pixels (rows and columns pooled; smooth light does not inflate it).
Linear within a few sigma of the background, logarithmic above; the peak maps to 1. Every statistic is
taken over the disc and over both directions alike, so 90-degree turns and flips of an odd grid commute
with it exactly, and turns by other angles nearly.

`MedianHighPass` adds a second view, as lens searches subtract the lens galaxy's light: the image minus its
median over a disc of `radius` pixels. Smooth light (a galaxy's profile, on scales above the disc) cancels;
what is thinner than the disc (arcs, a lensed image, a knot) stays. The disc and the reflected border are
symmetric under the grid's 90-degree turns and flips, so these commute with it exactly too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.features import FeatureMap

MAD_TO_SIGMA = 1.4826  # Gaussian sigma per median absolute deviation
NOISE_FLOOR = 1e-4  # of the [0, 1] image: a noiseless image is stretched as if its noise were this


def _inside(size: int) -> torch.Tensor:
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (yy - c) ** 2 + (xx - c) ** 2 <= c * c


class NoiseAsinh(nn.Module):
    """x (B, 1, S, S) in [0, 1] -> the asinh stretch of each image, `k` noise sigmas linear (see the module)."""

    def __init__(self, size: int, k: float):
        super().__init__()
        if not k > 0:
            raise ValueError(f"The input stretch is a number of noise sigmas; use a positive value (or 0 for none), not {k}.")
        self.k = float(k)
        inside = _inside(size)
        self.register_buffer("inside", inside, persistent=False)
        self.register_buffer("pairs_x", inside[:, 1:] & inside[:, :-1], persistent=False)
        self.register_buffer("pairs_y", inside[1:, :] & inside[:-1, :], persistent=False)

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 1, 1) noise sigma of each image: the median |difference| of neighbouring pixels / sqrt(2)."""
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs()[..., self.pairs_x]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs()[..., self.pairs_y]
        d = torch.cat([dx, dy], dim=-1)  # (B, 1, N)
        return (MAD_TO_SIGMA / 2**0.5 * d.median(-1).values)[..., None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[..., self.inside]  # (B, 1, N)
        m = v.median(-1).values[..., None, None]
        s = (self.k * self.noise(x)).clamp_min(NOISE_FLOOR)
        top = torch.asinh((v.max(-1).values[..., None, None] - m) / s).clamp_min(1e-6)
        return torch.asinh((x - m) / s) / top


class MedianHighPass(nn.Module):
    """x (B, 1, S, S) -> x minus its median over a disc of `radius` pixels about each pixel (reflected border)."""

    def __init__(self, radius: int):
        super().__init__()
        if int(radius) != radius or radius < 1:
            raise ValueError(f"The high-pass view subtracts a median over a disc of a whole number of pixels (1 or more), not {radius}.")
        self.radius = int(radius)
        r = torch.arange(-self.radius, self.radius + 1)
        disc = (r[:, None] ** 2 + r[None, :] ** 2 <= self.radius**2).flatten()
        self.register_buffer("disc", disc, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, (b, c, h, w) = self.radius, x.shape
        patches = F.unfold(F.pad(x, (r, r, r, r), mode="reflect"), 2 * r + 1)  # (B, C k k, H W)
        patches = patches.view(b, c, -1, h * w)[:, :, self.disc]  # (B, C, disc, H W)
        return x - patches.median(dim=2).values.view(b, c, h, w)


def input_views(cfg, side: int) -> tuple[NoiseAsinh | None, MedianHighPass | None, int]:
    """A classifier config's input modules: (stretch or None, high-pass or None, number of input channels)."""
    stretch = NoiseAsinh(side, cfg.input_stretch) if cfg.input_stretch else None
    highpass = MedianHighPass(cfg.input_highpass) if cfg.input_highpass else None
    return stretch, highpass, 1 + int(highpass is not None)


def stretched(stretch: NoiseAsinh | None, x: torch.Tensor, maps: list | None = None,
              highpass: MedianHighPass | None = None) -> torch.Tensor:
    """x through a classifier's optional `stretch` (None: x unchanged), then with its optional `highpass` view as a
    second channel (B, 2, S, S); each view is appended to `maps` ("input_stretch", "input_highpass") when a list is given."""
    y = x if stretch is None else stretch(x)
    if maps is not None and stretch is not None:
        maps.append(FeatureMap("input_stretch", y, None))
    if highpass is None:
        return y
    detail = highpass(y)
    if maps is not None:
        maps.append(FeatureMap("input_highpass", detail, None))
    return torch.cat([y, detail], dim=1)
