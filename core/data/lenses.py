"""Strong-lens images like DeepLense "Model I", rendered with lenstronomy.

Macro model: singular isothermal ellipsoid plus external shear (lenstronomy keys "SIE",
"SHEAR"), elliptical Sérsic lens light and elliptical Sérsic source ("SERSIC_ELLIPSE"),
Gaussian PSF. Lens redshift 0.5, source redshift 1.0 (flat LambdaCDM, H0 = 70, Om0 = 0.3) fix
the conversion from subhalo mass (solar masses) to lensing strength.

Substructure classes:
- `no_sub`: the macro model alone.
- `cdm`: 1 + a Poisson number (mean `CDM_MEAN_SUBHALOS` - 1, so at least one) of subhalos with masses from
  dN/dm ~ m^-1.9 between `CDM_MASS_MIN_MSUN` and `CDM_MASS_MAX_MSUN`, placed uniformly in the
  annulus 0.8-1.2 theta_E around the lens centre, where the arcs are and where they matter.
  Profiles: point masses ("POINT_MASS", default) or truncated NFW ("TNFW", concentration 15,
  truncated at r_s * 5).
- `vortex`: a straight line of many equal point masses (one per pixel of length, each with an
  Einstein radius about that spacing, so the line acts as a continuous string) of length
  0.8-1.5 theta_E, random orientation, centred at 0.9-1.1 theta_E, total mass `VORTEX_MASS_MIN_MSUN` - `VORTEX_MASS_MAX_MSUN` (log-uniform).
  A line mass deflects everything on one side by the same angle, so the arc breaks where the
  string crosses it.
Deliberate choice, not DeepLense realism: the substructure is made clearly visible so that a
small model learns the three classes from ~3000 images in minutes on a CPU. DeepLense Model I's
differences are subtle and need ~30k images and ResNets. Here subhalos weigh 1e10-5e10 Msun
(point-mass Einstein radii 0.17-0.37 arcsec, 3-7 px at 0.05"/px: visible arc kinks, holes and
extra images), the vortex string 1e11-2e11 Msun, 20-40 % of the main lens's mass inside
theta_E (near the line it deflects each side by about pi theta_E,tot^2 / length, 0.4-2 arcsec:
the ring is visibly cut and its pieces shifted), and the source
sits within 0.1 theta_E of the caustic centre, so the arcs are nearly complete rings that the
substructure at 0.8-1.2 theta_E always crosses. Measured (generator 1.4, 1200 images, 20 %
validation, the project's `cnn_classifier` for 20 epochs on 1 thread): validation macro AUC
0.986 (no_sub 0.986, cdm 0.996, vortex 0.977). Generator 1.2 (subhalos 1e9-1e10 Msun, vortex
1e10-3e10 Msun, source within 0.25 theta_E) stayed at chance on 600 images (macro 0.53), and
even its twin differences (cdm - no_sub, the upper bound) reached only 0.87.

Noise (Gaussian approximation of Poisson, as lenstronomy's `image_util.add_poisson`): per-pixel
variance m / t + b^2 for the noiseless image m (in units of the source's central surface
brightness, which lensing conserves), exposure t and background rms b set by `snr`: at unit
surface brightness the noise is 1 / snr, a fraction `background_variance_fraction` of its
variance from the background. Pixels follow lenstronomy's grid: x (RA) grows with the column,
y (Dec) with the row (row 0 at the bottom when displayed with origin="lower").

Determinism: `simulate_lens` draws two seeds from `rng` first (substructure, noise), so the
three classes simulated from the same `params` and the same `rng` state share the macro model,
the source and the noise realisation and differ only by the substructure.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

SUBSTRUCTURES = ("no_sub", "cdm", "vortex")
SUPERSAMPLING = 2  # lenstronomy sub-pixel ray shooting per axis
Z_LENS, Z_SOURCE = 0.5, 1.0
CDM_MEAN_SUBHALOS = 5.0  # mean number of subhalos in the 0.8-1.2 theta_E annulus (1 + Poisson)
CDM_MASS_MIN_MSUN = 1e10  # lower bound of the subhalo mass function
CDM_MASS_MAX_MSUN = 5e10  # upper bound
CDM_MASS_SLOPE = 1.9  # dN/dm ~ m^-slope
CDM_ANNULUS = (0.8, 1.2)  # subhalo radii in units of theta_E
TNFW_CONCENTRATION = 15.0  # r_200 / r_s of TNFW subhalos
TNFW_TRUNCATION_RS = 5.0  # truncation radius in units of r_s
VORTEX_MASS_MIN_MSUN = 1e11  # total mass of the vortex line
VORTEX_MASS_MAX_MSUN = 2e11
VORTEX_LENGTH_THETA_E = (0.8, 1.5)  # line length in units of theta_E
VORTEX_CENTRE_THETA_E = (0.9, 1.1)  # distance of the line centre from the lens centre, theta_E
SOURCE_OFFSET_THETA_E = 0.1  # largest unlensed source offset from the lens centre, theta_E


@dataclass
class LensParams:
    """One lens system; angles in arcsec, ellipticities as lenstronomy's (e1, e2)."""

    theta_E_arcsec: float = 1.2  # Einstein radius of the SIE
    e1: float = 0.05  # SIE ellipticity components
    e2: float = 0.0
    gamma1: float = 0.02  # external shear components
    gamma2: float = 0.0
    lens_light_amp: float = 0.05  # lens-light surface brightness at its R_sersic / source central SB (sampled 0.02-0.08)
    lens_light_r_sersic_arcsec: float = 0.8
    lens_light_n_sersic: float = 2.3
    lens_light_e1: float = 0.05
    lens_light_e2: float = 0.0
    source_x_arcsec: float = 0.05  # unlensed source position relative to the lens centre
    source_y_arcsec: float = 0.02
    source_r_sersic_arcsec: float = 0.2
    source_n_sersic: float = 1.0
    source_e1: float = 0.1
    source_e2: float = 0.0
    psf_fwhm_arcsec: float = 0.1  # Gaussian PSF
    pixel_scale_arcsec: float = 0.05
    snr: float = 25.0  # signal-to-noise ratio of one pixel at the source's central surface brightness
    background_variance_fraction: float = 0.5  # share of that pixel's noise variance from background/read noise

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LensParams:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


def _ellipticity(rng: np.random.Generator, q_range: tuple[float, float]) -> tuple[float, float, float]:
    """Random (e1, e2) for an axis ratio in q_range; also returns the angle (rad)."""
    q = rng.uniform(*q_range)
    phi = rng.uniform(0, np.pi)
    e = (1 - q) / (1 + q)
    return float(e * np.cos(2 * phi)), float(e * np.sin(2 * phi)), float(phi)


def sample_lens_params(rng: np.random.Generator, size: int = 150, field_of_view_arcsec: float = 7.5) -> LensParams:
    """Plausible lens parameters; the pixel scale keeps the field of view at 7.5 arcsec (0.05"/px at 150 px).

    theta_E 1.0-1.6 arcsec (at most 0.3 of the field), SIE axis ratio 0.7-1, shear up to 0.05,
    source within `SOURCE_OFFSET_THETA_E` theta_E of the caustic centre (nearly complete rings), source R_sersic 0.1-0.3 arcsec.
    """
    theta_e = float(min(rng.uniform(1.0, 1.6), 0.3 * field_of_view_arcsec))
    e1, e2, phi = _ellipticity(rng, (0.7, 1.0))
    shear = rng.uniform(0, 0.05)
    shear_angle = rng.uniform(0, np.pi)
    # lens light roughly follows the mass, with some misalignment
    q_ll = rng.uniform(0.7, 1.0)
    phi_ll = phi + rng.normal(0, 0.1)
    e_ll = (1 - q_ll) / (1 + q_ll)
    se1, se2, _ = _ellipticity(rng, (0.5, 1.0))
    r = theta_e * SOURCE_OFFSET_THETA_E * math.sqrt(rng.uniform())
    a = rng.uniform(0, 2 * np.pi)
    return LensParams(
        theta_E_arcsec=theta_e,
        e1=e1,
        e2=e2,
        gamma1=float(shear * np.cos(2 * shear_angle)),
        gamma2=float(shear * np.sin(2 * shear_angle)),
        lens_light_amp=float(rng.uniform(0.02, 0.08)),
        lens_light_r_sersic_arcsec=float(rng.uniform(0.5, 1.2)),
        lens_light_n_sersic=float(rng.uniform(1.5, 3.0)),
        lens_light_e1=float(e_ll * np.cos(2 * phi_ll)),
        lens_light_e2=float(e_ll * np.sin(2 * phi_ll)),
        source_x_arcsec=float(r * np.cos(a)),
        source_y_arcsec=float(r * np.sin(a)),
        source_r_sersic_arcsec=float(rng.uniform(0.1, 0.3)),
        source_n_sersic=float(rng.uniform(0.7, 1.5)),
        source_e1=se1,
        source_e2=se2,
        pixel_scale_arcsec=field_of_view_arcsec / size,
        snr=25.0,
    )


@functools.lru_cache(maxsize=1)
def _cosmology():
    """Flat LambdaCDM, H0 = 70 km/s/Mpc, Om0 = 0.3."""
    from astropy.cosmology import FlatLambdaCDM

    return FlatLambdaCDM(H0=70.0, Om0=0.3)


@functools.lru_cache(maxsize=4)
def _distances_mpc(z_lens: float = Z_LENS, z_source: float = Z_SOURCE) -> tuple[float, float, float]:
    """Angular-diameter distances D_d, D_s, D_ds in Mpc."""
    cosmo = _cosmology()
    d_d = cosmo.angular_diameter_distance(z_lens).value
    d_s = cosmo.angular_diameter_distance(z_source).value
    d_ds = cosmo.angular_diameter_distance_z1z2(z_lens, z_source).value
    return d_d, d_s, d_ds


@functools.lru_cache(maxsize=4)
def _sigma_crit_msun_per_mpc2() -> float:
    import astropy.constants as const
    import astropy.units as u

    d_d, d_s, d_ds = _distances_mpc()
    sigma = const.c**2 / (4 * np.pi * const.G) * d_s / (d_d * d_ds * u.Mpc)
    return float(sigma.to(u.Msun / u.Mpc**2).value)


ARCSEC_RAD = math.pi / 180 / 3600


def point_mass_theta_e_arcsec(mass_msun: np.ndarray | float) -> np.ndarray:
    """Einstein radius (arcsec) of a point mass at z=0.5 lensing a z=1 source: sqrt(M / (pi Sigma_cr D_d^2))."""
    d_d = _distances_mpc()[0]
    return np.sqrt(np.asarray(mass_msun) / (np.pi * _sigma_crit_msun_per_mpc2())) / d_d / ARCSEC_RAD


def tnfw_angles(mass_msun: float, concentration: float = TNFW_CONCENTRATION) -> tuple[float, float]:
    """(Rs in arcsec, alpha_Rs in arcsec) of an NFW halo of M_200c `mass_msun` at z=0.5 (as lenstronomy's LensCosmo)."""
    import astropy.units as u

    rho_c = _cosmology().critical_density(Z_LENS).to(u.Msun / u.Mpc**3).value
    r200 = (3 * mass_msun / (4 * np.pi * 200 * rho_c)) ** (1 / 3)  # Mpc
    rs = r200 / concentration
    rho0 = 200 / 3 * rho_c * concentration**3 / (np.log(1 + concentration) - concentration / (1 + concentration))
    d_d = _distances_mpc()[0]
    alpha_rs = rho0 * 4 * rs**2 * (1 + np.log(0.5)) / _sigma_crit_msun_per_mpc2() / d_d / ARCSEC_RAD
    return float(rs / d_d / ARCSEC_RAD), float(alpha_rs)


def sample_power_law_masses(rng: np.random.Generator, n: int, m_min: float, m_max: float, slope: float = CDM_MASS_SLOPE) -> np.ndarray:
    """n masses from dN/dm ~ m^-slope on [m_min, m_max] (inverse-CDF sampling)."""
    k = 1.0 - slope
    u = rng.uniform(size=n)
    return (m_min**k + u * (m_max**k - m_min**k)) ** (1.0 / k)


def draw_substructure(params: LensParams, substructure: str, rng: np.random.Generator, n_subhalos: int | None = None) -> dict:
    """Positions (arcsec) and masses (Msun) of the substructure of one class.

    Returns {"x_arcsec": [...], "y_arcsec": [...], "mass_msun": [...], plus class details}.
    """
    if substructure not in SUBSTRUCTURES:
        raise ValueError(f"Unknown substructure {substructure!r}; choose one of {', '.join(SUBSTRUCTURES)}.")
    theta_e = params.theta_E_arcsec
    if substructure == "no_sub":
        return {"x_arcsec": [], "y_arcsec": [], "mass_msun": []}
    if substructure == "cdm":
        n = 1 + int(rng.poisson(CDM_MEAN_SUBHALOS - 1)) if n_subhalos is None else int(n_subhalos)
        masses = sample_power_law_masses(rng, n, CDM_MASS_MIN_MSUN, CDM_MASS_MAX_MSUN)
        lo, hi = CDM_ANNULUS
        radius = theta_e * np.sqrt(rng.uniform(lo**2, hi**2, n))  # uniform in area
        angle = rng.uniform(0, 2 * np.pi, n)
        return {
            "x_arcsec": (radius * np.cos(angle)).tolist(),
            "y_arcsec": (radius * np.sin(angle)).tolist(),
            "mass_msun": masses.tolist(),
        }
    # vortex: a straight string of equal point masses
    length = theta_e * rng.uniform(*VORTEX_LENGTH_THETA_E)
    centre_r = theta_e * rng.uniform(*VORTEX_CENTRE_THETA_E)
    centre_a = rng.uniform(0, 2 * np.pi)
    orientation = rng.uniform(0, np.pi)
    total = float(np.exp(rng.uniform(np.log(VORTEX_MASS_MIN_MSUN), np.log(VORTEX_MASS_MAX_MSUN))))
    n = max(2, math.ceil(length / params.pixel_scale_arcsec)) if n_subhalos is None else int(n_subhalos)
    s = (np.arange(n) + 0.5) / n - 0.5  # positions along the line, fraction of its length
    cx, cy = centre_r * np.cos(centre_a), centre_r * np.sin(centre_a)
    return {
        "x_arcsec": (cx + s * length * np.cos(orientation)).tolist(),
        "y_arcsec": (cy + s * length * np.sin(orientation)).tolist(),
        "mass_msun": [total / n] * n,
        "vortex_length_arcsec": float(length),
        "vortex_orientation_deg": float(np.degrees(orientation)),
        "vortex_total_mass_msun": total,
    }


def _lens_kwargs(params: LensParams, sub: dict, profile: str) -> tuple[list[str], list[dict]]:
    models = ["SIE", "SHEAR"]
    kwargs = [
        {"theta_E": params.theta_E_arcsec, "e1": params.e1, "e2": params.e2, "center_x": 0.0, "center_y": 0.0},
        {"gamma1": params.gamma1, "gamma2": params.gamma2, "ra_0": 0.0, "dec_0": 0.0},
    ]
    masses = np.asarray(sub["mass_msun"], dtype=float)
    if profile == "POINT_MASS":
        for x, y, t in zip(sub["x_arcsec"], sub["y_arcsec"], point_mass_theta_e_arcsec(masses), strict=True):
            models.append("POINT_MASS")
            kwargs.append({"theta_E": float(t), "center_x": x, "center_y": y})
    elif profile == "TNFW":
        for x, y, m in zip(sub["x_arcsec"], sub["y_arcsec"], masses, strict=True):
            rs, alpha_rs = tnfw_angles(float(m))
            models.append("TNFW")
            kwargs.append({"Rs": rs, "alpha_Rs": alpha_rs, "r_trunc": TNFW_TRUNCATION_RS * rs, "center_x": x, "center_y": y})
    else:
        raise ValueError(f"Unknown subhalo profile {profile!r}; choose POINT_MASS or TNFW.")
    return models, kwargs


def _sersic_amp_for_unit_centre(n_sersic: float) -> float:
    """lenstronomy's `amp` (surface brightness at R_sersic) giving central surface brightness 1."""
    from lenstronomy.LensModel.Profiles.sersic_utils import SersicUtil

    b_n = SersicUtil.b_n(n_sersic)
    return float(np.exp(-b_n))


def render_lens(params: LensParams, sub: dict, size: int, profile: str = "POINT_MASS") -> np.ndarray:
    """Noiseless PSF-convolved image (float64, (size, size)) in units of the source's central surface brightness."""
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    from lenstronomy.Util.simulation_util import data_configure_simple

    pix = params.pixel_scale_arcsec
    data = ImageData(**data_configure_simple(size, pix))
    psf = PSF(psf_type="GAUSSIAN", fwhm=params.psf_fwhm_arcsec)
    models, kwargs_lens = _lens_kwargs(params, sub, profile)
    image_model = ImageModel(
        data, psf, LensModel(models), LightModel(["SERSIC_ELLIPSE"]), LightModel(["SERSIC_ELLIPSE"]),
        kwargs_numerics={"supersampling_factor": SUPERSAMPLING},
    )
    kwargs_source = [{
        "amp": _sersic_amp_for_unit_centre(params.source_n_sersic),
        "R_sersic": params.source_r_sersic_arcsec, "n_sersic": params.source_n_sersic,
        "e1": params.source_e1, "e2": params.source_e2,
        "center_x": params.source_x_arcsec, "center_y": params.source_y_arcsec,
    }]
    kwargs_ll = [{
        "amp": params.lens_light_amp, "R_sersic": params.lens_light_r_sersic_arcsec,
        "n_sersic": params.lens_light_n_sersic, "e1": params.lens_light_e1, "e2": params.lens_light_e2,
        "center_x": 0.0, "center_y": 0.0,
    }]
    image = image_model.image(kwargs_lens, kwargs_source, kwargs_ll)
    return np.asarray(image, dtype=np.float64) / pix**2  # flux per pixel -> surface brightness


def noise_sigma_map(model: np.ndarray, params: LensParams) -> np.ndarray:
    """Per-pixel noise standard deviation: sqrt(m / t + b^2) with t and b fixed by snr."""
    f = params.background_variance_fraction
    inv_exposure = (1 - f) / params.snr**2
    background_var = f / params.snr**2
    return np.sqrt(np.abs(model) * inv_exposure + background_var)


def add_noise(model: np.ndarray, params: LensParams, rng: np.random.Generator) -> np.ndarray:
    """An observation of the noiseless image `model`: model + N(0, noise_sigma_map(model, params)), float64."""
    return model + rng.standard_normal(model.shape) * noise_sigma_map(model, params)


def noise_params(params: LensParams) -> dict:
    """The instrument of `add_noise` as core.data.observe reads it: Gaussian noise of variance
    flux_variance * m + background_rms^2 for the noiseless m, and the PSF FWHM in pixels."""
    f = params.background_variance_fraction
    return {"kind": "gaussian", "flux_variance": (1 - f) / params.snr**2, "background_rms": math.sqrt(f) / params.snr,
            "psf_fwhm_px": params.psf_fwhm_arcsec / params.pixel_scale_arcsec}


def observe_lens(
    params: LensParams,
    substructure: str,
    size: int = 150,
    rng: np.random.Generator | None = None,
    *,
    n_subhalos: int | None = None,
    profile: str = "POINT_MASS",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(noisy image, its noiseless twin, drawn substructure): both float32 (size, size); see `simulate_lens`."""
    if substructure not in SUBSTRUCTURES:
        raise ValueError(f"Unknown substructure {substructure!r}; choose one of {', '.join(SUBSTRUCTURES)}.")
    if size < 16:
        raise ValueError(f"The image size must be at least 16 pixels; got {size}.")
    rng = rng if rng is not None else np.random.default_rng()
    sub_seed, noise_seed = rng.integers(0, 2**63 - 1, size=2)
    sub = draw_substructure(params, substructure, np.random.default_rng(sub_seed), n_subhalos)
    model = render_lens(params, sub, size, profile)
    noisy = add_noise(model, params, np.random.default_rng(noise_seed))
    sub["n_subhalos"] = len(sub["mass_msun"])
    sub["profile"] = profile
    return noisy.astype(np.float32), model.astype(np.float32), sub


def simulate_lens(
    params: LensParams,
    substructure: str,
    size: int = 150,
    rng: np.random.Generator | None = None,
    *,
    n_subhalos: int | None = None,
    profile: str = "POINT_MASS",
    noise: bool = True,
) -> np.ndarray:
    """One lens image, float32 (size, size), in units of the source's central surface brightness.

    substructure: "no_sub", "cdm" or "vortex"; n_subhalos overrides the Poisson draw (cdm) or
    the number of masses on the vortex line; profile "POINT_MASS" or "TNFW" (subhalos only).
    """
    noisy, noiseless, _ = observe_lens(params, substructure, size, rng, n_subhalos=n_subhalos, profile=profile)
    return noisy if noise else noiseless
