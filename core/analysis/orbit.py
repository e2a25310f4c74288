"""The orbit of one image: where its rotated and flipped copies land in latent space and on the map.

An exactly invariant latent maps every copy to one point; a baseline CNN draws a trail.
Copies are made from the image on the model grid, masked to its inscribed disc (as in
`core.analysis.equivariance`) so that rotation by any angle keeps the same content.

Spread measures (dimensionless, 0 = a single point):
- `latent_spread`: RMS distance of the copies' latents from their mean, divided by the RMS
  norm of the latents;
- `map_spread`: RMS distance of the placed copies from their centroid, divided by the RMS
  radius of the reference map (only when a map is given);
- `data_spread`: `rms_spread` of the copies' latents divided by that of the map's reference
  latents, i.e. the orbit's size against the spread of the whole data set (only with a map;
  unlike `latent_spread` it is not shrunk by a large common offset of all latents).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.analysis.encode import _image_size, encode_batch
from core.analysis.equivariance import disc_mask
from core.errors import InputError


@dataclass
class Orbit:
    angles: list[float]  # rotation of each copy, degrees
    flips: list[bool]  # whether each copy was flipped first
    z: np.ndarray  # (M, d) latents of the copies
    coords: np.ndarray | None  # (M, 2) positions on the map, or None without a map
    latent_spread: float
    map_spread: float | None
    data_spread: float | None = None


def rms_spread(points: np.ndarray) -> float:
    """RMS distance of points (M, d) from their mean."""
    points = np.asarray(points, dtype=np.float64)
    return float(np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean()))


def orbit_copies(x: torch.Tensor, step_deg: float = 30.0, flips: bool = True,
                 mode: str = "bilinear") -> tuple[torch.Tensor, list[float], list[bool]]:
    """Copies (M, 1, S, S) of one image x (1, 1, S, S) rotated every step_deg (and flipped); turns off the right
    angles resample with `mode` ("bilinear", or "sinc": band-limited, core.data.sinc)."""
    from core.data.transforms import apply_group_element

    if not 0 < step_deg <= 360:
        raise InputError(f"The orbit step must be between 0 and 360 degrees; got {step_deg}.")
    angles = [float(a) for a in np.arange(0.0, 360.0 - 1e-9, step_deg)]
    flip_list = [False, True] if flips else [False]
    x = x * disc_mask(x.shape[-1], 1.0).to(x)
    copies, a_out, f_out = [], [], []
    for f in flip_list:
        for a in angles:
            copies.append(apply_group_element(x, a, f, mode=mode))
            a_out.append(a)
            f_out.append(f)
    return torch.cat(copies), a_out, f_out


def image_orbit(loaded, image: np.ndarray | torch.Tensor, lmap=None, step_deg: float = 30.0, flips: bool = True,
                mode: str = "bilinear") -> Orbit:
    """Orbit of one image (a raw 2-D array, or a (S, S) / (1, 1, S, S) tensor already on the model grid); `mode`
    resamples the turns (`orbit_copies`)."""
    if isinstance(image, np.ndarray):
        from core.data.preprocess import prepare

        x = torch.from_numpy(prepare(image, _image_size(loaded)))[None, None]  # (1, 1, S, S)
    else:
        x = image.reshape(1, 1, *image.shape[-2:]).float()
    copies, angles, flip_list = orbit_copies(x, step_deg, flips, mode)
    z = encode_batch(loaded, copies)  # (M, d)
    scale = float(np.sqrt((np.asarray(z, np.float64) ** 2).sum(1).mean()))
    latent_spread = rms_spread(z) / max(scale, 1e-12)
    coords = map_spread = data_spread = None
    if lmap is not None:
        coords = lmap.place(z)  # (M, 2)
        map_spread = rms_spread(coords) / max(rms_spread(lmap.coords), 1e-12)
        data_spread = rms_spread(z) / max(rms_spread(lmap.z_ref), 1e-12)
    return Orbit(angles, flip_list, z, coords, latent_spread, map_spread, data_spread)
