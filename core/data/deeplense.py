"""DeepLense-faithful lens presets: the official simulator's Model I and Model II recipes.

Source of every number: github.com/mwt5345/DeepLenseSim (`deeplense/lens.py`, `Model_I/sim_*.py`,
`Model_II/sim_*.py`), rewritten here on lenstronomy, not copied. What the official code does:

- Cosmology FlatLambdaCDM(H0=70, Om0=0.3, Ob0=0.05); lens at z=0.5, source at z=1.0.
- Main halo: SIE of mass 1e12 Msun with e1=0.1, e2=0 at the origin, external shear gamma1=0.05,
  gamma2=0 (every parameter fixed). Einstein radii come from `DeepLens.mass_to_radius`:
  theta_E = sqrt(4 G M / c^2 * D_LS / (D_L D_S)) with *luminosity* distances and D_LS = D_S - D_L
  (not angular-diameter distances): 1.28" for 1e12 Msun. Reproduced as written, because it is
  what sets the official images.
- No lens light. Source: one SERSIC_ELLIPSE, R_sersic=0.25", n=1, e1=-0.1, e2=0.1, centre
  uniform in [-0.35, 0.35]" per axis; amplitude 20 (Model I) or magnitude 20 (Model II).
- `cdm` ("old CDM"): exactly 25 point masses (the Poisson draw in the official code is unused),
  masses from the inverse CDF of m^(beta+1) with beta=-0.9 between 1e6 and 1e10 Msun, radius
  uniform in [0.25, 2.0]" (uniform in r, not in area), angle uniform; x = r sin(th), y = r cos(th).
- `vortex` ("axion"): `make_vortex(3e10)`: 100 equal point masses (3e8 Msun each) on a straight
  line through the lens centre at a uniform random angle, at linspace(-L, L, 100) with
  L = 0.06 / (2 m_a) * 1e-22 arcsec = 3e-24 / m_a (the de Broglie length; valid for z=0.5),
  axion mass m_a = 10^U(-24, -22) eV: L from 0.03" to 3".
- Model I instrument: 150 x 150 pixels of 0.05", Gaussian PSF FWHM 0.087" (truncation 3),
  supersampling 1, background rms 0.01, exposure time 10^U(3, 3.5); image =
  Poisson(clip(t * (model + N(0, model/t) + N(0, 0.01)), 0)) -> int64 counts.
- Model II instrument: 64 x 64 pixels, lenstronomy's Euclid VIS settings of the lenstronomy
  release the official code ran on (pixel 0.101", seeing FWHM 0.16" Gaussian, 565 s x 4
  exposures (coadd_years=6), sky 22.35 mag/arcsec^2, zero point 24.0, read noise 4.2 e-, gain
  3.1); pinned here because lenstronomy 1.12+ changed them (566 s, sky 22.3, zero point 25.72).
  `simple_sim_2` hands SimAPI the lens redshifts, a cosmology and z_source_convention=2.5 with
  the source at z=1.0; lenstronomy then ray-traces in multi-plane mode, where the lens kwargs are
  deflections for a source at z=2.5, so a source at z=1.0 is deflected less by the factor
  f = (D_ls/D_s)(z=1.0) / (D_ls/D_s)(z=2.5) = 0.634 (angular-diameter distances): the main
  halo's effective Einstein radius is 0.81", not 1.28" (the official code's own Model II axion
  file, run unchanged, has its ring at ~0.7-0.8"). With every lens on one plane this equals
  single-plane ray tracing with deflections scaled by f (SIE theta_E x f, shear x f, point-mass
  theta_E x sqrt(f)), which is what `lens_model(p, scale)` does.
  As written, `simple_sim_2` saves image_model + image_model: twice the noiseless image
  (`noise="as-written"`, the default). `noise="euclid"` adds lenstronomy's Euclid noise instead
  (`SimAPI.noise_for_model`), as some forks do.
- Vortex files are saved as `np.save(np.array([image, axion_mass]))` (an object array);
  `save_native` writes that format so the readers can be tested against it.
Model III is not reproduced: the repository's Model III code lenses real Galaxy10 DECaLS galaxies
(an external download) through Euclid settings with pyHalo ULDM halos; the HST variant described in
the DeepLense papers is not in the repository, so its recipe cannot be pinned down.
pyHalo is used by the official code only for its cosmology object, which single-plane SimAPI
images do not depend on; it is not needed here.

All randomness comes from the `rng` passed in (the official code uses numpy's global state), so a
data set is reproducible from its seed; the distributions are the official ones.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import numpy as np

PRESETS = ("deeplense-model1", "deeplense-model2")
NATIVE_SIZE = {"deeplense-model1": 150, "deeplense-model2": 64}
NOISE_MODES = {"deeplense-model1": ("as-written",), "deeplense-model2": ("as-written", "euclid")}

Z_LENS, Z_SOURCE = 0.5, 1.0
H0, OM0, OB0 = 70.0, 0.3, 0.05
MAIN_HALO_MASS_MSUN = 1e12
MAIN_HALO_E1, MAIN_HALO_E2 = 0.1, 0.0
SHEAR_GAMMA1, SHEAR_GAMMA2 = 0.05, 0.0
SOURCE_R_SERSIC, SOURCE_N_SERSIC, SOURCE_E1, SOURCE_E2 = 0.25, 1.0, -0.1, 0.1
SOURCE_CENTRE_RANGE = 0.35  # arcsec, uniform in [-0.35, 0.35] per axis
SOURCE_AMP_MODEL1 = 20.0
SOURCE_MAGNITUDE_MODEL2 = 20.0
CDM_N_SUBHALOS = 25
CDM_MASS_RANGE_MSUN = (1e6, 1e10)
CDM_BETA = -0.9
CDM_RADIUS_RANGE = (0.25, 2.0)  # arcsec
VORTEX_MASS_MSUN = 3e10
VORTEX_N_MASSES = 100
AXION_LOG10_MASS_RANGE = (-24.0, -22.0)  # eV
MODEL2_Z_SOURCE_CONVENTION = 2.5  # SimAPI's z_source_convention in the official Model II code
MODEL1_PIXEL, MODEL1_PSF_FWHM, MODEL1_PSF_TRUNCATION = 0.05, 0.087, 3
MODEL1_BACKGROUND_RMS = 1e-2
MODEL1_LOG10_EXPOSURE = (3.0, 3.5)
EUCLID_VIS_DEEPLENSE = {  # lenstronomy's Euclid(band="VIS", psf_type="GAUSSIAN", coadd_years=6) as the official code ran it
    "read_noise": 4.2, "pixel_scale": 0.101, "ccd_gain": 3.1,
    "exposure_time": 565.0, "sky_brightness": 22.35, "magnitude_zero_point": 24.0,
    "num_exposures": 4, "seeing": 0.16, "psf_type": "GAUSSIAN",
}  # fmt: skip


@functools.lru_cache(maxsize=8)
def _luminosity_distances_m(z_lens: float, z_source: float) -> tuple[float, float]:
    import astropy.units as u
    from astropy.cosmology import FlatLambdaCDM

    cosmo = FlatLambdaCDM(H0=H0, Om0=OM0, Ob0=OB0)
    return float(cosmo.luminosity_distance(z_lens).to(u.m).value), float(cosmo.luminosity_distance(z_source).to(u.m).value)


def einstein_radius_arcsec(mass_msun, z_lens: float = Z_LENS, z_source: float = Z_SOURCE) -> np.ndarray:
    """DeepLense's `mass_to_radius`: sqrt(4 G M / c^2 * (D_S - D_L) / (D_L D_S)) with luminosity distances."""
    from astropy.constants import G, M_sun, c

    d_l, d_s = _luminosity_distances_m(z_lens, z_source)
    mass_kg = np.asarray(mass_msun, dtype=float) * M_sun.value
    theta = np.sqrt(4 * G.value * mass_kg / c.value**2 * (d_s - d_l) / (d_l * d_s))
    return theta * 206265.0


@functools.lru_cache(maxsize=4)
def convention_scale(z_source: float = Z_SOURCE, z_convention: float = MODEL2_Z_SOURCE_CONVENTION) -> float:
    """f = (D_ls/D_s)(z_source) / (D_ls/D_s)(z_convention): how multi-plane lenstronomy rescales deflections."""
    from astropy.cosmology import FlatLambdaCDM

    cosmo = FlatLambdaCDM(H0=H0, Om0=OM0, Ob0=OB0)

    def ratio(z: float) -> float:
        return float(cosmo.angular_diameter_distance_z1z2(Z_LENS, z) / cosmo.angular_diameter_distance(z))

    return ratio(z_source) / ratio(z_convention)


def axion_length_arcsec(axion_mass_ev: float) -> float:
    """Half-length L of the vortex line: 0.06 / (2 m_a) * 1e-22 arcsec (DeepLense, valid at z=0.5)."""
    return 0.06 / (2.0 * float(axion_mass_ev)) * 1e-22


def draw_cdm_masses(rng: np.random.Generator, n: int = CDM_N_SUBHALOS) -> np.ndarray:
    """n masses (Msun) from the inverse CDF of m^(beta+1), beta=-0.9, on [1e6, 1e10]."""
    lo, hi = (m ** (CDM_BETA + 1) for m in CDM_MASS_RANGE_MSUN)
    return (lo + (hi - lo) * rng.uniform(size=n)) ** (1.0 / (CDM_BETA + 1))


@dataclass
class DeepLenseParams:
    """One DeepLense system: what the official code draws at random (the rest is fixed above)."""

    preset: str
    substructure: str
    source_x_arcsec: float
    source_y_arcsec: float
    exposure_time: float | None = None  # Model I only
    axion_mass_ev: float | None = None  # vortex only
    vortex_angle_rad: float | None = None
    subhalo_x_arcsec: list = field(default_factory=list)
    subhalo_y_arcsec: list = field(default_factory=list)
    subhalo_mass_msun: list = field(default_factory=list)
    noise: str = "as-written"
    size: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def sample_params(preset: str, substructure: str, rng: np.random.Generator, size: int | None = None, noise: str = "as-written") -> DeepLenseParams:
    """Draw one system of `preset` and `substructure` ("no_sub", "cdm", "vortex") from `rng`."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown DeepLense preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    if noise not in NOISE_MODES[preset]:
        raise ValueError(f"Preset {preset} has no noise mode {noise!r}; choose one of {', '.join(NOISE_MODES[preset])}.")
    if substructure not in ("no_sub", "cdm", "vortex"):
        raise ValueError(f"Unknown substructure {substructure!r}; choose no_sub, cdm or vortex.")
    size = NATIVE_SIZE[preset] if size is None else int(size)
    p = DeepLenseParams(preset=preset, substructure=substructure, source_x_arcsec=0.0, source_y_arcsec=0.0, noise=noise, size=size)
    if substructure == "vortex":
        p.axion_mass_ev = float(10 ** rng.uniform(*AXION_LOG10_MASS_RANGE))
        p.vortex_angle_rad = float(2 * np.pi * rng.uniform())
    elif substructure == "cdm":
        masses = draw_cdm_masses(rng)
        r = rng.uniform(*CDM_RADIUS_RANGE, size=CDM_N_SUBHALOS)
        th = rng.uniform(0, 2 * np.pi, size=CDM_N_SUBHALOS)
        p.subhalo_mass_msun = masses.tolist()
        p.subhalo_x_arcsec = (r * np.sin(th)).tolist()
        p.subhalo_y_arcsec = (r * np.cos(th)).tolist()
    p.source_x_arcsec, p.source_y_arcsec = (float(v) for v in rng.uniform(-SOURCE_CENTRE_RANGE, SOURCE_CENTRE_RANGE, 2))
    if preset == "deeplense-model1":
        p.exposure_time = float(10 ** rng.uniform(*MODEL1_LOG10_EXPOSURE))
    return p


def vortex_positions(p: DeepLenseParams) -> tuple[np.ndarray, np.ndarray]:
    """Centres (arcsec) of the vortex's point masses: a line through the origin at the drawn angle."""
    coords = np.linspace(-1.0, 1.0, VORTEX_N_MASSES) * axion_length_arcsec(p.axion_mass_ev)
    return coords * np.cos(p.vortex_angle_rad), coords * np.sin(p.vortex_angle_rad)


def deflection_scale(preset: str) -> float:
    """1 for Model I (single plane); `convention_scale()` for Model II (multi-plane, z_source_convention 2.5)."""
    return convention_scale() if preset == "deeplense-model2" else 1.0


def lens_model(p: DeepLenseParams) -> tuple[list[str], list[dict]]:
    """lenstronomy lens model list and kwargs: SIE + SHEAR + the substructure's point masses,
    deflections scaled as the preset's ray tracing does (`deflection_scale`)."""
    f = deflection_scale(p.preset)
    models = ["SIE", "SHEAR"]
    kwargs = [
        {"theta_E": f * float(einstein_radius_arcsec(MAIN_HALO_MASS_MSUN)), "e1": MAIN_HALO_E1, "e2": MAIN_HALO_E2, "center_x": 0.0, "center_y": 0.0},
        {"gamma1": f * SHEAR_GAMMA1, "gamma2": f * SHEAR_GAMMA2},
    ]
    if p.substructure == "cdm":
        xs, ys, ms = p.subhalo_x_arcsec, p.subhalo_y_arcsec, np.asarray(p.subhalo_mass_msun)
    elif p.substructure == "vortex":
        xs, ys = vortex_positions(p)
        ms = np.full(VORTEX_N_MASSES, VORTEX_MASS_MSUN / VORTEX_N_MASSES)
    else:
        xs, ys, ms = [], [], np.zeros(0)
    for x, y, t in zip(xs, ys, np.sqrt(f) * einstein_radius_arcsec(ms), strict=True):
        models.append("POINT_MASS")
        kwargs.append({"theta_E": float(t), "center_x": float(x), "center_y": float(y)})
    return models, kwargs


def _source(p: DeepLenseParams, brightness_key: str, value: float) -> list[dict]:
    return [{brightness_key: value, "R_sersic": SOURCE_R_SERSIC, "n_sersic": SOURCE_N_SERSIC, "e1": SOURCE_E1, "e2": SOURCE_E2,
             "center_x": p.source_x_arcsec, "center_y": p.source_y_arcsec}]  # fmt: skip


def model1_noiseless(p: DeepLenseParams) -> np.ndarray:
    """Model I's noiseless image (flux per pixel per unit exposure), (size, size) float64."""
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    from lenstronomy.Util.simulation_util import data_configure_simple

    data = ImageData(**data_configure_simple(p.size, MODEL1_PIXEL, inverse=False))
    psf = PSF(psf_type="GAUSSIAN", fwhm=MODEL1_PSF_FWHM, pixel_size=MODEL1_PIXEL, truncation=MODEL1_PSF_TRUNCATION)
    models, kwargs_lens = lens_model(p)
    image_model = ImageModel(data, psf, lens_model_class=LensModel(models), source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                             kwargs_numerics={"supersampling_factor": 1, "supersampling_convolution": False})  # fmt: skip
    return np.asarray(image_model.image(kwargs_lens, _source(p, "amp", SOURCE_AMP_MODEL1)), dtype=np.float64)


def model1_counts(model: np.ndarray, exposure_time: float, rng: np.random.Generator) -> np.ndarray:
    """Model I's noisy image: Poisson(clip(t * (m + N(0, |m|/t) + N(0, rms)), 0)), int64 counts."""
    poisson = rng.standard_normal(model.shape) * np.sqrt(np.abs(model) / exposure_time)
    background = rng.standard_normal(model.shape) * MODEL1_BACKGROUND_RMS
    expected = exposure_time * (model + poisson + background)
    return rng.poisson(expected.clip(min=0)).astype(np.int64)


def _euclid_sim(p: DeepLenseParams):
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    models, _ = lens_model(p)
    kwargs_model = {"lens_model_list": models, "source_light_model_list": ["SERSIC_ELLIPSE"]}
    return SimAPI(p.size, kwargs_single_band=dict(EUCLID_VIS_DEEPLENSE), kwargs_model=kwargs_model)


def model2_noiseless(p: DeepLenseParams) -> np.ndarray:
    """Model II's noiseless image in Euclid VIS counts per second, (size, size) float64."""
    sim = _euclid_sim(p)
    image_sim = sim.image_model_class({"point_source_supersampling_factor": 1})
    _, kwargs_source, _ = sim.magnitude2amplitude(None, _source(p, "magnitude", SOURCE_MAGNITUDE_MODEL2))
    return np.asarray(image_sim.image(lens_model(p)[1], kwargs_source, None), dtype=np.float64)


def render_with_twin(p: DeepLenseParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the image the official code writes, its noiseless twin float64): Model I int64 counts and the
    flux per unit exposure; Model II float64 and the noiseless image in counts per second."""
    if p.preset == "deeplense-model1":
        model = model1_noiseless(p)
        return model1_counts(model, p.exposure_time, rng), model
    model = model2_noiseless(p)
    if p.noise == "euclid":
        seed = int(rng.integers(0, 2**31 - 1))
        return model + _euclid_sim(p).noise_for_model(model, seed=seed), model
    return model + model, model  # as written: image_real = image_model + image_model


def render(p: DeepLenseParams, rng: np.random.Generator) -> np.ndarray:
    """The image the official code writes for these parameters (Model I int64 counts, Model II float64)."""
    return render_with_twin(p, rng)[0]


def noise_params(p: DeepLenseParams) -> dict:
    """How `render_with_twin` observes the twin, as core.data.observe reads it: Model I "counts" (exposure
    time, background rms), Model II "euclid" Gaussian (variance m / t + background^2, lenstronomy's
    `noise_for_model`) or "none" (as written: 2 x the twin); and the PSF FWHM in pixels."""
    fwhm_px = psf_fwhm_arcsec(p.preset) / pixel_scale_arcsec(p.preset)
    if p.preset == "deeplense-model1":
        return {"kind": "counts", "exposure_time": p.exposure_time, "background_rms": MODEL1_BACKGROUND_RMS, "psf_fwhm_px": fwhm_px}
    if p.noise == "euclid":
        sim = _euclid_sim(p)
        return {"kind": "gaussian", "flux_variance": 1.0 / sim.exposure_time, "background_rms": float(sim.background_noise),
                "psf_fwhm_px": fwhm_px}
    return {"kind": "none", "scale": 2.0, "psf_fwhm_px": fwhm_px}


def psf_fwhm_arcsec(preset: str) -> float:
    return MODEL1_PSF_FWHM if preset == "deeplense-model1" else EUCLID_VIS_DEEPLENSE["seeing"]


def pixel_scale_arcsec(preset: str) -> float:
    return MODEL1_PIXEL if preset == "deeplense-model1" else EUCLID_VIS_DEEPLENSE["pixel_scale"]


def save_native(path, image: np.ndarray, axion_mass_ev: float | None) -> None:
    """Write as the official scripts do: the image alone, or np.array([image, axion_mass]) for vortices.

    `path`: a file name or an open binary file (as numpy.save takes)."""
    if axion_mass_ev is None:
        np.save(path, image)
        return
    record = np.empty(2, dtype=object)
    record[0], record[1] = image, float(axion_mass_ev)
    np.save(path, record, allow_pickle=True)
