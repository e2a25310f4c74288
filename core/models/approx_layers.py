"""Layers for approximate equivariance off the pixel grid (issue 24; escnn issue 4, e2cnn issue 61).

Only 90-degree turns and flips map a square pixel grid onto itself. For the other angles of
C_N / D_N an escnn network is equivariant only approximately, and three things make the error
small: a circular field of view (the corners, which a turn moves out of the frame, are zeroed),
anti-aliased down-sampling (a Gaussian blur before every stride-2 step, so sampling on a
coarser grid does not fold high frequencies back) and band-limited filters (no angular
frequency a small ring of pixels cannot represent). All of them are symmetric under the
90-degree turns and flips of an odd grid, so exactness there is kept.

- `CircularMask`: escnn's `MaskModule` (its mask, margin 0, sigma 2 px) with the mask held as a
  buffer left out of the state dict (a fixed function of the grid side, like escnn's bases).
- `Blur`: escnn's `PointwiseAvgPoolAntialiased2D` (Gaussian of `sigma` px, 2 round(3 sigma) + 1
  taps, zero padding that keeps the grid centred), likewise with its filter out of the state dict.
- `conv_options(frequencies_cutoff)`: the band-limit argument of `R2Conv`.

escnn's two modules have no `export()`; these export to core.models.plain_approx's `PlainMask` /
`PlainBlur` (plain torch, the same buffers).
"""

from __future__ import annotations

from torch import nn

from core.escnn_setup import enn
from core.models.plain_approx import PlainBlur, PlainMask


def _as_buffer(module: nn.Module, name: str) -> None:
    """Turn `module.name` (a parameter or a persistent buffer) into a buffer the state dict leaves out."""
    value = getattr(module, name).detach().clone()
    delattr(module, name)
    module.register_buffer(name, value, persistent=False)


class CircularMask(enn.MaskModule):
    """Zero everything outside the disc inscribed in the S x S grid (escnn's smooth edge)."""

    def __init__(self, in_type, size: int):
        super().__init__(in_type, size, margin=0.0)
        _as_buffer(self, "mask")  # escnn holds it as a frozen Parameter: keep it out of parameters() and files

    def export(self) -> PlainMask:
        self.eval()
        return PlainMask(self.mask)


class Blur(enn.PointwiseAvgPoolAntialiased2D):
    """Gaussian blur of every channel (sigma px), then sampling with `stride` (1: blur only)."""

    def __init__(self, in_type, sigma: float, stride: int = 1):
        super().__init__(in_type, sigma=sigma, stride=stride)
        _as_buffer(self, "filter")

    def export(self) -> PlainBlur:
        self.eval()
        return PlainBlur(self.filter, self.stride, self.padding)


def conv_options(frequencies_cutoff: float) -> dict:
    """R2Conv keyword arguments for a band limit: 0 keeps escnn's default policy; f > 0 allows angular
    frequencies up to f x the ring radius (px) of the kernel basis (escnn's `frequencies_cutoff`)."""
    if frequencies_cutoff < 0:
        raise ValueError(f"A band limit (frequencies_cutoff) must be 0 (escnn's default) or positive; got {frequencies_cutoff}.")
    return {"frequencies_cutoff": float(frequencies_cutoff)} if frequencies_cutoff else {}
