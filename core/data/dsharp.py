"""The DSHARP-like disk family (disk generator 3.0): disks as ALMA's long-baseline surveys see them.

Data-set presets of the disk simulator (`preset` in configs/data/disks-*.toml, `simulate disks --preset`):
- "project": core.data.disks.sample_disk_params, generator 2.1, unchanged;
- "dsharp": this family, generator 3.0; a quarter of its disks are drawn by the 2.1 sampler ("mixed in");
- "dsharp-figures": the same disks (the same parameters image by image), of which FIGURE_SHARE are then rendered
  as figures: clipped to a display range, stretched (asinh, sqrt, log or a power), normalised, half of them
  quantised to 8 bits (core.io.stretch.render_figure), so figure-like inputs are in the training distribution.

Morphologies (after DSHARP, Andrews et al. 2018; Huang et al. 2018a,b; Kurtovic et al. 2018; Dullemond et al. 2018):
- "multi-ring" (45 %; AS 209, HD 163296, GW Lup, Elias 24, Sz 114): 1-8 Gaussian rings, FWHM from 0.7 beam
  up, a gap between each pair and inside the first with depths from shallow (floor 0.95) to deep (0.02),
  on a faint-to-full smooth disk, often a small cavity and a bright compact inner disk;
- "spiral" (15 %; Elias 27, IM Lup, WaOph 6): a smooth disk with an m = 2 logarithmic spiral (pitch 8-30
  degrees, either sense), sometimes shallow gaps, usually a bright inner disk;
- "crescent" (15 %; HD 143006, HD 142527, IRS 48): a cavity of 0.25-0.55 of the disk radius, a ring at its
  edge carrying a vortex-like crescent (or an arc outside further rings), sometimes an inner disk;
- the 2.1 family (25 %): full, transition and ring-only disks as core.data.disks.sample_disk_params draws them.
Observation: 100-200 pc, a beam of 0.03-0.05" FWHM spanning 2-5 pixels (so the pixel scale is 0.006-0.025",
the field 0.8-3.2" at 129 px, and the disk radius follows from its 45-95 % fill of the field), minor axis
75-100 %, peak S/N 50-2000, a quarter of the disks face-on (deprojected, as figures often show them), the rest
at 5-75 degrees, any position angle. Planets (the class label, 0-3) carve some of the gaps: their mass follows
from the gap's width (Hill radii) and their depth from Kanagawa et al. (2015); the other gaps are free.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.data.disks import (
    FWHM_TO_SIGMA,
    MJUP_IN_MSUN,
    DiskParams,
    kanagawa_gap_depth,
    sample_disk_params,
)
from core.data.simulator_versions import DISK_PRESETS

PRESETS = DISK_PRESETS  # project (generator 2.1), dsharp, dsharp-figures
MORPHOLOGIES = ("multi-ring", "spiral", "crescent", "exxa")  # "exxa": the 2.1 sampler
MORPHOLOGY_WEIGHTS = (0.45, 0.15, 0.15, 0.25)
FIGURE_SHARE = 0.4  # dsharp-figures: share of the disks rendered as figures
FIGURE_STRETCHES = ("asinh", "sqrt", "log", "power")
FIGURE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)
BEAM_ARCSEC = (0.03, 0.05)
BEAM_PX = (2.0, 5.0)
MAX_RINGS = 8


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def sample_preset_params(preset: str, rng: np.random.Generator, n_planets: int, size: int) -> DiskParams:
    """The parameters of one disk of data-set preset `preset` (PRESETS)."""
    if preset == "project":
        return sample_disk_params(rng, n_planets, size)
    if preset not in PRESETS:
        raise ValueError(f"Unknown disk preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    params = sample_dsharp_params(rng, n_planets, size)
    if preset == "dsharp-figures" and rng.random() < FIGURE_SHARE:
        params = replace(params, **sample_figure(rng, params.snr))
    return params


def sample_figure(rng: np.random.Generator, snr: float) -> dict:
    """How a paper might show the disk: a stretch and its parameter, a display range (vmin from 2 noise sigmas
    below zero to 2 above, or 0; vmax the peak, or 0.3-1 of it, saturating a bright centre), 8 bits or float."""
    stretch = FIGURE_STRETCHES[int(rng.choice(len(FIGURE_STRETCHES), p=FIGURE_WEIGHTS))]
    softening = {"asinh": _loguniform(rng, 0.01, 0.3), "log": _loguniform(rng, 10.0, 1000.0),
                 "power": float(rng.uniform(0.3, 0.7)), "sqrt": 0.0}[stretch]
    vmin = float(rng.uniform(-2.0, 2.0)) / snr if rng.random() < 0.5 else 0.0
    vmax = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.5 else 1.0
    return dict(figure_stretch=stretch, figure_softening=softening, figure_vmin=vmin, figure_vmax=vmax,
                figure_bits=8 if rng.random() < 0.5 else 0)


def sample_dsharp_params(rng: np.random.Generator, n_planets: int, size: int = 129) -> DiskParams:
    """A DSHARP-like disk with `n_planets` (0-3) planets framed for a `size`-pixel image (see the module text)."""
    if not 0 <= n_planets <= 3:
        raise ValueError(f"The number of planets must be between 0 and 3; got {n_planets}.")
    morphology = MORPHOLOGIES[int(rng.choice(len(MORPHOLOGIES), p=MORPHOLOGY_WEIGHTS))]
    if morphology == "exxa":
        return sample_disk_params(rng, n_planets, size)
    view, radius, beam_au = _observation(rng, size)
    disk = _disk(rng, radius, beam_au)
    draw = {"multi-ring": _multi_ring, "spiral": _spiral, "crescent": _crescent}[morphology]
    shape = draw(rng, radius, beam_au, disk["optical_depth_at_rc"])
    shape.update(_planets_in_gaps(rng, shape, n_planets, disk["stellar_mass_msun"], radius))
    return DiskParams(**(view | disk | shape), morphology=morphology)  # shape may override the disk (spirals: thinner)


def _observation(rng: np.random.Generator, size: int) -> tuple[dict, float, float]:
    """(observation fields, disk radius au, beam FWHM au): beam 0.03-0.05" over 2-5 px frames the field."""
    distance = float(rng.uniform(100.0, 200.0))
    beam = float(rng.uniform(*BEAM_ARCSEC))
    pixel = beam / _loguniform(rng, *BEAM_PX)
    radius = 0.5 * float(rng.uniform(0.45, 0.95)) * size * pixel * distance
    view = dict(
        inclination_deg=0.0 if rng.random() < 0.25 else float(rng.uniform(5.0, 75.0)),
        position_angle_deg=float(rng.uniform(0.0, 360.0)), distance_pc=distance, pixel_scale_arcsec=pixel,
        beam_fwhm_arcsec=beam, beam_minor_fwhm_arcsec=beam * float(rng.uniform(0.75, 1.0)),
        beam_pa_deg=float(rng.uniform(0.0, 180.0)), snr=_loguniform(rng, 50.0, 2000.0),
        clean_residual=float(rng.uniform(0.002, 0.01)) if rng.random() < 0.2 else 0.0)
    return view, radius, beam * distance


def _disk(rng: np.random.Generator, radius: float, beam_au: float) -> dict:
    """The smooth disk and the gas: star, taper, temperatures, optical depth, viscosity."""
    return dict(stellar_mass_msun=float(rng.uniform(0.3, 2.5)), critical_radius_au=radius / float(rng.uniform(1.3, 2.2)),
                outer_radius_au=radius, surface_density_index=float(rng.uniform(0.3, 1.2)),
                temperature_index=float(rng.uniform(0.4, 0.6)), optical_depth_at_rc=_loguniform(rng, 0.1, 1.5),
                temperature_floor_au=max(1.0, 0.01 * radius), aspect_ratio=float(rng.uniform(0.05, 0.1)),
                alpha_viscosity=_loguniform(rng, 1e-4, 1e-2), spiral_contrast=0.0, ring_contrast=0.0)


def ring_radii(rng: np.random.Generator, n: int, lo: float, hi: float, min_sep: float) -> list[float]:
    """Up to `n` sorted radii in [lo, hi], neighbours at least `min_sep` apart (fewer when they do not fit)."""
    n = max(1, min(n, int((hi - lo) // min_sep) + 1))
    if n == 1:
        return [float(rng.uniform(lo, hi))]
    spare = (hi - lo) - (n - 1) * min_sep
    cuts = np.sort(rng.uniform(0.0, spare, n))  # n cuts of the spare room: the start and n - 1 extras
    return [float(lo + cuts[k] + k * min_sep) for k in range(n)]


def _rings(rng: np.random.Generator, radii: list[float], beam_au: float) -> dict:
    """Gaussian rings at `radii`: FWHM from 0.7 beam to 0.45 of the room to a neighbour; heights 0.3-3."""
    widths = []
    for k, r in enumerate(radii):
        room = min([abs(r - q) for j, q in enumerate(radii) if j != k] + [r])
        widths.append(_loguniform(rng, 0.7 * beam_au, max(0.9 * beam_au, 0.45 * room)) * FWHM_TO_SIGMA)
    return dict(ring_radii_au=radii, ring_widths_au=widths, ring_amplitudes=[_loguniform(rng, 0.3, 3.0) for _ in radii])


def _gaps_between(rng: np.random.Generator, radii: list[float], inner: float) -> dict:
    """A gap inside each ring (between it and the one before, or `inner`), floors from 0.95 (shallow) to 0.02."""
    edges = [inner, *radii]
    centres = [0.5 * (a + b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    widths = [float(rng.uniform(0.12, 0.25)) * (b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    keep = [k for k, w in enumerate(widths) if w > 0]
    return dict(gap_radii_au=[centres[k] for k in keep], gap_widths_au=[widths[k] for k in keep],
                gap_depths=[1.0 - _loguniform(rng, 0.05, 0.98) for _ in keep])


def _inner_disk(rng: np.random.Generator, beam_au: float, room: float, share: float, tau_c: float, tau: tuple) -> dict:
    """With probability `share`: a compact inner disk of Gaussian sigma 0.2-0.6 beam (at most a third of `room`)
    whose central optical depth is log-uniform in `tau` (thick: the bright core of most DSHARP disks)."""
    if rng.random() >= share:
        return {}
    return dict(inner_disk_radius_au=min(float(rng.uniform(0.2, 0.6)) * beam_au, room / 3.0),
                inner_disk_amplitude=_loguniform(rng, *tau) / tau_c)


def _multi_ring(rng: np.random.Generator, radius: float, beam_au: float, tau_c: float) -> dict:
    """1-8 rings with gaps between, a faint or full smooth disk, a small cavity or one out to the first gap."""
    lo = max(0.08 * radius, 1.5 * beam_au)
    radii = ring_radii(rng, int(rng.integers(1, MAX_RINGS + 1)), lo, 0.92 * radius, float(rng.uniform(1.8, 3.0)) * beam_au)
    shape = _rings(rng, radii, beam_au) | _gaps_between(rng, radii, 0.5 * lo)
    faint = rng.random() < 0.7
    cavity = float(rng.uniform(0.3, 0.8)) * radii[0] if rng.random() < 0.4 else float(rng.uniform(0.5, 2.0))
    shape.update(smooth_fraction=float(rng.uniform(0.02, 0.3)) if faint else float(rng.uniform(0.6, 1.0)),
                 cavity_radius_au=cavity, cavity_depth=float(rng.uniform(0.0, 0.2)))
    return shape | _inner_disk(rng, beam_au, radii[0], 0.8, tau_c, (0.5, 10.0))


def _spiral(rng: np.random.Generator, radius: float, beam_au: float, tau_c: float) -> dict:
    """A smooth, optically thin-ish disk (tau(r_c) at most 0.4) with an m = 2 logarithmic spiral of contrast 1-6,
    sometimes 1-2 shallow gaps and an inner disk."""
    shape = dict(spiral_arms=2, spiral_pitch_deg=float(rng.uniform(8.0, 30.0)) * float(rng.choice([-1.0, 1.0])),
                 spiral_arm_contrast=_loguniform(rng, 1.0, 6.0), optical_depth_at_rc=min(tau_c, 0.4), spiral_phase_deg=float(rng.uniform(0.0, 360.0)),
                 spiral_arm_width_au=max(0.4 * beam_au, float(rng.uniform(0.02, 0.06)) * radius),
                 spiral_inner_au=float(rng.uniform(0.1, 0.35)) * radius, spiral_outer_au=float(rng.uniform(0.75, 1.0)) * radius,
                 smooth_fraction=1.0, cavity_radius_au=float(rng.uniform(0.5, 2.0)), cavity_depth=0.0,
                 ring_radii_au=[], ring_widths_au=[], ring_amplitudes=[])
    if rng.random() < 0.5:
        gaps = ring_radii(rng, int(rng.integers(1, 3)), 0.3 * radius, 0.9 * radius, 3.0 * beam_au)
        shape.update(gap_radii_au=gaps, gap_widths_au=[float(rng.uniform(0.4, 1.0)) * beam_au for _ in gaps],
                     gap_depths=[float(rng.uniform(0.3, 0.9)) for _ in gaps])
    return shape | _inner_disk(rng, beam_au, shape["spiral_inner_au"], 0.7, shape["optical_depth_at_rc"], (0.3, 5.0))


def _crescent(rng: np.random.Generator, radius: float, beam_au: float, tau_c: float) -> dict:
    """A cavity with a ring at its edge and a crescent on it (or, with further rings, an arc outside them); the rings
    thin (optical depth at most 0.5), the crescent 2-20 times their surface density."""
    cavity = float(rng.uniform(0.25, 0.55)) * radius
    radii = [cavity * float(rng.uniform(1.1, 1.3))]
    if rng.random() < 0.4:
        radii = ring_radii(rng, int(rng.integers(2, 4)), radii[0], 0.9 * radius, 3.0 * beam_au)
    shape = _rings(rng, radii, beam_au) | _gaps_between(rng, radii[1:], radii[0]) if len(radii) > 1 else _rings(rng, radii, beam_au)
    shape["ring_amplitudes"] = [min(a, 0.5 / tau_c) for a in shape["ring_amplitudes"]]
    host = len(radii) - 1 if len(radii) > 1 and rng.random() < 0.5 else 0
    shape.update(cavity_radius_au=cavity, cavity_depth=float(rng.uniform(0.0, 0.05)), smooth_fraction=float(rng.uniform(0.0, 0.3)),
                 crescent_radius_au=radii[host], crescent_width_au=shape["ring_widths_au"][host] * float(rng.uniform(1.0, 2.0)),
                 crescent_azimuth_deg=float(rng.uniform(0.0, 360.0)), crescent_extent_deg=float(rng.uniform(20.0, 70.0)),
                 crescent_amplitude=shape["ring_amplitudes"][host] * _loguniform(rng, 2.0, 20.0))
    return shape | _inner_disk(rng, beam_au, cavity, 0.6, tau_c, (0.1, 3.0))


def _planets_in_gaps(rng: np.random.Generator, shape: dict, n: int, m_star: float, radius: float) -> dict:
    """`n` planets carving gaps: each takes a free gap (its radius; its mass from the gap's FWHM in Hill radii,
    its floor then Kanagawa's), or without free gaps left, 0.05-1 Jupiter masses at 0.25-0.9 of the disk radius."""
    gaps = list(zip(shape.get("gap_radii_au", []), shape.get("gap_widths_au", []), shape.get("gap_depths", []), strict=True))
    carved = [int(k) for k in rng.permutation(len(gaps))][:n]  # the gaps planets carve
    radii, masses = [], []
    width_hill = float(rng.uniform(4.0, 7.0))
    for j in range(n):
        if j < len(carved):
            r, w, _ = gaps[carved[j]]
            hill = w / FWHM_TO_SIGMA / width_hill
            mass = 3.0 * (hill / r) ** 3 * m_star / MJUP_IN_MSUN
        else:
            r, mass = float(rng.uniform(0.25, 0.9)) * radius, _loguniform(rng, 0.05, 1.0)
        radii.append(float(r))
        masses.append(float(np.clip(mass, 0.01, 10.0)))
    order = np.argsort(radii)
    out = dict(planet_radii_au=[radii[k] for k in order], planet_masses_mjup=[masses[k] for k in order],
               planet_azimuths_deg=[float(a) for a in rng.uniform(0.0, 360.0, n)], gap_width_hill=width_hill)
    free = [g for k, g in enumerate(gaps) if k not in carved]
    out.update(gap_radii_au=[g[0] for g in free], gap_widths_au=[g[1] for g in free], gap_depths=[g[2] for g in free])
    return out


def planet_gap_floor(params: DiskParams, k: int) -> float:
    """Kanagawa's gap floor of planet k of `params`."""
    return kanagawa_gap_depth(params.planet_masses_mjup[k], params.stellar_mass_msun, params.aspect_ratio, params.alpha_viscosity)


def beam_fwhm_px(params: DiskParams) -> float:
    return params.beam_fwhm_arcsec / params.pixel_scale_arcsec


def describe(params: DiskParams) -> str:
    """One line: morphology, rings, gaps, planets, beam in px, inclination."""
    n_gaps = len(params.gap_radii_au) + params.n_planets
    return (f"{params.morphology}: {len(params.ring_radii_au)} rings, {n_gaps} gaps ({params.n_planets} planets), "
            f"inner disk {'yes' if params.inner_disk_amplitude > 0 else 'no'}, beam {beam_fwhm_px(params):.1f} px, "
            f"i = {params.inclination_deg:.0f} deg" + (f", {params.figure_stretch} figure" if params.figure_stretch else ""))

