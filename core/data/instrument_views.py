"""Instrument views of an image batch for self-supervised pretraining (two views of each image
= the same sky seen through two slightly different observations).

What changes between two views is what an instrument changes, not what the lens is:
- a sub-pixel pointing offset (uniform in [-max_shift_px, max_shift_px] per axis, bilinear),
- PSF blur jitter: an extra Gaussian blur of sigma uniform in [0, max_blur_px] pixels,
- flux calibration: x * gain + offset, gain uniform in [1 - flux_jitter, 1 + flux_jitter],
  offset (sky-level error) uniform in [-sky_jitter, sky_jitter] (images are on the [0, 1] grid scale),
- a noise realisation: Poisson-like (std = poisson * sqrt(max(x, 0)), amplitude uniform in
  [0, max_poisson]) plus Gaussian read/sky noise (std uniform in [0, max_gauss]).
Optionally (`e2=True`) an exact random element of D4 (90-degree turn + mirror) per view: the
plain-CNN twin needs it to learn what the equivariant backbone has by construction (its
embedding is invariant to those elements exactly, so it gets no rotations or flips).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.data.observe import gaussian_blur, resample
from core.data.transforms import RandomE2Augment


@dataclass
class ViewConfig:
    max_shift_px: float = 1.0  # pointing offset, pixels per axis (sub-pixel, bilinear)
    max_blur_px: float = 0.5  # extra Gaussian PSF sigma, pixels (0 = no blur jitter)
    flux_jitter: float = 0.2  # relative gain error: gain in [1 - j, 1 + j]
    sky_jitter: float = 0.02  # sky-level error in units of the image maximum
    max_poisson: float = 0.02  # Poisson-like noise amplitude: std = a * sqrt(x), a in [0, max]
    max_gauss: float = 0.01  # Gaussian noise std in units of the image maximum, in [0, max]
    e2: bool = False  # also a random exact D4 element per view (for non-equivariant backbones)


def instrument_view(x: torch.Tensor, cfg: ViewConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random view of x (B, 1, S, S) in [0, 1]: same shape, roughly the same scale (see module doc)."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator)

    geo = RandomE2Augment(rotations="right" if cfg.e2 else 1, flips=cfg.e2, max_shift_px=cfg.max_shift_px, generator=generator).sample(b)
    v = resample(x, geo["angle_deg"], geo["flip"], geo["dy"], geo["dx"], mode="bilinear")
    if cfg.max_blur_px > 0:
        v = gaussian_blur(v, uniform(0.0, cfg.max_blur_px))
    gain = uniform(1 - cfg.flux_jitter, 1 + cfg.flux_jitter).view(-1, 1, 1, 1)
    sky = uniform(-cfg.sky_jitter, cfg.sky_jitter).view(-1, 1, 1, 1)
    v = v * gain + sky
    poisson = uniform(0.0, cfg.max_poisson).view(-1, 1, 1, 1)
    gauss = uniform(0.0, cfg.max_gauss).view(-1, 1, 1, 1)
    std = torch.sqrt(poisson**2 * v.clamp_min(0) + gauss**2)
    return v + std * torch.randn(v.shape, generator=generator)
