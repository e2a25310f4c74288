"""A second view of a disk image that differs only in how it was observed, for invariance training.

`nuisance_view(x)` takes a batch of disk images on the model grid (B, 1, S, S) in [0, 1] and
returns the same disks observed again: optionally framed larger or smaller (`scale`: distance and
pixel scale), a slightly wider beam, CASA-like clean residuals, a new thermal-noise realisation
correlated on the beam scale, renormalised to [0, 1] as
`core.data.preprocess.prepare` does. What the physics put there (rings, gaps carved by the
planets, cavities, spirals, inclination and position angle) is left alone, so a latent that
gives both views the same vector (a VICReg invariance term, `core.models.losses.vicreg_loss`)
is pushed to drop the observing conditions and keep the disk.

Randomness comes from `generator` (a torch.Generator) or torch's global RNG, which the trainer
re-seeds every epoch. Units: pixels of the model grid; amplitudes relative to the image's peak
(the images are min-max normalised, so peak = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.data.disks import clean_residual_pattern
from core.data.observe import correlated_noise, gaussian_blur


@dataclass(frozen=True)
class NuisanceConfig:
    extra_beam_px: tuple[float, float] = (0.0, 0.8)  # sigma (px) of an extra Gaussian blur, uniform in this range
    noise: tuple[float, float] = (0.003, 0.05)  # std of the added noise relative to the peak (training SNRs: 10-1000), log-uniform
    noise_beam_px: tuple[float, float] = (0.9, 2.0)  # sigma (px) of the noise's correlation (the beam), uniform
    residual_probability: float = 0.3  # share of views that get clean residuals
    residual: tuple[float, float] = (0.005, 0.03)  # their amplitude relative to the peak, uniform
    scale: tuple[float, float] = (1.0, 1.0)  # zoom about the centre, uniform (the disk's size in the frame); 1 = off


def _uniform(n: int, lo_hi: tuple[float, float], generator) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def nuisance_view(x: torch.Tensor, generator: torch.Generator | None = None,
                  config: NuisanceConfig = NuisanceConfig()) -> torch.Tensor:
    """The disks of x (B, 1, S, S) in [0, 1] observed again (see module doc); same shape, in [0, 1]."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"Expected disk images of shape (B, 1, S, S); got {tuple(x.shape)}.")
    b = x.shape[0]
    with torch.no_grad():
        view = x.float().clone()
        if config.scale != (1.0, 1.0):
            from core.data.transforms import RandomE2Augment

            view = RandomE2Augment(rotations=1, flips=False, scale_range=config.scale, generator=generator)(view)
        view = gaussian_blur(view, _uniform(b, config.extra_beam_px, generator))
        beam = _uniform(b, config.noise_beam_px, generator)
        residual = torch.rand(b, generator=generator) < config.residual_probability
        amplitude = _uniform(b, config.residual, generator)
        for i in torch.nonzero(residual).flatten().tolist():
            pattern = clean_residual_pattern(view[i, 0].double().numpy(), float(beam[i]))
            view[i, 0] += float(amplitude[i]) * torch.from_numpy(pattern.astype(np.float32))
        lo, hi = (math.log(v) for v in config.noise)
        sigma = torch.exp(_uniform(b, (lo, hi), generator)).float()
        view = view + sigma[:, None, None, None] * correlated_noise(tuple(view.shape), beam, generator)
        low = view.amin(dim=(2, 3), keepdim=True)
        span = (view.amax(dim=(2, 3), keepdim=True) - low).clamp_min(1e-12)
        return ((view - low) / span).to(x.dtype)
