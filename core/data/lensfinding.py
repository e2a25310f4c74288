"""Lens finding across a domain shift: physically drawn lenses and non-lenses in two instruments.

A binary task, `lens` / `nonlens`, rendered with lenstronomy (`SimAPI`: magnitudes -> counts,
Gaussian PSF, Poisson + sky + read noise) in two domains on the same field and the same grid:

- "easy" (Model I-like space telescope): 0.05" pixels, Gaussian PSF FWHM 0.09", 2000 s with an
  HST/ACS-like zero point (25.94 mag for 1 e-/s), sky 22.3 mag/arcsec^2; rendered at 0.05" and
  block-averaged 2 x 2 onto the 0.1" grid (what a pipeline cutting both surveys to one grid does).
- "hard" (Euclid-like): 0.101" pixels, PSF FWHM 0.16-0.20" (drawn per image), the Euclid VIS
  settings of the DeepLense Model II recipe (core.data.deeplense.EUCLID_VIS_DEEPLENSE: 4 x 565 s,
  sky 22.35, zero point 24.0, read noise 4.2 e-, gain 3.1), fainter sources (magnitudes +1): sky
  noise dominates and small arcs sink into the lens light.
The field is `size` x 0.1" on a side (6.4" at the default 64 px) in both domains.

Every image draws one system from the same population, whatever the domain:
- lens galaxy: elliptical Sérsic light (n 2.5-5, R_sersic 0.4-1.2", axis ratio 0.6-1, 18-20.5 mag);
  its mass an SIE (lenstronomy "SIE", Einstein radius 0.3-1.8": small-separation cases included,
  axis ratio 0.6-1 aligned with the light up to a few degrees) plus external shear (<= 0.08);
- background source: elliptical Sérsic (R_sersic 0.1-0.4", n 0.7-2, 21-24 mag easy, 22-25 hard).

Classes (`kind` of the drawn system; label `lens` only for the first):
- `lens`: the source lies within 0.6 theta_E of the lens centre, inside the SIE's caustics,
  and is deflected by SIE + shear: two or four images, arcs or a ring.
- `nonlens` of four kinds, mixed equally:
  - `no_source`: the same kind of lens galaxy with no background source (a lens's twin);
  - `field`: an unlensed background galaxy alone (no foreground galaxy, no deflection);
  - `outside`: the lens galaxy and a background galaxy 1.6-3 theta_E away, outside the caustics,
    deflected by the same SIE + shear: one image, weakly sheared (what most projections are);
  - `blend`: the lens galaxy with 1-2 companions at its own redshift (unlensed light, some
    elongated like arcs) and sometimes a background galaxy outside the caustics.
So a non-lens never has multiple images or arcs: its source light is either the unlensed profile
or one weakly distorted image (tests/test_lensfinding.py checks this with lenstronomy's
image-position solver and the source's magnification).

Real galaxy shapes: no installed, maintained package here ships them (lenstronomy carries no
galaxy catalogue; paltas' COSMOS shapelets and GalSim's COSMOS sample are downloads), and nothing
downloads at run time, so every galaxy is a Sérsic profile. One band only.
Determinism: everything comes from the `rng` passed in (params first, then the noise seed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from core.data.deeplense import EUCLID_VIS_DEEPLENSE
from core.data.lenses import _ellipticity

DOMAINS = ("easy", "hard")
CLASSES = ("lens", "nonlens")
NONLENS_KINDS = ("no_source", "field", "outside", "blend")
GRID_PIXEL_ARCSEC = 0.1  # the common grid: field of view = size x 0.1"
VERSION = "lf-1.0"
SUPERSAMPLING = 2  # lenstronomy sub-pixel ray shooting per axis

INSTRUMENTS = {  # lenstronomy SingleBand keyword arguments per domain (seeing drawn per image for "hard")
    "easy": {"pixel_scale": 0.05, "exposure_time": 2000.0, "magnitude_zero_point": 25.94, "read_noise": 5.0,
             "ccd_gain": 2.0, "sky_brightness": 22.3, "seeing": 0.09, "num_exposures": 1, "psf_type": "GAUSSIAN"},
    "hard": dict(EUCLID_VIS_DEEPLENSE),
}  # fmt: skip
HARD_SEEING_RANGE = (0.16, 0.20)  # arcsec FWHM, drawn per image
THETA_E_RANGE = (0.3, 1.8)  # arcsec, uniform
LENS_MAG_RANGE = (18.0, 20.5)
SOURCE_MAG_RANGE = {"easy": (21.0, 24.0), "hard": (22.0, 25.0)}
LENS_SOURCE_RADIUS = 0.6  # lensed sources lie within this fraction of theta_E from the lens centre
OUTSIDE_RANGE = (1.6, 3.0)  # non-lens background galaxies: distance from the lens centre in theta_E


@dataclass
class Galaxy:
    """An elliptical Sérsic galaxy: magnitude (AB, the domain's band), half-light radius (arcsec), index, ellipticity, centre."""

    magnitude: float
    r_sersic: float
    n_sersic: float
    e1: float
    e2: float
    x: float
    y: float

    def kwargs(self) -> dict:
        """lenstronomy SERSIC_ELLIPSE keyword arguments (brightness as a magnitude, for SimAPI)."""
        return {"magnitude": self.magnitude, "R_sersic": self.r_sersic, "n_sersic": self.n_sersic,
                "e1": self.e1, "e2": self.e2, "center_x": self.x, "center_y": self.y}


@dataclass
class LensFindingParams:
    """One system in one domain. Angles in arcsec; `mass` is None when nothing deflects."""

    domain: str
    kind: str  # "lens" or one of NONLENS_KINDS
    size: int  # output side in pixels (field = size x 0.1")
    seeing: float  # PSF FWHM, arcsec
    deflector: Galaxy | None  # the foreground galaxy's light (None for "field")
    mass: dict | None  # SIE + shear: theta_E, e1, e2, gamma1, gamma2 (None: no deflection)
    sources: list[Galaxy] = field(default_factory=list)  # background galaxies, deflected by `mass` when given
    companions: list[Galaxy] = field(default_factory=list)  # galaxies at the deflector's redshift (unlensed)

    @property
    def label(self) -> str:
        return "lens" if self.kind == "lens" else "nonlens"

    def to_dict(self) -> dict:
        return asdict(self)


def _galaxy(rng: np.random.Generator, mag_range, r_range, n_range, q_range, x: float = 0.0, y: float = 0.0) -> Galaxy:
    e1, e2, _ = _ellipticity(rng, q_range)
    return Galaxy(float(rng.uniform(*mag_range)), float(rng.uniform(*r_range)), float(rng.uniform(*n_range)), e1, e2, float(x), float(y))


def _at(rng: np.random.Generator, r_min: float, r_max: float) -> tuple[float, float]:
    """A position uniform in area in the annulus r_min-r_max (arcsec) around the centre."""
    r = float(np.sqrt(rng.uniform(r_min**2, r_max**2)))
    a = float(rng.uniform(0, 2 * np.pi))
    return r * np.cos(a), r * np.sin(a)


def sample_params(domain: str, kind: str, rng: np.random.Generator, size: int = 64) -> LensFindingParams:
    """Draw one system of `kind` ("lens" or a NONLENS_KINDS entry; "nonlens" picks one at random) in `domain`."""
    if domain not in DOMAINS:
        raise ValueError(f"Unknown lens-finding domain {domain!r}; choose easy or hard.")
    if kind == "nonlens":
        kind = NONLENS_KINDS[int(rng.integers(len(NONLENS_KINDS)))]
    if kind != "lens" and kind not in NONLENS_KINDS:
        raise ValueError(f"Unknown lens-finding kind {kind!r}; choose lens, nonlens or one of {', '.join(NONLENS_KINDS)}.")
    seeing = float(rng.uniform(*HARD_SEEING_RANGE)) if domain == "hard" else INSTRUMENTS["easy"]["seeing"]
    # the deflector and its mass are drawn for every kind, so the draws line up across kinds
    light = _galaxy(rng, LENS_MAG_RANGE, (0.4, 1.2), (2.5, 5.0), (0.6, 1.0))
    theta_e = float(rng.uniform(*THETA_E_RANGE))
    phi_light = 0.5 * np.arctan2(light.e2, light.e1)
    q = float(rng.uniform(0.6, 1.0))
    phi = phi_light + float(rng.normal(0, 0.05))
    e = (1 - q) / (1 + q)
    shear, shear_angle = float(rng.uniform(0, 0.08)), float(rng.uniform(0, np.pi))
    mass = {"theta_E": theta_e, "e1": float(e * np.cos(2 * phi)), "e2": float(e * np.sin(2 * phi)),
            "gamma1": float(shear * np.cos(2 * shear_angle)), "gamma2": float(shear * np.sin(2 * shear_angle))}
    source = _galaxy(rng, SOURCE_MAG_RANGE[domain], (0.1, 0.4), (0.7, 2.0), (0.4, 1.0))
    p = LensFindingParams(domain=domain, kind=kind, size=int(size), seeing=seeing, deflector=light, mass=mass)
    if kind == "lens":
        p.sources = [replace(source, **dict(zip(("x", "y"), _at(rng, 0.0, LENS_SOURCE_RADIUS * theta_e), strict=True)))]
    elif kind == "no_source":
        p.mass = None  # no background light: nothing to deflect
    elif kind == "field":
        p.deflector, p.mass = None, None
        p.sources = [replace(source, r_sersic=float(rng.uniform(0.2, 0.8)), magnitude=source.magnitude - 2.0)]
    elif kind == "outside":
        p.sources = [replace(source, **dict(zip(("x", "y"), _at(rng, *(f * theta_e for f in OUTSIDE_RANGE)), strict=True)))]
    else:  # blend: 1-2 companions at the lens redshift, sometimes a background galaxy outside the caustics
        for _ in range(int(rng.integers(1, 3))):
            x, y = _at(rng, 0.8, 2.5)
            p.companions.append(_galaxy(rng, (19.5, 23.0), (0.1, 0.5), (0.5, 1.5), (0.25, 1.0), x, y))
        if rng.uniform() < 0.5:
            p.sources = [replace(source, **dict(zip(("x", "y"), _at(rng, *(f * theta_e for f in OUTSIDE_RANGE)), strict=True)))]
        else:
            p.mass = None
    return p


def band(p: LensFindingParams) -> dict:
    """lenstronomy SingleBand settings of the system's domain, with its seeing."""
    return {**INSTRUMENTS[p.domain], "seeing": p.seeing}


def native_pixels(p: LensFindingParams) -> int:
    """Pixels per side at the instrument's own pixel scale (easy: 2 x size, hard: size)."""
    return 2 * p.size if p.domain == "easy" else p.size


def lens_model(p: LensFindingParams) -> tuple[list[str], list[dict]]:
    """lenstronomy lens model list and kwargs: SIE + SHEAR at the origin, or nothing."""
    if p.mass is None:
        return [], []
    m = p.mass
    return ["SIE", "SHEAR"], [{"theta_E": m["theta_E"], "e1": m["e1"], "e2": m["e2"], "center_x": 0.0, "center_y": 0.0},
                              {"gamma1": m["gamma1"], "gamma2": m["gamma2"], "ra_0": 0.0, "dec_0": 0.0}]


def _sim(p: LensFindingParams):
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    models, _ = lens_model(p)
    kwargs_model = {"lens_model_list": models, "source_light_model_list": ["SERSIC_ELLIPSE"] * len(p.sources),
                    "lens_light_model_list": ["SERSIC_ELLIPSE"] * (int(p.deflector is not None) + len(p.companions))}
    return SimAPI(native_pixels(p), kwargs_single_band=band(p), kwargs_model=kwargs_model)


def components(p: LensFindingParams) -> dict[str, np.ndarray]:
    """Noiseless PSF-convolved images (e-/s per native pixel, (n, n) float64) of the parts:
    "deflector" (lens galaxy light), "companions", "sources" (background light, lensed when `mass`)."""
    sim = _sim(p)
    image_model = sim.image_model_class({"supersampling_factor": SUPERSAMPLING})
    lights = ([p.deflector] if p.deflector is not None else []) + p.companions
    kwargs_lens_light, kwargs_source, _ = sim.magnitude2amplitude([g.kwargs() for g in lights] or None,
                                                                  [g.kwargs() for g in p.sources] or None, None)
    kwargs_lens = lens_model(p)[1]
    n = native_pixels(p)
    out = {"deflector": np.zeros((n, n)), "companions": np.zeros((n, n)), "sources": np.zeros((n, n))}
    if p.sources:
        out["sources"] = np.asarray(image_model.image(kwargs_lens, kwargs_source, None, source_add=True, lens_light_add=False), dtype=np.float64)
    for i in range(len(lights)):
        only = [kw if j == i else {**kw, "amp": 0.0} for j, kw in enumerate(kwargs_lens_light)]
        part = np.asarray(image_model.image(kwargs_lens, None, only, source_add=False, lens_light_add=True), dtype=np.float64)
        out["deflector" if (i == 0 and p.deflector is not None) else "companions"] += part
    return out


def bin_to_grid(image: np.ndarray, size: int) -> np.ndarray:
    """Block-average a native image onto the (size, size) grid of 0.1" pixels (easy: 2 x 2 blocks)."""
    f = image.shape[0] // size
    return image.reshape(size, f, size, f).mean(axis=(1, 3)) if f > 1 else image


def render_with_twin(p: LensFindingParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the observed image as `render` makes it, the noiseless image at the instrument's own pixels
    (native_pixels, float64, e-/s per native pixel): the twin that `noise_params` observes)."""
    model = sum(components(p).values())
    noisy = model + _sim(p).noise_for_model(model, seed=int(rng.integers(0, 2**31 - 1)))
    return bin_to_grid(noisy, p.size).astype(np.float32), model


def noise_params(p: LensFindingParams) -> dict:
    """The instrument as core.data.observe reads it: lenstronomy's Gaussian noise (variance m / t + background^2)
    at the native pixels, then the block mean (`bin`) onto the 0.1" grid; the PSF FWHM in native pixels."""
    sim = _sim(p)
    return {"kind": "gaussian", "flux_variance": 1.0 / sim.exposure_time, "background_rms": float(sim.background_noise),
            "bin": native_pixels(p) // p.size, "psf_fwhm_px": p.seeing / band(p)["pixel_scale"]}


def render(p: LensFindingParams, rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    """The observed image, float32 (size, size) in e-/s per native pixel (averaged onto the 0.1" grid)."""
    if noise:
        return render_with_twin(p, rng)[0]
    return bin_to_grid(sum(components(p).values()), p.size).astype(np.float32)


def image_positions(p: LensFindingParams, source: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (arcsec) of source `source`'s centre: lenstronomy's lens-equation solver for
    SIE + shear; the unlensed position when nothing deflects."""
    g = p.sources[source]
    models, kwargs = lens_model(p)
    if not models:
        return np.array([g.x]), np.array([g.y])
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver

    solver = LensEquationSolver(LensModel(models))
    half = p.size * GRID_PIXEL_ARCSEC / 2
    x, y = solver.image_position_from_source(g.x, g.y, kwargs, min_distance=0.02, search_window=2 * half, precision_limit=1e-8,
                                             num_iter_max=100)
    return np.asarray(x), np.asarray(y)
