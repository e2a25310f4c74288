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
- Rings (optional, `ring_radii_au`): Gaussian rings of surface density added to the smooth
  profile, whose weight `smooth_fraction` may be 0 (ring-only disks: no central peak).
- Cavity: inside `cavity_radius_au` the surface density falls to `cavity_depth` of its value
  (0 = empty; transition disks have cavities of tens of au).
- DSHARP-like components (disk generator 3.0, core.data.dsharp; all off by default, and omitted from
  `to_dict` while off, so 2.x manifests and images are unchanged): free gaps (`gap_radii_au`: Gaussian dips
  whose floor `gap_depths` is Sigma at the gap centre over the unperturbed Sigma), a compact inner disk
  (`inner_disk_radius_au`: a central Gaussian that no cavity removes), an m-armed logarithmic spiral
  (`spiral_arms`, signed `spiral_pitch_deg`: a density-wave crest multiplying Sigma by 1 + contrast), a
  crescent (`crescent_*`: a vortex-like bump, Gaussian in radius and azimuth, added on top) and a softened
  temperature T ~ (r^2 + r_T^2)^(-q/2) (`temperature_floor_au`) so a bright inner disk has no hot pixel.
- Projection: geometrically thin disk, inclination i, position angle PA.
- Observation: convolution with a Gaussian beam (FWHM `beam_fwhm_arcsec` along the major axis,
  `beam_minor_fwhm_arcsec` along the minor one, position angle `beam_pa_deg`; circular by
  default), optional CASA-like clean residuals (`clean_residual`: the model convolved with a
  zero-mean ripple kernel of the beam's scale, a stand-in for the sidelobe pattern a clean
  leaves behind), then thermal noise correlated on the beam scale with standard deviation peak / snr.

Image orientation (FITS / astronomical convention): array index [row, col]; row index grows
to the north (up when displayed with origin="lower", as FITS viewers do) and column index grows
to the west, so east is left. PA is measured from north towards east, i.e. counter-clockwise on
the displayed sky. Increasing the PA by 90 degrees therefore equals `np.rot90(image, k=-1)`
(a counter-clockwise turn with origin="lower"; clockwise when row 0 is drawn at the top).

Output: float32 (size, size), in units of the noiseless peak intensity (peak = 1 before noise).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, replace

import numpy as np
from astropy.convolution import Gaussian2DKernel, convolve_fft
from scipy.signal import fftconvolve

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
    cavity_depth: float = 0.0  # surface density inside the cavity relative to outside (0 = empty)
    smooth_fraction: float = 1.0  # weight of the smooth tapered power law (0 = rings only)
    ring_radii_au: list[float] = field(default_factory=list)  # Gaussian rings added to the smooth disk
    ring_widths_au: list[float] = field(default_factory=list)  # their Gaussian sigma
    ring_amplitudes: list[float] = field(default_factory=list)  # their height, in units of Sigma(r_c)
    beam_minor_fwhm_arcsec: float | None = None  # None: circular beam
    beam_pa_deg: float = 0.0  # beam major axis, east of north
    clean_residual: float = 0.0  # amplitude of CASA-like clean residual ripples, relative to the peak
    morphology: str = "full"  # how the sampler drew the disk: full | transition | rings (3.0 also multi-ring | spiral | crescent; a label only)
    # generator 3.0 (core.data.dsharp); each off at its default, and left out of to_dict while off
    gap_radii_au: list[float] = field(default_factory=list)  # free gaps (no listed planet carves them)
    gap_widths_au: list[float] = field(default_factory=list)  # their Gaussian sigma
    gap_depths: list[float] = field(default_factory=list)  # Sigma at the gap centre / unperturbed Sigma (0 empty, 1 no gap)
    inner_disk_radius_au: float = 0.0  # Gaussian sigma of a compact inner disk (0 = none)
    inner_disk_amplitude: float = 0.0  # its central surface density, in units of Sigma(r_c)
    spiral_arms: int = 0  # m of a logarithmic spiral (0 = none)
    spiral_pitch_deg: float = 15.0  # pitch angle; the sign picks the winding sense
    spiral_arm_contrast: float = 0.0  # Sigma on the arm crest is (1 + contrast) times the local Sigma
    spiral_arm_width_au: float = 5.0  # Gaussian sigma across an arm
    spiral_phase_deg: float = 0.0  # disk-plane azimuth of arm 0 at spiral_inner_au, from the major axis
    spiral_inner_au: float = 10.0  # the arms run from here ...
    spiral_outer_au: float = 100.0  # ... to here (tanh tapers 10 % wide)
    crescent_radius_au: float = 50.0  # radius of the crescent's crest
    crescent_width_au: float = 5.0  # its radial Gaussian sigma
    crescent_azimuth_deg: float = 0.0  # its disk-plane azimuth, from the major axis
    crescent_extent_deg: float = 40.0  # its azimuthal Gaussian sigma
    crescent_amplitude: float = 0.0  # its peak surface density in units of Sigma(r_c) (0 = none)
    temperature_floor_au: float = 0.0  # softening radius r_T of the temperature (0: T ~ r^-q clipped at 1e-3 au, as 2.x)
    figure_stretch: str = ""  # rendered as a figure (core.io.stretch): "" (linear) | asinh | sqrt | log | power
    figure_softening: float = 0.0  # the stretch's parameter (asinh a, log b, power exponent)
    figure_vmin: float = 0.0  # display range, in units of the noiseless peak (values below / above are clipped)
    figure_vmax: float = 1.0
    figure_bits: int = 0  # 8: quantised to 256 levels as a PNG is (the noiseless twin never is); 0: float

    @property
    def n_planets(self) -> int:
        return len(self.planet_radii_au)

    def to_dict(self) -> dict:
        """The parameters as plain values; the 3.0 components only when on (2.x manifests are unchanged)."""
        d = asdict(self)
        defaults = _v3_defaults()
        for name in V3_FIELDS:
            if d[name] == defaults[name]:
                del d[name]
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
        if not len(self.ring_radii_au) == len(self.ring_widths_au) == len(self.ring_amplitudes):
            raise ValueError("Give one width and one amplitude for every ring radius (the three ring lists must have the same length).")
        if any(w <= 0 for w in self.ring_widths_au):
            raise ValueError("Every ring width must be positive.")
        self._validate_v3()
        if not 0.0 <= self.cavity_depth <= 1.0:
            raise ValueError(f"cavity_depth must be between 0 (empty cavity) and 1 (no cavity); got {self.cavity_depth}.")
        if self.beam_minor_fwhm_arcsec is not None and not 0 < self.beam_minor_fwhm_arcsec <= self.beam_fwhm_arcsec:
            raise ValueError("The beam's minor axis must be positive and at most its major axis.")
        if n > MAX_PLANETS:
            raise ValueError(f"At most {MAX_PLANETS} planets are supported; got {n}.")
        if not 0.0 <= self.inclination_deg < 90.0:
            raise ValueError("The inclination must be between 0 (face-on) and 90 degrees (edge-on, excluded).")
        for name in ("distance_pc", "critical_radius_au", "outer_radius_au", "stellar_mass_msun", "beam_fwhm_arcsec", "pixel_scale_arcsec", "snr", "aspect_ratio", "alpha_viscosity"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}.")


    def _validate_v3(self) -> None:
        """The 3.0 components: one width and depth per gap, depths in [0, 1], positive widths, a known stretch."""
        if not len(self.gap_radii_au) == len(self.gap_widths_au) == len(self.gap_depths):
            raise ValueError("Give one width and one depth for every gap radius (the three gap lists must have the same length).")
        if any(w <= 0 for w in self.gap_widths_au) or any(not 0.0 <= d <= 1.0 for d in self.gap_depths):
            raise ValueError("Every gap width must be positive and every gap depth between 0 (empty) and 1 (no gap).")
        if self.inner_disk_amplitude > 0 and not self.inner_disk_radius_au > 0:
            raise ValueError("A compact inner disk needs a positive inner_disk_radius_au.")
        if self.spiral_arms and (self.spiral_arm_width_au <= 0 or not 0 < abs(self.spiral_pitch_deg) < 90
                                 or not 0 < self.spiral_inner_au < self.spiral_outer_au):
            raise ValueError("A spiral needs a positive arm width, a pitch between 0 and 90 degrees (either sign) and "
                             "spiral_inner_au below spiral_outer_au.")
        if self.crescent_amplitude > 0 and (self.crescent_width_au <= 0 or self.crescent_extent_deg <= 0):
            raise ValueError("A crescent needs a positive radial width and azimuthal extent.")
        if self.figure_stretch not in ("", "asinh", "sqrt", "log", "power") or not self.figure_vmax > self.figure_vmin:
            raise ValueError("figure_stretch must be '', asinh, sqrt, log or power, with figure_vmax above figure_vmin.")


V3_FIELDS = ("gap_radii_au", "gap_widths_au", "gap_depths", "inner_disk_radius_au", "inner_disk_amplitude", "spiral_arms",
             "spiral_pitch_deg", "spiral_arm_contrast", "spiral_arm_width_au", "spiral_phase_deg", "spiral_inner_au",
             "spiral_outer_au", "crescent_radius_au", "crescent_width_au", "crescent_azimuth_deg", "crescent_extent_deg",
             "crescent_amplitude", "temperature_floor_au", "figure_stretch", "figure_softening", "figure_vmin",
             "figure_vmax", "figure_bits")


def _v3_defaults() -> dict:
    return {name: f.default_factory() if f.default_factory is not MISSING else f.default
            for name, f in DiskParams.__dataclass_fields__.items() if name in V3_FIELDS}


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
    cavity = 1.0
    if p.cavity_radius_au > 0:
        edge = 0.15 * p.cavity_radius_au
        cavity = 0.5 * (1.0 + np.tanh((r - p.cavity_radius_au) / edge))  # 0 inside, 1 outside
        if p.cavity_depth > 0:
            cavity = p.cavity_depth + (1.0 - p.cavity_depth) * cavity
        sigma = sigma * cavity
    sigma = sigma * 0.5 * (1.0 - np.tanh((r - p.outer_radius_au) / (0.05 * p.outer_radius_au)))
    if p.smooth_fraction != 1.0:
        sigma = p.smooth_fraction * sigma
    for r_k, w_k, a_k in zip(p.ring_radii_au, p.ring_widths_au, p.ring_amplitudes, strict=True):
        sigma = sigma + a_k * cavity * np.exp(-0.5 * ((r - r_k) / w_k) ** 2)
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
    if p.inner_disk_amplitude > 0 or p.gap_radii_au or (p.spiral_arms and p.spiral_arm_contrast > 0):
        sigma = v3_structure(sigma, r, phi, p)
    if p.crescent_amplitude > 0:
        return sigma * perturb + crescent(r, phi, p)
    return sigma * perturb


def v3_structure(sigma: np.ndarray, r: np.ndarray, phi: np.ndarray, p: DiskParams) -> np.ndarray:
    """Sigma with the 3.0 components that shape it: plus the compact inner disk, times the free gaps, times the spiral."""
    if p.inner_disk_amplitude > 0:
        sigma = sigma + p.inner_disk_amplitude * np.exp(-0.5 * (r / p.inner_disk_radius_au) ** 2)
    for r_g, w_g, d_g in zip(p.gap_radii_au, p.gap_widths_au, p.gap_depths, strict=True):
        sigma = sigma * (1.0 - (1.0 - d_g) * np.exp(-0.5 * ((r - r_g) / w_g) ** 2))
    if p.spiral_arms and p.spiral_arm_contrast > 0:
        sigma = sigma * (1.0 + p.spiral_arm_contrast * spiral_crest(r, phi, p))
    return sigma


def spiral_crest(r: np.ndarray, phi: np.ndarray, p: DiskParams) -> np.ndarray:
    """In [0, 1]: 1 on the crest of the nearest arm of the m-armed logarithmic spiral
    phi_k(r) = phase + 2 pi k / m + ln(r / r_in) / tan(pitch), a Gaussian of sigma `spiral_arm_width_au` across it,
    tapered in to spiral_inner_au and out to spiral_outer_au."""
    pitch = math.radians(p.spiral_pitch_deg)
    wind = np.log(r / p.spiral_inner_au) / math.tan(pitch)
    offset = np.full(r.shape, np.pi)
    for k in range(p.spiral_arms):
        arm = math.radians(p.spiral_phase_deg) + 2 * np.pi * k / p.spiral_arms + wind
        offset = np.minimum(offset, np.abs(_wrap(phi - arm)))
    across = r * offset * abs(math.sin(pitch))  # distance to the crest, perpendicular to the arm, au
    taper = 0.25 * (1 + np.tanh((r - p.spiral_inner_au) / (0.1 * p.spiral_inner_au))) \
        * (1 - np.tanh((r - p.spiral_outer_au) / (0.1 * p.spiral_outer_au)))
    return taper * np.exp(-0.5 * (across / p.spiral_arm_width_au) ** 2)


def crescent(r: np.ndarray, phi: np.ndarray, p: DiskParams) -> np.ndarray:
    """A vortex-like crescent (HD 142527, HD 143006, IRS 48): Gaussian in radius and in azimuth, units of Sigma(r_c)."""
    dphi = _wrap(phi - math.radians(p.crescent_azimuth_deg))
    return p.crescent_amplitude * np.exp(-0.5 * ((r - p.crescent_radius_au) / p.crescent_width_au) ** 2
                                         - 0.5 * (dphi / math.radians(p.crescent_extent_deg)) ** 2)


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


def disk_plane_radius(params: DiskParams, size: int) -> np.ndarray:
    """Deprojected (disk-plane) radius in au at every pixel centre of a (size, size) image, float64."""
    return _sky_grid(size, params, 1)[0]


def profile_peak_au(image: np.ndarray, params: DiskParams) -> float:
    """Disk-plane radius (au) where the deprojected, azimuthally averaged profile of `image` (a (size, size)
    image of the disk `params` describes) peaks, in bins one pixel wide; the bin's centre."""
    bin_au = params.pixel_scale_arcsec * params.distance_pc
    k = np.floor(disk_plane_radius(params, image.shape[0]) / bin_au).astype(int).ravel()
    mean = np.bincount(k, image.ravel()) / np.maximum(np.bincount(k), 1)
    return (int(np.argmax(mean)) + 0.5) * bin_au


def beam_sigma_pixels(p: DiskParams) -> float:
    """Gaussian beam standard deviation in pixels (along the major axis)."""
    return p.beam_fwhm_arcsec * FWHM_TO_SIGMA / p.pixel_scale_arcsec


def beam_kernel(p: DiskParams) -> Gaussian2DKernel:
    """The beam as a normalised astropy kernel: circular, or elliptical at `beam_pa_deg` east of north."""
    major = beam_sigma_pixels(p)
    if p.beam_minor_fwhm_arcsec is None or p.beam_minor_fwhm_arcsec == p.beam_fwhm_arcsec:
        return Gaussian2DKernel(x_stddev=major)
    minor = p.beam_minor_fwhm_arcsec * FWHM_TO_SIGMA / p.pixel_scale_arcsec
    # astropy's theta turns the x (column) axis counter-clockwise in array terms; north is +row
    # and east is -column, so a major axis at PA east of north lies at theta = 90 + PA degrees
    theta = math.radians(90.0 + p.beam_pa_deg)
    side = 2 * int(math.ceil(4 * major)) + 1
    return Gaussian2DKernel(x_stddev=major, y_stddev=minor, theta=theta, x_size=side, y_size=side)


def _convolve_beam(image: np.ndarray, kernel) -> np.ndarray:
    if not hasattr(kernel, "array"):
        kernel = Gaussian2DKernel(x_stddev=float(kernel))
    return convolve_fft(image, kernel, boundary="fill", fill_value=0.0, normalize_kernel=True)


def clean_residual_pattern(image: np.ndarray, beam_sigma_px: float) -> np.ndarray:
    """A CASA-like clean residual for a beam-convolved image: the image convolved with a zero-mean
    ripple kernel cos(2 pi r / (4 sigma)) exp(-r^2 / (2 (3 sigma)^2)), scaled to a peak of 1.

    A stand-in for the sidelobes of the dirty beam that a shallow clean leaves around bright
    emission (positive and negative rings at about two beam widths), not a synthesis of the (u, v)
    coverage.
    """
    half = int(math.ceil(9 * beam_sigma_px))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    r = np.hypot(yy, xx)
    ripple = np.cos(2 * np.pi * r / (4 * beam_sigma_px)) * np.exp(-0.5 * (r / (3 * beam_sigma_px)) ** 2)
    ripple -= ripple.mean()
    pattern = fftconvolve(image, ripple, mode="same")  # zero-mean kernel: astropy would refuse to normalise it
    peak = float(np.abs(pattern).max())
    return pattern / peak if peak > 0 else pattern


def model_image(params: DiskParams, size: int = 128, oversample: int | None = None) -> np.ndarray:
    """Noiseless sky intensity (before the beam), float64 (size, size), arbitrary units."""
    params.validate()
    if oversample is None:
        oversample = max(1, min(3, 768 // size))
    r, phi = _sky_grid(size, params, oversample)
    sigma = surface_density(r, phi, params)
    cos_i = math.cos(math.radians(params.inclination_deg))
    tau = params.optical_depth_at_rc * sigma / cos_i
    if params.temperature_floor_au > 0:
        temperature = (np.hypot(r, params.temperature_floor_au) / params.critical_radius_au) ** -params.temperature_index
    else:
        temperature = np.maximum(r / params.critical_radius_au, 1e-3) ** -params.temperature_index
    intensity = temperature * -np.expm1(-tau)
    return intensity.reshape(size, oversample, size, oversample).mean(axis=(1, 3))


def noiseless_disk(params: DiskParams, size: int = 128) -> np.ndarray:
    """The beam-convolved model with its clean residuals, if any: float64 (size, size), peak 1 before the residuals."""
    if size < 8:
        raise ValueError(f"The image size must be at least 8 pixels; got {size}.")
    image = _convolve_beam(model_image(params, size), beam_kernel(params))
    peak = float(image.max())
    if not peak > 0:
        raise ValueError("The disk has no emission inside the field of view; enlarge the pixel scale or the disk.")
    image = image / peak
    if params.clean_residual > 0:
        image = image + params.clean_residual * clean_residual_pattern(image, beam_sigma_pixels(params))
    return image


def add_noise(image: np.ndarray, params: DiskParams, rng: np.random.Generator) -> np.ndarray:
    """An observation of the noiseless `image`: plus white noise convolved with the beam, scaled to std 1 / snr (float64)."""
    correlated = _convolve_beam(rng.standard_normal(image.shape), beam_kernel(params))
    correlated /= correlated.std()
    return image + correlated / params.snr


def noise_params(params: DiskParams) -> dict:
    """The instrument of `add_noise` as core.data.observe reads it: noise std `sigma` (units of the noiseless peak),
    the beam's Gaussian sigmas in pixels and its angle as astropy's `theta` (degrees, array terms), the FWHM in pixels."""
    minor = params.beam_minor_fwhm_arcsec
    circular = minor is None or minor == params.beam_fwhm_arcsec
    major_px = beam_sigma_pixels(params)
    return {"kind": "correlated", "sigma": 1.0 / params.snr, "beam_major_px": major_px,
            "beam_minor_px": major_px if circular else minor * FWHM_TO_SIGMA / params.pixel_scale_arcsec,
            "beam_theta_deg": 0.0 if circular else 90.0 + params.beam_pa_deg,
            "psf_fwhm_px": params.beam_fwhm_arcsec / params.pixel_scale_arcsec}


def observe(params: DiskParams, size: int, rng: np.random.Generator, *, noise: bool = True
            ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(image, noiseless twin, noise parameters), float64, as a data set stores them. A disk drawn as a figure
    (`figure_stretch`, core.data.dsharp) is clipped, stretched and normalised after the noise (core.io.stretch;
    a noisy image quantised when `figure_bits`, the twin never: without noise the image is the twin), and its
    noise parameters say so under "figure"."""
    twin = noiseless_disk(params, size)
    image = add_noise(twin, params, rng) if noise else twin
    instrument = noise_params(params)
    if params.figure_stretch:
        from core.io.stretch import render_figure

        display = (params.figure_stretch, params.figure_softening, params.figure_vmin, params.figure_vmax)
        twin = render_figure(twin, *display)
        image = render_figure(image, *display, bits=params.figure_bits) if noise else twin
        instrument["figure"] = dict(zip(("stretch", "softening", "vmin", "vmax"), display, strict=True)) | {"bits": params.figure_bits}
    return image, twin, instrument


def simulate_disk(params: DiskParams, size: int = 128, rng: np.random.Generator | None = None, *, noise: bool = True) -> np.ndarray:
    """One ALMA-like continuum image (float32, (size, size)), noiseless peak = 1.

    `rng` draws the thermal noise (std = 1 / snr, correlated on the beam scale);
    `noise=False` returns the beam-convolved model (with its clean residuals, if any) alone.
    """
    image = noiseless_disk(params, size)
    if noise:
        image = add_noise(image, params, rng if rng is not None else np.random.default_rng())
    return image.astype(np.float32)


MORPHOLOGIES = ("full", "transition", "rings")
MORPHOLOGY_WEIGHTS = (0.4, 0.25, 0.35)


def _planets(rng: np.random.Generator, n_planets: int, r_c: float, m_star: float) -> tuple[list[float], list[float]]:
    """Masses (M_Jup) and sorted radii (au) of `n_planets`, 0.5-5 M_Jup at 0.35-1.5 r_c, gaps well apart."""
    masses, radii = [], []
    for _ in range(100):  # rejection sampling for well-separated gaps
        masses = list(np.exp(rng.uniform(np.log(0.5), np.log(5.0), n_planets)))
        radii = sorted(rng.uniform(0.35 * r_c, 1.5 * r_c, n_planets))
        hills = [hill_radius_au(r, m, m_star) for r, m in zip(radii, masses, strict=True)]
        if all(radii[k + 1] - radii[k] > 8 * max(hills[k], hills[k + 1]) + 0.1 * r_c for k in range(n_planets - 1)):
            break
    return [float(m) for m in masses], [float(r) for r in radii]


def _rings_between(rng: np.random.Generator, radii: list[float], r_c: float) -> tuple[list[float], list[float]]:
    """Ring radii and widths (au) for a ring-only disk: one ring inside the innermost planet, one
    between each pair, one outside the outermost (n planets -> n + 1 rings, each planet in a gap);
    a single ring at 0.4-1.2 r_c without planets."""
    if not radii:
        centres = [float(rng.uniform(0.4, 1.2)) * r_c]
        return centres, [float(rng.uniform(0.06, 0.35)) * centres[0]]
    centres = [radii[0] * float(rng.uniform(0.45, 0.7))]
    centres += [0.5 * (a + b) for a, b in zip(radii[:-1], radii[1:], strict=True)]
    centres.append(radii[-1] * float(rng.uniform(1.25, 1.5)))
    widths = []
    for c in centres:
        room = min(abs(c - r) for r in radii)  # distance to the nearest gap
        widths.append(min(0.3 * c, 0.35 * room) * float(rng.uniform(0.5, 1.0)))
    return centres, widths


def sample_disk_params(rng: np.random.Generator, n_planets: int, size: int = 128) -> DiskParams:
    """Plausible parameters for a disk with `n_planets` (0-3) planets, framed for a `size`-pixel image.

    Morphology (drawn first): "full" (40 %: tapered power law, small cavity, planet gaps with
    pressure-bump rings), "transition" (25 %: a cavity of 0.2-0.6 r_c, or inside the innermost
    planet, with a ring at its edge) or "rings" (35 %: Gaussian rings separated by the planets'
    gaps on at most 15 % of the smooth disk, no central emission). Distance 100-200 pc, r_c
    40-90 au, optical depth at r_c 0.3-3, planets of 0.5-5 Jupiter masses at 0.35-1.5 r_c,
    alpha 1e-4-1e-2 (gaps from a few per cent to near-empty), peak SNR 10-1000 (log-uniform).
    Framing: the disk's diameter fills 40-95 % of the field of view, so its size relative to
    the field varies. Beam: FWHM 2-6 % of the disk's diameter but at least 2.2 pixels, minor axis
    70-100 % of the major at any position angle; 30 % of the images carry clean residuals of
    0.5-3 % of the peak.
    """
    if not 0 <= n_planets <= MAX_PLANETS:
        raise ValueError(f"The number of planets must be between 0 and {MAX_PLANETS}; got {n_planets}.")
    morphology = MORPHOLOGIES[int(rng.choice(len(MORPHOLOGIES), p=MORPHOLOGY_WEIGHTS))]
    distance = float(rng.uniform(100, 200))
    r_c = float(rng.uniform(40, 90))
    m_star = float(rng.uniform(0.5, 2.0))
    masses, radii = _planets(rng, n_planets, r_c, m_star)
    outer = float(rng.uniform(1.8, 2.5)) * r_c
    shape = dict(cavity_radius_au=float(rng.uniform(1.0, 0.2 * r_c)), cavity_depth=0.0, smooth_fraction=1.0,
                 ring_radii_au=[], ring_widths_au=[], ring_amplitudes=[], ring_contrast=float(rng.uniform(0.0, 0.8)))
    if morphology == "transition":
        cavity = (radii[0] * float(rng.uniform(0.5, 0.85))) if radii else float(rng.uniform(0.2, 0.6)) * r_c
        shape.update(cavity_radius_au=cavity, cavity_depth=float(rng.uniform(0.0, 0.05)) if rng.random() < 0.5 else 0.0,
                     ring_radii_au=[1.15 * cavity], ring_widths_au=[float(rng.uniform(0.08, 0.2)) * cavity],
                     ring_amplitudes=[float(rng.uniform(0.5, 2.0))])
    elif morphology == "rings":
        centres, widths = _rings_between(rng, radii, r_c)
        outer = centres[-1] + 3.0 * widths[-1]
        # the cavity reaches the innermost ring's inner flank: no smooth inner disk that the beam would turn into a central peak
        shape.update(cavity_radius_au=max(0.5, centres[0] - widths[0]), smooth_fraction=float(rng.uniform(0.0, 0.15)),
                     ring_radii_au=centres, ring_widths_au=widths, ring_amplitudes=[float(a) for a in rng.uniform(0.5, 1.5, len(centres))],
                     ring_contrast=0.0)
    diameter_au = 2.0 * outer
    fov_au = diameter_au / float(rng.uniform(0.4, 0.95))
    pixel_scale = fov_au / distance / size
    beam = max(float(rng.uniform(0.02, 0.06)) * diameter_au / distance, 2.2 * pixel_scale)
    return DiskParams(
        inclination_deg=float(rng.uniform(0, 75)),
        position_angle_deg=float(rng.uniform(0, 360)),
        stellar_mass_msun=m_star,
        distance_pc=distance,
        critical_radius_au=r_c,
        outer_radius_au=outer,
        surface_density_index=float(rng.uniform(0.5, 1.2)),
        temperature_index=float(rng.uniform(0.4, 0.6)),
        optical_depth_at_rc=float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))),
        aspect_ratio=float(rng.uniform(0.05, 0.08)),
        alpha_viscosity=float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-2)))),
        planet_radii_au=radii,
        planet_masses_mjup=masses,
        planet_azimuths_deg=[float(a) for a in rng.uniform(0, 360, n_planets)],
        gap_width_hill=float(rng.uniform(4.0, 7.0)),
        spiral_contrast=float(rng.uniform(0.0, 0.5)) if rng.random() < 0.5 else 0.0,
        beam_fwhm_arcsec=beam,
        beam_minor_fwhm_arcsec=beam * float(rng.uniform(0.7, 1.0)),
        beam_pa_deg=float(rng.uniform(0, 180)),
        pixel_scale_arcsec=pixel_scale,
        snr=float(np.exp(rng.uniform(np.log(10.0), np.log(1000.0)))),
        clean_residual=float(rng.uniform(0.005, 0.03)) if rng.random() < 0.3 else 0.0,
        morphology=morphology,
        **shape,
    )


def reobserve(params: DiskParams, size: int, rng: np.random.Generator) -> DiskParams:
    """The same disk (its planets, rings, gaps, cavity, profile) observed again: a new inclination,
    position angle, distance, framing, beam, SNR and clean residuals, drawn as `sample_disk_params`
    draws them. For learning what in a latent is the disk and what is the observation."""
    diameter_au = 2.0 * params.outer_radius_au
    distance = float(rng.uniform(100, 200))
    pixel_scale = diameter_au / float(rng.uniform(0.4, 0.95)) / distance / size
    beam = max(float(rng.uniform(0.02, 0.06)) * diameter_au / distance, 2.2 * pixel_scale)
    return replace(
        params,
        inclination_deg=float(rng.uniform(0, 75)),
        position_angle_deg=float(rng.uniform(0, 360)),
        distance_pc=distance,
        pixel_scale_arcsec=pixel_scale,
        beam_fwhm_arcsec=beam,
        beam_minor_fwhm_arcsec=beam * float(rng.uniform(0.7, 1.0)),
        beam_pa_deg=float(rng.uniform(0, 180)),
        snr=float(np.exp(rng.uniform(np.log(10.0), np.log(1000.0)))),
        clean_residual=float(rng.uniform(0.005, 0.03)) if rng.random() < 0.3 else 0.0,
    )
