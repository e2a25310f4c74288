"""Lens finding on the real sky: HST- and Euclid-like cutouts of lenses and of every other kind of galaxy.

Simulator kind "sky" (`python -m core simulate sky`), classes `lens` / `nonlens`. Each image is a cutout
as users have them, then put on the finders' model grid exactly as the app puts a FITS with a celestial
WCS on it (core.data.regrid.match_grid + to_grid: 0.1"/px, `size` px, so 6.4" at 64 px):

1. Instrument, drawn per image from INSTRUMENTS: HST ACS/WFC3 drizzled at 0.03, 0.04, 0.05, 0.065"/px
   (WFC3/IR at 0.065), WFPC2/ACS at 0.1"/px, Euclid VIS at 0.1"/px; a band of that instrument (zero
   point, sky brightness, galaxy colours); PSF = elliptical Moffat core (FWHM 0.07-0.12" HST optical,
   0.13-0.16" WFC3/IR, 0.16-0.2" Euclid) + a broad Gaussian halo (3-12 % of the light) for the wings;
   exposure log-uniform from snapshot to deep (one to several exposures), Poisson + sky + read noise (the
   detector's, shared out over the drizzled pixels), sky subtracted (with a small residual), the noise
   correlated over neighbouring pixels as drizzling does (less pixel-to-pixel noise, the same on larger scales).
2. Cutout side 4-12" at the instrument's pixels (a larger field than the model's is rendered only over
   the part the regrid keeps: the same pixels, the same result).
3. Scene (SCENES, drawn independently of the class): a massive elliptical alone, with companions, with
   shells / tidal arcs, in a small group; a spiral at any inclination, an edge-on disk with a dust lane,
   a merger with tidal tails, a ring galaxy, a clumpy irregular (core.data.galaxies); 40 % ellipticals alone, as lens
   searches pick their targets. Magnitudes I 17-21.5 for 3/4 of them (SLACS, SL2S, BELLS deflectors) and 21.5-24 for
   the rest (faint COSMOS galaxies), sizes from magnitude with scatter.
   Field galaxies and stars scattered over the cutout at sky densities, in both classes. A main galaxy too faint
   to see (matched-filter S/N below a floor drawn in 20-60) is made brighter: users cut out what they see.
4. Class:
   - `lens`: the scene's main galaxy carries an SIE + external shear mass (theta_E 0.5-2.2" for
     elliptical hosts as SLACS / BELLS / SL2S, 0.5-1.2" for disk, ring, merger and irregular hosts as
     SWELLS), and a background galaxy (galaxies.SOURCE_KINDS: clumpy, spiral, compact, merging; lenstronomy
     "INTERPOL" of its image, so the arcs carry its clumps) lies inside the caustics: 2 or 4 images
     (lenstronomy's image-position solver), arcs or a ring. Its unlensed magnitude is 2-6 mag fainter than
     the main galaxy in I (at least I = 20; blue colours), so arcs are mostly fainter than their lens, as
     in SLACS / BELLS / SL2S, and it is raised only if its lensed light would be undetectable
     (matched-filter S/N against the noise and a tenth of the lens light, below a floor drawn in 15-60):
     arcs range from obvious to faint but are there, as in the lens samples users bring.
   - `nonlens`: the same scene with the same mass and, half of the time, a background galaxy outside
     the caustics (1.6-3 theta_E + its size away): one weakly sheared image. Never multiple images.
No shortcuts: the instrument, pixel scale, band, exposure depth, field size, scene and galaxy types,
magnitudes, field galaxies and stars are drawn before and independently of the class (the same
distributions for both; lens galaxies and non-lens galaxies are the same population). Only the lensed
source differs; tests/test_sky.py checks that pixel scale and field do not predict the class.

Units: e-/s per native pixel, sky-subtracted (as drizzled HST science images); the model grid averages
them (surface-brightness conserving). Determinism: everything from the `rng` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data import galaxies
from core.data.galaxies import Galaxy

VERSION = "sky-1.2"  # 1.2: main galaxies as lens searches pick them (mostly bright early types); 1.1: theta_E uniform, visibility floors, drizzle noise
CLASSES = ("lens", "nonlens")
GRID_ARCSEC = 0.1  # the finders' model grid (arcsec per pixel)
FIELD_RANGE = (4.0, 12.0)  # cutout side, arcsec
FINE_STEP = 0.02  # arcsec: the sky is rendered at most this coarse, then integrated over each native pixel

# instrument: pixel scale (drizzled), detector pixel, PSF core FWHM range, read noise (e-), exposures, exposure range
# (s), drizzle kernel weight of the neighbouring pixels (noise correlation), weight, and its bands: zero point (AB for 1 e-/s), sky (AB mag/arcsec^2), colour vs F814W for
# red (early-type) and blue (star-forming) light
INSTRUMENTS = {
    "hst-acs-30mas": {"pixel": 0.03, "detector": 0.05, "fwhm": (0.085, 0.105), "read": 5.0, "n_exp": (2, 6), "t": (600, 6000), "drizzle": (0.15, 0.35),
                      "weight": 2, "bands": ("F814W", "F606W")},
    "hst-wfc3-40mas": {"pixel": 0.04, "detector": 0.04, "fwhm": (0.07, 0.09), "read": 3.1, "n_exp": (2, 4), "t": (300, 3000), "drizzle": (0.03, 0.15),
                       "weight": 2, "bands": ("F814W-UVIS", "F606W-UVIS", "F600LP")},
    "hst-acs-50mas": {"pixel": 0.05, "detector": 0.05, "fwhm": (0.08, 0.11), "read": 5.0, "n_exp": (1, 4), "t": (300, 3000), "drizzle": (0.03, 0.15),
                      "weight": 3, "bands": ("F814W", "F606W", "F555W")},
    "hst-wfc3ir-65mas": {"pixel": 0.065, "detector": 0.13, "fwhm": (0.13, 0.16), "read": 15.0, "n_exp": (2, 4), "t": (300, 3000), "drizzle": (0.2, 0.4),
                         "weight": 1, "bands": ("F160W", "F140W")},
    "hst-100mas": {"pixel": 0.1, "detector": 0.1, "fwhm": (0.1, 0.12), "read": 5.5, "n_exp": (1, 4), "t": (300, 2500), "drizzle": (0.0, 0.1),
                   "weight": 2, "bands": ("F606W", "F814W", "F606W-WFPC2")},
    "euclid-vis": {"pixel": 0.1, "detector": 0.1, "fwhm": (0.16, 0.2), "read": 4.2, "n_exp": (3, 4), "t": (1700, 2300), "drizzle": (0.03, 0.15),
                   "weight": 2, "bands": ("VIS",)},
}  # fmt: skip
BANDS = {  # zero point, sky, colour (red, blue) relative to F814W
    "F814W": (25.94, 22.3, (0.0, 0.0)), "F606W": (26.49, 22.9, (1.0, 0.35)), "F555W": (25.72, 23.2, (1.4, 0.45)),
    "F814W-UVIS": (25.09, 22.3, (0.0, 0.0)), "F606W-UVIS": (26.10, 22.9, (1.0, 0.35)), "F600LP": (25.88, 22.6, (0.5, 0.15)),
    "F160W": (25.95, 22.4, (-1.3, -0.5)), "F140W": (26.45, 22.6, (-1.1, -0.4)), "F606W-WFPC2": (25.0, 22.9, (1.0, 0.35)),
    "VIS": (25.2, 22.35, (0.4, 0.15)),
}  # fmt: skip
# the main galaxy of a cutout, as lens searches pick them: mostly massive early types (the galaxies that lens), then the
# rest of the field's bright galaxies; the same draw for both classes (sky-1.2: more ellipticals than sky-1.1's 0.24)
SCENES = {"elliptical": 0.40, "companions": 0.12, "shells": 0.06, "group": 0.08, "spiral": 0.10, "edge_on": 0.06,
          "merger": 0.07, "ring": 0.05, "irregular": 0.06}  # fmt: skip
ELLIPTICAL_HOSTS = ("elliptical", "companions", "shells", "group")
COLOUR = {"elliptical": 0.0, "companions": 0.0, "shells": 0.0, "group": 0.0, "spiral": 0.5, "edge_on": 0.4, "merger": 0.5,
          "ring": 0.6, "irregular": 1.0, "compact": 0.5}  # 0 red ... 1 blue  # fmt: skip
MAIN_MAG_RANGE = (17.0, 21.5)  # I band: 3/4 uniform over it (lens searches target bright galaxies: SLACS I 17-19, SL2S
FAINT_MAG_RANGE = (21.5, 24.0)  # and BELLS 19-21), 1/4 over FAINT_MAG_RANGE (sky-1.2; sky-1.1 drew half and half over 17-24.5)
BRIGHT_SHARE = 0.75
THETA_E = {"elliptical": (0.5, 2.2), "other": (0.5, 1.2)}  # arcsec
SOURCE_MAG_OFFSET = (2.0, 6.0)  # unlensed source I mag - main galaxy I mag (arcs mostly fainter than it)
SOURCE_MAG_MIN = 20.0
SOURCE_WEIGHTS = {"irregular": 0.45, "spiral": 0.2, "compact": 0.25, "merger": 0.1}
SNR_FLOOR = (15.0, 60.0)  # lensed light's matched-filter S/N (`_arc_snr`) is raised to a value drawn here if below it
ARC_CONFUSION = 0.1  # fraction of the lens light counted as noise for the arcs' visibility
MAIN_SNR_FLOOR = (20.0, 60.0)  # the main galaxy's matched-filter S/N is raised to a value drawn here (log-uniform) if below
LENS_SOURCE_RADIUS = 0.5  # lensed source centres within this fraction of theta_E (uniform in radius; then checked)
OUTSIDE_RANGE = (1.6, 3.0)  # non-lens background galaxies: distance in theta_E (plus twice their size)
FIELD_DENSITY = {"faint": 0.025, "bright": 0.004, "stars": 0.001}  # per arcsec^2: I 22-26, I 19.5-22, stars I 17-24


@dataclass
class Placed:
    """A galaxy on the sky: its morphology (flux 1), magnitude in the image's band, centre (arcsec), colour (0 red, 1 blue)."""

    galaxy: Galaxy
    mag: float
    x: float
    y: float
    colour: float = 0.0

    def to_dict(self) -> dict:
        return {"kind": self.galaxy.kind, "mag": round(self.mag, 4), "x": round(self.x, 4), "y": round(self.y, 4),
                "r_e": round(self.galaxy.parts[0].get("r_e", self.galaxy.parts[0].get("sigma", 0.0)), 4)}


@dataclass
class SkyParams:
    """One cutout: instrument and observation, the scene, the mass of its main galaxy, background sources."""

    label: str
    size: int  # model grid side (pixels of GRID_ARCSEC)
    instrument: str
    band: str
    obs: dict  # pixel, fwhm, psf (beta, q, pa, halo, halo_fwhm), zero_point, sky_mag, t, n_exp, read, drizzle, sky_error
    field_arcsec: float
    native: int  # pixels per side rendered (the cutout, or its part the model grid keeps)
    scene: str
    galaxies: list[Placed]  # foreground, unlensed; the first is the main galaxy
    mass: dict  # SIE + shear on the main galaxy: theta_E, e1, e2, gamma1, gamma2, x, y
    sources: list[Placed] = field(default_factory=list)  # background, deflected by `mass`
    stars: list[tuple[float, float, float]] = field(default_factory=list)  # (mag, x, y)
    snr_floor: float = 0.0  # lens: minimum matched-filter S/N of the lensed light
    main_snr_floor: float = 0.0  # minimum matched-filter S/N of the main galaxy (a cutout is made of something seen)

    def to_dict(self) -> dict:
        return {"label": self.label, "size": self.size, "instrument": self.instrument, "band": self.band,
                "obs": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.obs.items()},
                "field_arcsec": round(self.field_arcsec, 4), "native": self.native, "scene": self.scene,
                "galaxies": [g.to_dict() for g in self.galaxies], "mass": {k: round(v, 5) for k, v in self.mass.items()},
                "sources": [s.to_dict() for s in self.sources], "n_stars": len(self.stars), "snr_floor": round(self.snr_floor, 3),
                "main_snr_floor": round(self.main_snr_floor, 3)}


# ---------------------------------------------------------------------------- drawing


def _pick(rng: np.random.Generator, weights: dict) -> str:
    names = list(weights)
    w = np.array([weights[k] for k in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _observation(rng: np.random.Generator) -> tuple[str, str, dict]:
    name = _pick(rng, {k: v["weight"] for k, v in INSTRUMENTS.items()})
    ins = INSTRUMENTS[name]
    band = ins["bands"][int(rng.integers(len(ins["bands"])))]
    zp, sky, _ = BANDS[band]
    fwhm = float(rng.uniform(*ins["fwhm"]))
    obs = {"pixel": ins["pixel"], "fwhm": fwhm, "beta": float(rng.uniform(2.5, 4.5)), "psf_q": float(rng.uniform(0.9, 1.0)),
           "psf_pa": float(rng.uniform(0, np.pi)), "halo": float(rng.uniform(0.03, 0.12)), "halo_fwhm": fwhm * float(rng.uniform(3, 6)),
           "zero_point": zp, "sky_mag": sky + float(rng.uniform(-0.4, 0.4)),
           "t": float(np.exp(rng.uniform(*np.log(ins["t"])))), "n_exp": int(rng.integers(ins["n_exp"][0], ins["n_exp"][1] + 1)),
           "read": ins["read"], "detector": ins["detector"], "drizzle": float(rng.uniform(*ins["drizzle"])), "sky_error": float(rng.normal(0, 0.1))}
    return name, band, obs


def _band_mag(mag_i: float, band: str, colour: float, rng: np.random.Generator) -> float:
    red, blue = BANDS[band][2]
    return float(mag_i + red + colour * (blue - red) + rng.normal(0, 0.15))


def _size(rng: np.random.Generator, mag_i: float, scale: float = 1.0) -> float:
    """Half-light radius (arcsec): brighter galaxies are larger (0.8" at I = 19, 0.4" at I = 22), with scatter."""
    return float(scale * 0.8 * 10 ** (-0.1 * (mag_i - 19.0) + rng.normal(0, 0.12)))


def _scene(rng: np.random.Generator, scene: str, band: str, centre: tuple[float, float], mag: float) -> list[Placed]:
    """The scene's galaxies, its main one (I magnitude `mag`) first at `centre`."""
    kind = "elliptical" if scene == "group" else scene
    scale = {"spiral": 1.4, "edge_on": 1.4, "ring": 1.0, "merger": 1.0, "irregular": 0.8}.get(kind, 1.0)
    main = galaxies.sample(kind, rng, _size(rng, mag, scale))
    placed = [Placed(main, _band_mag(mag, band, COLOUR[scene], rng), centre[0], centre[1], COLOUR[scene])]
    if scene == "group":
        for _ in range(int(rng.integers(2, 5))):
            m = mag + float(rng.uniform(0.3, 3.0))
            k = str(rng.choice(["elliptical", "elliptical", "spiral", "compact"]))
            d, a = float(rng.uniform(1.2, 4.0)), float(rng.uniform(0, 2 * np.pi))
            placed.append(Placed(galaxies.sample(k, rng, _size(rng, m)), _band_mag(m, band, COLOUR[k], rng),
                                 centre[0] + d * np.cos(a), centre[1] + d * np.sin(a), COLOUR[k]))
    return placed


def _mass(rng: np.random.Generator, main: Placed, scene: str) -> dict:
    """SIE + shear on the main galaxy, aligned with its light; theta_E uniform in THETA_E (faint galaxies are mostly
    distant, not light: lenses with faint deflectors at z ~ 1 have Einstein radii like SLACS's)."""
    part = main.galaxy.parts[0]
    q = float(np.clip(part["q"] + rng.normal(0, 0.08), 0.5, 1.0))
    phi = part["pa"] + float(rng.normal(0, 0.1))
    e = (1 - q) / (1 + q)
    g, ga = float(rng.uniform(0, 0.1)), float(rng.uniform(0, np.pi))
    theta_e = float(rng.uniform(*THETA_E["elliptical" if scene in ELLIPTICAL_HOSTS else "other"]))
    return {"theta_E": theta_e, "e1": float(e * np.cos(2 * phi)), "e2": float(e * np.sin(2 * phi)),
            "gamma1": float(g * np.cos(2 * ga)), "gamma2": float(g * np.sin(2 * ga)), "x": main.x, "y": main.y}


def _field(rng: np.random.Generator, side: float, band: str) -> tuple[list[Placed], list[tuple[float, float, float]]]:
    """Field galaxies and stars, uniform over the cutout (Poisson numbers at sky densities)."""
    area = side * side
    out = []
    for key, mags in (("faint", (22.0, 26.0)), ("bright", (19.5, 22.0))):
        for _ in range(int(rng.poisson(FIELD_DENSITY[key] * area))):
            m = float(rng.uniform(*mags))
            k = str(rng.choice(["compact", "compact", "irregular", "spiral", "elliptical"]))
            out.append(Placed(galaxies.sample(k, rng, _size(rng, m, 0.8)), _band_mag(m, band, COLOUR[k], rng),
                              float(rng.uniform(-side / 2, side / 2)), float(rng.uniform(-side / 2, side / 2)), COLOUR[k]))
    stars = [(_band_mag(float(rng.uniform(17.0, 24.0)), band, float(rng.uniform(0, 1)), rng),
              float(rng.uniform(-side / 2, side / 2)), float(rng.uniform(-side / 2, side / 2)))
             for _ in range(int(rng.poisson(FIELD_DENSITY["stars"] * area)))]
    return out, stars


def _background(rng: np.random.Generator, band: str, main_mag: float) -> Placed:
    """A background galaxy (flux and size drawn; placed later): 2-6 mag fainter than the main galaxy in I."""
    kind = _pick(rng, SOURCE_WEIGHTS)
    r_e = float(np.exp(rng.uniform(np.log(0.08), np.log(0.5))))
    mag = max(SOURCE_MAG_MIN, main_mag + float(rng.uniform(*SOURCE_MAG_OFFSET)))
    return Placed(galaxies.sample(kind, rng, r_e), _band_mag(mag, band, 1.0, rng), 0.0, 0.0, 1.0)


def sample_params(label: str, rng: np.random.Generator, size: int = 64) -> SkyParams:
    """Draw one cutout of class `label` ("lens" or "nonlens"); everything but the background source is
    drawn first and the same way for both classes."""
    if label not in CLASSES:
        raise ValueError(f"Unknown sky class {label!r}; choose lens or nonlens.")
    name, band, obs = _observation(rng)
    side = float(rng.uniform(*FIELD_RANGE))
    scene = _pick(rng, SCENES)
    centre = (float(rng.normal(0, 0.05)), float(rng.normal(0, 0.05)))
    main_mag = float(rng.uniform(*(MAIN_MAG_RANGE if rng.uniform() < BRIGHT_SHARE else FAINT_MAG_RANGE)))
    placed = _scene(rng, scene, band, centre, main_mag)
    mass = _mass(rng, placed[0], scene)
    extra, stars = _field(rng, side, band)
    source = _background(rng, band, main_mag)
    outside = rng.uniform() < 0.5
    p = SkyParams(label, int(size), name, band, obs, side, _native(side, obs["pixel"], size), scene, placed + extra, mass,
                  stars=stars, snr_floor=float(rng.uniform(*SNR_FLOOR)),
                  main_snr_floor=float(np.exp(rng.uniform(*np.log(MAIN_SNR_FLOOR)))))
    if label == "lens":
        p.sources = [_inside(rng, p, source)]
    elif outside:
        p.sources = [_outside(rng, p, source)]
    return p


def _native(side: float, pixel: float, size: int) -> int:
    """Native pixels to render: the cutout, or (a wider one) the central part the model grid keeps, same parity."""
    n = int(round(side / pixel))
    keep = int(np.ceil(size * GRID_ARCSEC / pixel)) + 4
    if n > keep:
        n = keep + ((n - keep) % 2)
    return n


def _inside(rng: np.random.Generator, p: SkyParams, s: Placed) -> Placed:
    """The source inside the caustics: the first of 30 draws within 0.5 theta_E with >= 2 images, else near the centre."""
    m = p.mass
    for _ in range(30):
        r = m["theta_E"] * LENS_SOURCE_RADIUS * float(rng.uniform())  # uniform in radius: rings and arcs common
        a = float(rng.uniform(0, 2 * np.pi))
        cand = Placed(s.galaxy, s.mag, m["x"] + r * np.cos(a), m["y"] + r * np.sin(a), s.colour)
        if len(image_positions(p, cand)[0]) >= 2:
            return cand
    return Placed(s.galaxy, s.mag, m["x"] + 0.02 * m["theta_E"], m["y"], s.colour)


def _outside(rng: np.random.Generator, p: SkyParams, s: Placed) -> Placed:
    """A background galaxy outside the caustics: one image, pushed outward until the solver finds only one."""
    m = p.mass
    d = m["theta_E"] * float(rng.uniform(*OUTSIDE_RANGE)) + 2 * s.galaxy.parts[0].get("r_e", 0.2)
    a = float(rng.uniform(0, 2 * np.pi))
    while True:
        cand = Placed(s.galaxy, s.mag, m["x"] + d * np.cos(a), m["y"] + d * np.sin(a), s.colour)
        if len(image_positions(p, cand)[0]) <= 1:
            return cand
        d *= 1.2


# ---------------------------------------------------------------------------- lensing


def lens_model(p: SkyParams) -> tuple[list[str], list[dict]]:
    m = p.mass
    return ["SIE", "SHEAR"], [{"theta_E": m["theta_E"], "e1": m["e1"], "e2": m["e2"], "center_x": m["x"], "center_y": m["y"]},
                              {"gamma1": m["gamma1"], "gamma2": m["gamma2"], "ra_0": m["x"], "dec_0": m["y"]}]


def image_positions(p: SkyParams, source: Placed | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (arcsec) of a background source's centre (lenstronomy's lens-equation solver)."""
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver

    s = p.sources[source] if isinstance(source, int) else source
    models, kwargs = lens_model(p)
    solver = LensEquationSolver(LensModel(models))
    x, y = solver.image_position_from_source(s.x, s.y, kwargs, min_distance=0.02, search_window=4 * p.mass["theta_E"] + 2 * abs(s.x - p.mass["x"])
                                             + 2 * abs(s.y - p.mass["y"]) + 1.0, precision_limit=1e-8, num_iter_max=100)
    return np.asarray(x), np.asarray(y)


def magnification(p: SkyParams, source: Placed | int = 0) -> float:
    """Total |magnification| of a source's centre over its images."""
    from lenstronomy.LensModel.lens_model import LensModel

    x, y = image_positions(p, source)
    if not len(x):
        return 0.0
    models, kwargs = lens_model(p)
    return float(np.abs(LensModel(models).magnification(x, y, kwargs)).sum())


def _source_stamp(s: Placed) -> tuple[np.ndarray, float]:
    """The source's surface brightness (flux 1) on a fine stamp for INTERPOL, and the stamp's pixel (arcsec)."""
    extent = min(s.galaxy.extent, 2.0)
    step = max(0.004, min(0.015, extent / 100))
    n = int(np.ceil(2 * extent / step)) | 1
    c = (np.arange(n) - (n - 1) / 2) * step
    return s.galaxy.surface_brightness(c, c), step


def lensed(p: SkyParams, s: Placed, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Surface brightness (flux 1 before lensing, per arcsec^2) of background source `s` seen through the mass,
    on the grid ys x xs: rays shot back to the source plane, where lenstronomy's "INTERPOL" profile reads its
    image. Rays are shot only within the radius where images can form (`lens_window`), and the profile read only
    where they land on the source's stamp."""
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    out = np.zeros((ys.size, xs.size))
    image, step = _source_stamp(s)
    half = step * (image.shape[0] - 1) / 2
    m = p.mass
    reach = lens_window(p, s, half)
    cols = slice(*np.searchsorted(xs, [m["x"] - reach, m["x"] + reach]))
    rows = slice(*np.searchsorted(ys, [m["y"] - reach, m["y"] + reach]))
    models, kwargs = lens_model(p)
    x, y = np.meshgrid(xs[cols], ys[rows])
    bx, by = LensModel(models).ray_shooting(x.ravel(), y.ravel(), kwargs)
    hit = (np.abs(bx - s.x) <= half) & (np.abs(by - s.y) <= half)
    if hit.any():
        kw = {"image": image, "amp": 1.0, "center_x": s.x, "center_y": s.y, "phi_G": 0.0, "scale": step}
        sb = np.zeros(bx.size)
        sb[hit] = LightModel(["INTERPOL"]).surface_brightness(bx[hit], by[hit], [kw])
        out[rows, cols] = sb.reshape(x.shape)
    return out


def lens_window(p: SkyParams, s: Placed, half: float) -> float:
    """Radius (arcsec) around the lens beyond which no image of a source of half-size `half` forms: an SIE + shear
    maps a point at radius r at least r (1 - shear) - theta_E from the lens in the source plane."""
    m = p.mass
    beta = float(np.hypot(s.x - m["x"], s.y - m["y"])) + half * np.sqrt(2)
    shear = float(np.hypot(m["gamma1"], m["gamma2"]))
    return (beta + m["theta_E"]) / (1 - shear) * 1.1 + 0.1


# ---------------------------------------------------------------------------- rendering


def cps(p: SkyParams, mag: float) -> float:
    """e-/s of a source of magnitude `mag` in the image's band."""
    return float(10 ** (-0.4 * (mag - p.obs["zero_point"])))


def _grid(p: SkyParams) -> tuple[np.ndarray, int, int]:
    """Fine sample coordinates (arcsec, 1-D, the same for rows and columns), sub-samples per native pixel, and the
    margin (native pixels) rendered around the cutout so the PSF brings in the light just outside it."""
    pix = p.obs["pixel"]
    sub = int(np.ceil(pix / FINE_STEP - 1e-9))
    margin = int(np.ceil(1.0 * p.obs["fwhm"] / pix)) + 1
    n = (p.native + 2 * margin) * sub
    return (np.arange(n) - (n - 1) / 2) * pix / sub, sub, margin


def psf_kernel(p: SkyParams, step: float) -> np.ndarray:
    """The PSF sampled at `step` arcsec, sum 1: elliptical Moffat core of FWHM `fwhm` + a Gaussian halo (the wings)."""
    o = p.obs
    radius = max(4.0 * o["fwhm"], 1.5 * o["halo_fwhm"])
    n = int(np.ceil(radius / step))
    c = np.arange(-n, n + 1) * step
    x, y = np.meshgrid(c, c)
    u = x * np.cos(o["psf_pa"]) + y * np.sin(o["psf_pa"])
    v = (-x * np.sin(o["psf_pa"]) + y * np.cos(o["psf_pa"])) / o["psf_q"]
    alpha = o["fwhm"] / (2 * np.sqrt(2 ** (1 / o["beta"]) - 1))
    core = (1 + (u * u + v * v) / alpha**2) ** -o["beta"]
    sigma = o["halo_fwhm"] / 2.3548
    halo = np.exp(-0.5 * (x * x + y * y) / sigma**2)
    kernel = (1 - o["halo"]) * core / core.sum() + o["halo"] * halo / halo.sum()
    return kernel / kernel.sum()


def components(p: SkyParams) -> dict[str, np.ndarray]:
    """Noiseless images in e-/s per native pixel ((native, native) float64), PSF-convolved: "main" (the scene's
    main galaxy), "foreground" (the rest of the scene, field galaxies, stars), "sources" (background light, deflected)."""
    from scipy.signal import fftconvolve

    xs, sub, margin = _grid(p)
    step = xs[1] - xs[0]
    main, fore = np.zeros((xs.size, xs.size)), np.zeros((xs.size, xs.size))
    for i, g in enumerate(p.galaxies):
        (fore if i else main)[...] += cps(p, g.mag) * g.galaxy.shifted(g.x, g.y).surface_brightness(xs, xs)
    back = np.zeros_like(fore)
    for s in p.sources:
        back += cps(p, s.mag) * lensed(p, s, xs, xs)
    kernel = psf_kernel(p, step)
    out = {}
    for name, sb in (("main", main), ("foreground", fore), ("sources", back)):
        img = fftconvolve(sb, kernel, mode="same") if sb.any() else sb
        n = xs.size // sub
        out[name] = img.reshape(n, sub, n, sub).mean(axis=(1, 3))[margin:n - margin, margin:n - margin] * p.obs["pixel"] ** 2
    for mag, x, y in p.stars:  # point sources: the PSF at native pixels, integrated over sub-samples
        out["foreground"] += cps(p, mag) * _point(p, kernel, step, sub, margin, x, y)
    return out


def _point(p: SkyParams, kernel: np.ndarray, step: float, sub: int, margin: int, x: float, y: float) -> np.ndarray:
    """A unit-flux point source at (x, y) on the native pixels (nearest fine sample)."""
    n_fine = (p.native + 2 * margin) * sub
    img = np.zeros((n_fine, n_fine))
    j, i = int(round(x / step + (n_fine - 1) / 2)), int(round(y / step + (n_fine - 1) / 2))
    if 0 <= i < n_fine and 0 <= j < n_fine:
        img[i, j] = 1.0
    from scipy.signal import fftconvolve

    img = fftconvolve(img, kernel, mode="same")
    n = n_fine // sub
    return img.reshape(n, sub, n, sub).sum(axis=(1, 3))[margin:n - margin, margin:n - margin]


def _noise_terms(p: SkyParams) -> tuple[float, float]:
    """(sky e-/s per pixel, read-noise variance per pixel in (e-/s)^2) of the drizzled pixels: the read noise of
    the detector's pixels shared out by area (pixel / detector pixel)^2, as a drizzled image conserves it."""
    o = p.obs
    sky = cps(p, o["sky_mag"]) * o["pixel"] ** 2
    return sky, o["n_exp"] * o["read"] ** 2 * (o["pixel"] / o["detector"]) ** 2 / o["t"] ** 2


def _variance(p: SkyParams, model: np.ndarray) -> np.ndarray:
    """Per-pixel noise variance ((e-/s)^2) of an exposure of `model` e-/s: Poisson of source + sky, read noise
    (before drizzling spreads it over neighbouring pixels)."""
    sky, read = _noise_terms(p)
    return (np.clip(model, 0, None) + sky) / p.obs["t"] + read


def _arc_snr(p: SkyParams, fore: np.ndarray, back: np.ndarray) -> float:
    """Matched-filter S/N of the lensed light `back` against the noise and the lens light's own structure (a
    tenth of the foreground, what a lens-light model leaves): arcs buried in the lens galaxy's core count little."""
    return float(np.sqrt(np.sum(back**2 / (_variance(p, fore + back) + (ARC_CONFUSION * fore) ** 2))))


def _boost(snr, floor: float, image: np.ndarray) -> float:
    """The factor that brings `snr(f x image)` up to `floor` (two secant-like steps; 1 when it is already there)."""
    now = snr(image)
    if now >= floor or now <= 0:
        return 1.0
    f = floor / now
    return f * floor / snr(f * image)


def noiseless(p: SkyParams) -> tuple[np.ndarray, dict]:
    """The noiseless cutout (e-/s per native pixel) and what was done to it. Both classes: the main galaxy made
    brighter (`main_boost_mag`) if its matched-filter S/N is below `main_snr_floor` (users cut out what they see).
    Lenses: the lensed light's S/N against noise and lens light (`source_snr`), raised to `snr_floor`
    (`source_boost_mag`) if below."""
    parts = components(p)
    main, fore, back = parts["main"], parts["foreground"], parts["sources"]
    info = {"main_boost_mag": 0.0, "source_snr": 0.0, "source_boost_mag": 0.0}
    if main.any():
        f = _boost(lambda m: float(np.sqrt(np.sum(m**2 / _variance(p, m + fore)))), p.main_snr_floor, main)
        main, info["main_boost_mag"] = main * f, float(2.5 * np.log10(f))
    fore = main + fore
    if p.label == "lens" and back.any():
        f = _boost(lambda b: _arc_snr(p, fore, b), p.snr_floor, back)
        back, info["source_boost_mag"] = back * f, float(2.5 * np.log10(f))
        info["source_snr"] = _arc_snr(p, fore, back)
    return fore + back, info


def observe(p: SkyParams, model: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One exposure of `model` (e-/s per native pixel): Poisson counts of source + sky, read noise, the sky
    subtracted (with a residual of `sky_error` of the noise), and drizzling's noise correlation: the noise
    smoothed by a 3 x 3 kernel of sum 1 (centre 1, neighbours `drizzle`), which lowers the pixel-to-pixel noise
    and keeps it on larger scales, as drizzling does; float64 e-/s."""
    from scipy.ndimage import convolve

    o = p.obs
    sky, read = _noise_terms(p)
    counts = rng.poisson(np.clip(model + sky, 0, None) * o["t"]).astype(np.float64)
    noise = counts / o["t"] - sky - model + rng.normal(0.0, np.sqrt(read), model.shape)
    k = np.outer([o["drizzle"], 1.0, o["drizzle"]], [o["drizzle"], 1.0, o["drizzle"]])
    noise = convolve(noise, k / k.sum(), mode="reflect")
    return model + noise + o["sky_error"] * np.sqrt(sky / o["t"] + read)


def model_grid(p: SkyParams) -> dict:
    """The finders' grid record (core.data.grids form) the cutouts are put on."""
    return {"arcsec_per_pixel": GRID_ARCSEC, "field_of_view_arcsec": p.size * GRID_ARCSEC, "image_size": p.size}


def to_model_grid(p: SkyParams, native: np.ndarray, fill: float | None = None) -> np.ndarray:
    """A native cutout on the model grid, as the app does to a FITS with this pixel scale in its WCS."""
    from core.data.regrid import match_grid, regrid, to_grid

    match = match_grid(native.shape, p.obs["pixel"], model_grid(p))
    if fill is not None:
        return regrid(native, match.from_arcsec, match.to_arcsec, match.size, fill=fill)
    return to_grid(native, match)


def render_native(p: SkyParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(the observed cutout at the instrument's pixels, float32 e-/s; its noiseless model; `noiseless` info)."""
    model, info = noiseless(p)
    return observe(p, model, rng).astype(np.float32), model, info


def observe_on_grid(p: SkyParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(the observed image on the model grid (size, size) float32, its noiseless twin on the same grid (zero
    sky beyond the cutout), `noiseless` info: the lensed light's S/N and any brightening)."""
    noisy, model, info = render_native(p, rng)
    return to_model_grid(p, noisy), to_model_grid(p, model.astype(np.float32), fill=0.0), info


def render_with_twin(p: SkyParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the observed image on the model grid, its noiseless twin): `observe_on_grid` without the info."""
    return observe_on_grid(p, rng)[:2]


def render(p: SkyParams, rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    if noise:
        return render_with_twin(p, rng)[0]
    return to_model_grid(p, noiseless(p)[0].astype(np.float32), fill=0.0)


def noise_params(p: SkyParams) -> dict:
    """The noise as core.data.observe reads it, on the model grid (Gaussian: variance m flux_variance +
    background_rms^2): each model pixel the mean of (0.1 / pixel)^2 native pixels of drizzle-correlated noise."""
    o = p.obs
    b = max(1.0, GRID_ARCSEC / o["pixel"])  # native pixels per model pixel, per side
    box = np.ones(int(np.ceil(b - 1e-9)))
    box[-1] = b - (box.size - 1)  # the area-weighted mean of regrid, one model pixel
    kernel = np.array([o["drizzle"], 1.0, o["drizzle"]]) / (1 + 2 * o["drizzle"])
    variance = float(np.sum(np.convolve(box / b, kernel) ** 2)) ** 2  # per unit white variance, 2-D
    sky, read = _noise_terms(p)
    return {"kind": "gaussian", "flux_variance": variance / o["t"], "background_rms": float(np.sqrt((sky / o["t"] + read) * variance)),
            "bin": 1, "psf_fwhm_px": o["fwhm"] / GRID_ARCSEC}
