"""Simulated moment-1 (line-of-sight velocity) maps of Keplerian disks: the out-of-kind examples of the kind check.

A thin disk around a star of mass M, inclined by i, its major axis at position angle PA:

    v_los(x, y) = v_sys + sqrt(G M / r) sin(i) cos(phi)

with (r, phi) the disk-plane radius and azimuth of the sky pixel (x, y) (the minor axis deprojected by
cos i). The map is smoothed by a Gaussian beam, noise correlated on the beam scale is added, and the
pixels outside the emitting disk are masked as moment-1 maps are: NaN (the reader fills them with the
median), zero, or the noisy velocities of empty channels. Output in km/s, float32 (size, size).
Used by core.analysis.kind_fit only; no data set is written from it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

G_AU_KMS2_PER_MSUN = 887.1  # G * M_sun in au (km/s)^2: v = 29.8 km/s at 1 au around 1 M_sun
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
MASKS = ("nan", "zero", "noise")


def velocity_map(size: int, *, inclination_deg: float, position_angle_deg: float, stellar_mass_msun: float,
                 outer_radius_px: float, au_per_px: float, beam_fwhm_px: float, v_sys_kms: float,
                 noise_kms: float, mask: str, rng: np.random.Generator) -> np.ndarray:
    """One moment-1 map in km/s (float32 (size, size); NaN outside the disk when `mask` is "nan")."""
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size] - c
    pa = math.radians(position_angle_deg)
    major = xx * math.cos(pa) + yy * math.sin(pa)  # along the major axis
    minor = -xx * math.sin(pa) + yy * math.cos(pa)
    cos_i = math.cos(math.radians(inclination_deg))
    r_px = np.hypot(major, minor / cos_i)
    r_soft = np.hypot(r_px, 0.5 * beam_fwhm_px) * au_per_px  # softened at the centre (the beam fills it)
    speed = np.sqrt(G_AU_KMS2_PER_MSUN * stellar_mass_msun / r_soft)
    v = speed * math.sin(math.radians(inclination_deg)) * major / np.maximum(np.hypot(major, minor / cos_i), 1e-6)
    sigma = beam_fwhm_px * FWHM_TO_SIGMA
    v = gaussian_filter(v, sigma)
    noise = gaussian_filter(rng.standard_normal((size, size)), sigma)
    v = v + v_sys_kms + noise * (noise_kms / max(float(noise.std()), 1e-12))
    outside = gaussian_filter((r_px <= outer_radius_px).astype(float), sigma) < 0.5
    if mask == "nan":
        v[outside] = np.nan
    elif mask == "zero":
        v[outside] = 0.0
    else:  # empty channels: the moment-1 of noise, velocities spread over the band
        v[outside] = v_sys_kms + rng.uniform(-1, 1, int(outside.sum())) * float(np.abs(v - v_sys_kms).max())
    return v.astype(np.float32)


def random_velocity_map(size: int, rng: np.random.Generator) -> np.ndarray:
    """A velocity map with parameters drawn across what ALMA line observations of disks show."""
    return velocity_map(
        size,
        inclination_deg=float(rng.uniform(15, 75)),
        position_angle_deg=float(rng.uniform(0, 360)),
        stellar_mass_msun=float(rng.uniform(0.3, 2.5)),
        outer_radius_px=float(rng.uniform(0.25, 0.48) * size),
        au_per_px=float(rng.uniform(1.0, 8.0)),
        beam_fwhm_px=float(rng.uniform(2.0, 0.12 * size)),
        v_sys_kms=float(rng.choice([0.0, rng.uniform(-10, 10)])),
        noise_kms=float(rng.uniform(0.01, 0.3)),
        mask=str(rng.choice(MASKS, p=(0.6, 0.2, 0.2))),
        rng=rng,
    )
