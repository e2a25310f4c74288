"""Parametric dust-continuum images of protoplanetary disks, ALMA-like (ML4SCI EXXA look).

Physics, in the disk plane (radius r in au):
- Surface density: Lynden-Bell & Pringle self-similar profile
  Sigma(r) = (r/r_c)^-gamma * exp(-(r/r_c)^(2-gamma)), times a smooth inner cavity and a
  sharp (5 % wide) outer dust edge at `outer_radius_au`.
- Planet gaps: each planet (mass m_p, orbital radius r_p) multiplies Sigma by a Gaussian dip
  centred on r_p whose full width at half depth is `gap_width_hill` Hill radii,
  r_H = r_p (m_p / (3 M_*))^(1/3), and whose floor is Kanagawa et al. (2015):
  Sigma_gap / Sigma_0 = 1 / (1 + 0.04 K), K = q^2 h^-5 alpha^-1 (q = m_p / M_*, h = H/r).
  Outside the gap a pressure-bump ring (Gaussian) of relative height `ring_contrast`.
- Spiral wakes (optional): the linear-theory wake shape of Rafikov (2002) (as used by
  Muto et al. 2012) launched at the planet, for a Keplerian disk rotating counter-clockwise
  in the disk frame, as a Gaussian ridge of relative height `spiral_contrast`.
- Emission: temperature T ~ r^-q (`temperature_index`), optical depth tau = tau_c Sigma / cos(i)
  along the line of sight; intensity ~ T (1 - exp(-tau)) (Rayleigh-Jeans, isothermal slab).
- Projection: geometrically thin disk, inclination i, position angle PA.
- Observation: convolution with a circular Gaussian beam (astropy.convolution), then thermal
  noise correlated on the beam scale with standard deviation peak / snr.

Image orientation (FITS / astronomical convention): array index [row, col]; row index grows
to the north (up when displayed with origin="lower", as FITS viewers do) and column index grows
to the west, so east is left. PA is measured from north towards east, i.e. counter-clockwise on
the displayed sky. Increasing the PA by 90 degrees therefore equals `np.rot90(image, k=-1)`
(a counter-clockwise turn with origin="lower"; clockwise when row 0 is drawn at the top).

Output: float32 (size, size), in units of the noiseless peak intensity (peak = 1 before noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from astropy.convolution import Gaussian2DKernel, convolve_fft

MJUP_IN_MSUN = 9.5458e-4  # Jupiter mass / solar mass
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
MAX_PLANETS = 3


@dataclass
class DiskParams:
    """Physical parameters of one synthetic disk observation (units in the names)."""

    inclination_deg: float = 30.0  # 0 = face-on, 90 = edge-on
    position_angle_deg: float = 0.0  # major axis, east of north (counter-clockwise on the sky)
    stellar_mass_msun: float = 1.0  # host-star mass
    distance_pc: float = 140.0  # 1 arcsec = distance_pc au
    critical_radius_au: float = 60.0  # r_c of the tapered power law
    outer_radius_au: float = 130.0  # dust outer edge (radial drift truncates dust disks sharply)
    surface_density_index: float = 1.0  # gamma in Sigma ~ r^-gamma exp(-(r/r_c)^(2-gamma))
    temperature_index: float = 0.5  # q in T ~ r^-q
    optical_depth_at_rc: float = 0.3  # face-on dust optical depth at r_c
    cavity_radius_au: float = 5.0  # inner dust cavity
    aspect_ratio: float = 0.06  # h = H/r at the planets
    alpha_viscosity: float = 1e-3  # Shakura-Sunyaev alpha
    planet_radii_au: list[float] = field(default_factory=list)  # orbital radii
    planet_masses_mjup: list[float] = field(default_factory=list)  # Jupiter masses
    planet_azimuths_deg: list[float] = field(default_factory=list)  # in the disk plane, from the major axis
    gap_width_hill: float = 5.0  # gap full width at half depth, in Hill radii
    ring_contrast: float = 0.5  # pressure-bump ring height relative to the local Sigma (0 = none)
    spiral_contrast: float = 0.3  # spiral-wake ridge height relative to the local Sigma (0 = none)
    beam_fwhm_arcsec: float = 0.05  # circular Gaussian beam
    pixel_scale_arcsec: float = 0.02  # angular size of one pixel
    snr: float = 50.0  # peak signal-to-noise ratio of the convolved image

    @property
    def n_planets(self) -> int:
        return len(self.planet_radii_au)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_planets"] = self.n_planets
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DiskParams:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> None:
        n = len(self.planet_radii_au)
        if len(self.planet_masses_mjup) != n or len(self.planet_azimuths_deg) != n:
            raise ValueError("Give one mass and one azimuth for every planet radius (the three planet lists must have the same length).")
        if n > MAX_PLANETS:
            raise ValueError(f"At most {MAX_PLANETS} planets are supported; got {n}.")
        if not 0.0 <= self.inclination_deg < 90.0:
            raise ValueError("The inclination must be between 0 (face-on) and 90 degrees (edge-on, excluded).")
        for name in ("distance_pc", "critical_radius_au", "outer_radius_au", "stellar_mass_msun", "beam_fwhm_arcsec", "pixel_scale_arcsec", "snr", "aspect_ratio", "alpha_viscosity"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}.")


def hill_radius_au(radius_au: float, planet_mass_mjup: float, stellar_mass_msun: float) -> float:
    """Hill radius r_p (m_p / (3 M_*))^(1/3) in au."""
    q = planet_mass_mjup * MJUP_IN_MSUN / stellar_mass_msun
    return radius_au * (q / 3.0) ** (1.0 / 3.0)


def kanagawa_gap_depth(planet_mass_mjup: float, stellar_mass_msun: float, aspect_ratio: float, alpha: float) -> float:
    """Gap-floor surface density over the unperturbed one, 1 / (1 + 0.04 K) (Kanagawa et al. 2015)."""
    q = planet_mass_mjup * MJUP_IN_MSUN / stellar_mass_msun
    k = q**2 * aspect_ratio**-5 / alpha
    return 1.0 / (1.0 + 0.04 * k)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap radians to (-pi, pi]."""
    return np.pi - np.mod(np.pi - angle, 2.0 * np.pi)


def rafikov_wake_azimuth(r: np.ndarray, r_p: float, h_p: float, phi_p: float) -> np.ndarray:
    """Azimuth (rad) of the planet's spiral wake at radius r (Rafikov 2002; Muto et al. 2012, eq. 1).

    Keplerian rotation (Omega ~ r^-1.5), sound speed c ~ r^-0.25, counter-clockwise rotation:
    the wakes trail (inner arm leads the planet, outer arm lags).
    """
    a, b = 1.5, 0.25
    x = r / r_p
    shape = x ** (1 + b) * (1 / (1 + b) - x**-a / (1 - a + b)) - (1 / (1 + b) - 1 / (1 - a + b))
    return phi_p - np.sign(r - r_p) * shape / h_p


def surface_density(r: np.ndarray, phi: np.ndarray, p: DiskParams) -> np.ndarray:
    """Dust surface density in units of Sigma(r_c) at disk-plane radius r (au) and azimuth phi (rad)."""
    r = np.maximum(r, 1e-3)
    x = r / p.critical_radius_au
    g = p.surface_density_index
    sigma = x**-g * np.exp(-(x ** (2.0 - g)) + 1.0)  # = 1 at r_c
    if p.cavity_radius_au > 0:
        edge = 0.15 * p.cavity_radius_au
        sigma = sigma * 0.5 * (1.0 + np.tanh((r - p.cavity_radius_au) / edge))
    sigma = sigma * 0.5 * (1.0 - np.tanh((r - p.outer_radius_au) / (0.05 * p.outer_radius_au)))
    perturb = np.ones_like(r)
    for r_p, m_p, az in zip(p.planet_radii_au, p.planet_masses_mjup, p.planet_azimuths_deg, strict=True):
        r_h = hill_radius_au(r_p, m_p, p.stellar_mass_msun)
        depth = kanagawa_gap_depth(m_p, p.stellar_mass_msun, p.aspect_ratio, p.alpha_viscosity)
        gap_sigma = p.gap_width_hill * r_h * FWHM_TO_SIGMA  # Gaussian sigma of the dip, au
        perturb = perturb * (1.0 - (1.0 - depth) * np.exp(-0.5 * ((r - r_p) / gap_sigma) ** 2))
        if p.ring_contrast > 0:
            ring_r = r_p + 2.0 * p.gap_width_hill * r_h * 0.6  # just outside the gap edge
            perturb = perturb + p.ring_contrast * np.exp(-0.5 * ((r - ring_r) / gap_sigma) ** 2)
        if p.spiral_contrast > 0:
            h_p = p.aspect_ratio
            phi_w = rafikov_wake_azimuth(r, r_p, h_p, math.radians(az))
            dist = r * np.abs(_wrap(phi - phi_w))  # along-arc distance to the nearest winding, au
            width = 0.5 * h_p * r_p  # wake width ~ local scale height
            envelope = np.exp(-np.abs(r - r_p) / (1.5 * r_p))
            # wake strength grows with mass, saturating at a few thermal masses
            strength = min(1.0, (m_p * MJUP_IN_MSUN / p.stellar_mass_msun) / h_p**3)
            perturb = perturb + p.spiral_contrast * strength * envelope * np.exp(-0.5 * (dist / width) ** 2)
    return sigma * perturb


def _sky_grid(size: int, p: DiskParams, oversample: int) -> tuple[np.ndarray, np.ndarray]:
    """Disk-plane radius (au) and azimuth (rad) at the sub-pixel sample points, shape (size*o, size*o)."""
    au_per_pixel = p.pixel_scale_arcsec * p.distance_pc
    sub = (np.arange(oversample) - (oversample - 1) / 2.0) / oversample
    centre = (size - 1) / 2.0
    idx = (np.arange(size)[:, None] + sub[None, :]).ravel() - centre  # pixel offsets
    north = idx[:, None] * au_per_pixel  # row grows northwards
    east = -idx[None, :] * au_per_pixel  # column grows westwards
    pa, inc = math.radians(p.position_angle_deg), math.radians(p.inclination_deg)
    major = east * math.sin(pa) + north * math.cos(pa)  # along the major axis, au
    minor = -east * math.cos(pa) + north * math.sin(pa)  # along the projected minor axis, au
    y_disk = minor / math.cos(inc)
    return np.hypot(major, y_disk), np.arctan2(y_disk, major)


def beam_sigma_pixels(p: DiskParams) -> float:
    """Gaussian beam standard deviation in pixels."""
    return p.beam_fwhm_arcsec * FWHM_TO_SIGMA / p.pixel_scale_arcsec


def _convolve_beam(image: np.ndarray, sigma_px: float) -> np.ndarray:
    kernel = Gaussian2DKernel(x_stddev=sigma_px)
    return convolve_fft(image, kernel, boundary="fill", fill_value=0.0, normalize_kernel=True)


def model_image(params: DiskParams, size: int = 128, oversample: int | None = None) -> np.ndarray:
    """Noiseless sky intensity (before the beam), float64 (size, size), arbitrary units."""
    params.validate()
    if oversample is None:
        oversample = max(1, min(3, 768 // size))
    r, phi = _sky_grid(size, params, oversample)
    sigma = surface_density(r, phi, params)
    cos_i = math.cos(math.radians(params.inclination_deg))
    tau = params.optical_depth_at_rc * sigma / cos_i
    temperature = np.maximum(r / params.critical_radius_au, 1e-3) ** -params.temperature_index
    intensity = temperature * -np.expm1(-tau)
    return intensity.reshape(size, oversample, size, oversample).mean(axis=(1, 3))


def simulate_disk(params: DiskParams, size: int = 128, rng: np.random.Generator | None = None, *, noise: bool = True) -> np.ndarray:
    """One ALMA-like continuum image (float32, (size, size)), noiseless peak = 1.

    `rng` draws the thermal noise (std = 1 / snr, correlated on the beam scale);
    `noise=False` returns the beam-convolved model alone.
    """
    if size < 8:
        raise ValueError(f"The image size must be at least 8 pixels; got {size}.")
    sigma_px = beam_sigma_pixels(params)
    image = _convolve_beam(model_image(params, size), sigma_px)
    peak = float(image.max())
    if not peak > 0:
        raise ValueError("The disk has no emission inside the field of view; enlarge the pixel scale or the disk.")
    image = image / peak
    if noise:
        rng = rng if rng is not None else np.random.default_rng()
        white = rng.standard_normal((size, size))
        correlated = _convolve_beam(white, sigma_px)
        correlated /= correlated.std()
        image = image + correlated / params.snr
    return image.astype(np.float32)


def sample_disk_params(rng: np.random.Generator, n_planets: int, size: int = 128) -> DiskParams:
    """Plausible parameters for a disk with `n_planets` (0-3) planets, framed for a `size`-pixel image.

    Distance 100-200 pc, r_c 40-90 au, dust edge at 1.8-2.5 r_c, optical depth at r_c 0.3-3,
    planets of 0.5-5 Jupiter masses at 0.35-1.5 r_c (gaps at least 8 Hill radii + 0.1 r_c apart),
    peak SNR 20-100. The pixel scale makes the field of view 5 r_c across and the beam FWHM is
    1.5-3.5 % of it (2-4.5 px at 128 px, 0.02-0.1 arcsec), so the framing and resolution of the
    disk do not depend on `size`.
    """
    if not 0 <= n_planets <= MAX_PLANETS:
        raise ValueError(f"The number of planets must be between 0 and {MAX_PLANETS}; got {n_planets}.")
    distance = float(rng.uniform(100, 200))
    r_c = float(rng.uniform(40, 90))
    m_star = float(rng.uniform(0.5, 2.0))
    masses, radii = [], []
    for _ in range(100):  # rejection sampling for well-separated gaps
        masses = list(np.exp(rng.uniform(np.log(0.5), np.log(5.0), n_planets)))
        radii = sorted(rng.uniform(0.35 * r_c, 1.5 * r_c, n_planets))
        hills = [hill_radius_au(r, m, m_star) for r, m in zip(radii, masses, strict=True)]
        if all(radii[k + 1] - radii[k] > 8 * max(hills[k], hills[k + 1]) + 0.1 * r_c for k in range(n_planets - 1)):
            break
    fov_au = 5.0 * r_c
    return DiskParams(
        inclination_deg=float(rng.uniform(0, 75)),
        position_angle_deg=float(rng.uniform(0, 360)),
        stellar_mass_msun=m_star,
        distance_pc=distance,
        critical_radius_au=r_c,
        outer_radius_au=float(rng.uniform(1.8, 2.5)) * r_c,
        surface_density_index=float(rng.uniform(0.5, 1.2)),
        temperature_index=float(rng.uniform(0.4, 0.6)),
        optical_depth_at_rc=float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))),
        cavity_radius_au=float(rng.uniform(1.0, 0.2 * r_c)),
        aspect_ratio=float(rng.uniform(0.05, 0.08)),
        alpha_viscosity=float(np.exp(rng.uniform(np.log(1e-4), np.log(3e-3)))),
        planet_radii_au=[float(r) for r in radii],
        planet_masses_mjup=[float(m) for m in masses],
        planet_azimuths_deg=[float(a) for a in rng.uniform(0, 360, n_planets)],
        gap_width_hill=float(rng.uniform(4.0, 7.0)),
        ring_contrast=float(rng.uniform(0.0, 0.8)),
        spiral_contrast=float(rng.uniform(0.0, 0.5)) if rng.random() < 0.7 else 0.0,
        beam_fwhm_arcsec=float(rng.uniform(0.015, 0.035)) * fov_au / distance,
        pixel_scale_arcsec=fov_au / distance / size,
        snr=float(rng.uniform(20, 100)),
    )
