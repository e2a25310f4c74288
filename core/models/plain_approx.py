"""The circular field of view and the anti-aliasing blur in plain torch (no escnn import).

The same numbers as escnn's `MaskModule` (margin 0, sigma 2 px) and `PointwiseAvgPoolAntialiased2D`
(checked in tests/test_approx_equivariance.py): the CNN twins use them directly, and the escnn
versions in core.models.approx_layers export to them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def disc_mask(size: int, sigma: float = 2.0) -> torch.Tensor:
    """(1, 1, size, size): 1 inside the disc inscribed in the grid, exp(-(r^2 - R^2) / sigma^2) outside (escnn's mask)."""
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    r2 = (yy - c) ** 2 + (xx - c) ** 2
    return torch.exp(((c * c - r2) / sigma**2).clamp(max=0.0)).to(torch.float32)[None, None]


def gaussian_filter(sigma: float) -> torch.Tensor:
    """(k, k) normalised Gaussian of `sigma` px on 2 round(3 sigma) + 1 taps (escnn's anti-aliased average pool)."""
    k = 2 * int(round(3 * sigma)) + 1
    r = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


class PlainMask(nn.Module):
    """x (B, C, S, S) times a fixed (1, 1, S, S) mask (a buffer the state dict leaves out)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


class PlainBlur(nn.Module):
    """Depthwise convolution of x (B, C, H, W) with a fixed (C, 1, k, k) filter, then sampling with `stride`."""

    def __init__(self, weight: torch.Tensor, stride=1, padding=None):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone(), persistent=False)
        k = weight.shape[-1]
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.padding = ((k - 1) // 2,) * 2 if padding is None else tuple(padding)

    @classmethod
    def gaussian(cls, channels: int, sigma: float, stride: int = 1) -> PlainBlur:
        """A blur of `sigma` px over `channels` channels (zero padding that keeps the grid centred)."""
        return cls(gaussian_filter(sigma)[None, None].repeat(channels, 1, 1, 1), stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=x.shape[1])
