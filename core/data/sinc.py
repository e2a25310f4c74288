"""Band-limited (sinc) turns and sub-pixel shifts: three shears, each a per-row phase ramp in Fourier space.

A turn by theta is the product of three shears, x by -tan(theta / 2), y by sin(theta), x by -tan(theta / 2)
(Unser, Thevenaz & Yaroslavsky 1995, IEEE Trans. Image Process. 4, 1371). Each shear moves every row (or
column) by its own fraction of a pixel with the exact band-limited interpolator, a phase ramp on its FFT. Unlike
bilinear or bicubic sampling, it neither smooths the image nor its noise: on the periodic canvas each shear is a
phase ramp (unitary but for the Nyquist bin of an even canvas), so white noise keeps its variance, and a turn there
and back returns a band-limited image to float rounding (noise loses only its square spectrum's corners).
Multiples of 90 degrees are exact pixel permutations (torch.rot90); only the remainder, within 45 degrees, is
sheared. The image is laid on a square canvas 2.5 times its longer side (the shears read within 1.41 half-sides of
the centre; the rest keeps the wrapped sinc tails away from the image); what lies beyond the original image is
zero, or the caller's `background` (e.g. the image's azimuthal profile).

Orientation and centre are those of core.data.transforms: counter-clockwise as displayed with row 0 at the top,
about ((H-1)/2, (W-1)/2); dy moves the content down and dx right, after the turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Tensor = torch.Tensor

CANVAS_FACTOR = 2.5  # canvas side over the image's longer side


def _canvas_side(n: int, longest: int) -> int:
    """A canvas side for an image side n: at least CANVAS_FACTOR * longest, of n's parity (so the centres coincide)."""
    p = math.ceil(CANVAS_FACTOR * longest)
    return p + (p - n) % 2


def as_batch(value, b: int, device=None) -> Tensor:
    """A per-image float64 (b,) tensor from a tensor, a number or None (zeros)."""
    if value is None:
        return torch.zeros(b, dtype=torch.float64, device=device)
    return torch.as_tensor(value, dtype=torch.float64, device=device).expand(b).clone()


def _shift_rows(x: Tensor, shift: Tensor, dim: int) -> Tensor:
    """Each line of x along `dim` (-1: rows, -2: columns) moved by shift[b, i] pixels (positive: towards higher
    indices), i indexing the other image axis; shift (B, L) with L that axis' length. Band-limited (FFT phase ramp)."""
    n = x.shape[dim]
    spectrum = torch.fft.rfft(x, dim=dim)
    freq = torch.fft.rfftfreq(n, dtype=torch.float64, device=x.device)  # cycles per pixel
    phase = torch.exp(-2j * math.pi * shift[..., None] * freq)  # (B, L, F)
    if dim == -2:
        phase = phase.transpose(-1, -2)  # (B, F, L): columns are the last axis
    return torch.fft.irfft(spectrum * phase[:, None], n=n, dim=dim)


def _offsets(n: int, device) -> Tensor:
    return torch.arange(n, dtype=torch.float64, device=device) - (n - 1) / 2.0


def sinc_resample(x: Tensor, angle_deg: Tensor | float, dy: Tensor | float | None = None, dx: Tensor | float | None = None,
                  background: Callable[[int, int], Tensor] | None = None) -> Tensor:
    """Each image of x (B, C, H, W) turned counter-clockwise by angle_deg (B,) about the grid centre, then moved
    dy down and dx right (B,) pixels, band-limited. `background(ph, pw)` gives (B, C, ph, pw) values for the canvas
    beyond the original square (default zeros). Returns x's shape and dtype; computed in float64."""
    if x.ndim != 4:
        raise ValueError(f"Expected a batch of images of shape (B, C, H, W); got shape {tuple(x.shape)}.")
    b, c, h, w = x.shape
    dev = x.device
    angle, dy, dx = as_batch(angle_deg, b, dev), as_batch(dy, b, dev), as_batch(dx, b, dev)
    turns = torch.round(angle / 90.0)
    rest = (angle - 90.0 * turns) * (math.pi / 180.0)  # within [-45, 45] degrees
    if h != w and bool((turns % 2 != 0).any()):
        raise ValueError(f"A turn by an odd multiple of 90 degrees needs a square image; this one is {w} x {h}.")
    out = x.double()
    if bool((turns % 4 != 0).any()):
        out = torch.stack([torch.rot90(img, int(k) % 4, dims=(-2, -1)) for img, k in zip(out, turns.tolist(), strict=True)])
    still = (rest.abs() < 1e-12) & (dy == 0) & (dx == 0)
    if bool(still.all()):
        return out.to(x.dtype)
    ph, pw = _canvas_side(h, max(h, w)), _canvas_side(w, max(h, w))
    top, left = (ph - h) // 2, (pw - w) // 2
    canvas = (torch.zeros(b, c, ph, pw, dtype=torch.float64, device=dev) if background is None
              else background(ph, pw).to(device=dev, dtype=torch.float64).clone())
    canvas[..., top : top + h, left : left + w] = out
    t, s = -torch.tan(rest / 2), torch.sin(rest)
    rows, cols = _offsets(ph, dev), _offsets(pw, dev)
    # Output pixel p reads the input at R p (R = Sx(t) Sy(s) Sx(t)): the sampling of Sx(t) is applied first.
    # Sx(t) reads (u + t v, v): row v moves by -t v; Sy(s) reads (u, v + s u): column u moves by -s u.
    canvas = _shift_rows(canvas, -t[:, None] * rows, dim=-1)
    canvas = _shift_rows(canvas, -s[:, None] * cols, dim=-2)
    canvas = _shift_rows(canvas, -t[:, None] * rows + dx[:, None], dim=-1)
    if bool((dy != 0).any()):
        canvas = _shift_rows(canvas, dy[:, None].expand(b, pw), dim=-2)
    turned = canvas[..., top : top + h, left : left + w]
    return torch.where(still.view(-1, 1, 1, 1), out, turned).to(x.dtype)
