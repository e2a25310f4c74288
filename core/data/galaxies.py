"""Procedural galaxy morphologies: noiseless surface-brightness maps like real galaxies, at any pixel scale.

`sample(kind, rng, r_e=None)` draws one galaxy of a kind in KINDS (its size `r_e`, the main body's
half-light radius in arcsec, drawn when None); the result is a `Galaxy`, a sum of analytic parts with
total flux 1 (before dust), centred on (0, 0):
- `galaxy.surface_brightness(xs, ys)`: flux per arcsec^2 on the grid of 1-D coordinates xs (columns)
  and ys (rows), in arcsec; what lenstronomy's "INTERPOL" light profile takes as `image` (with
  `scale` the grid step);
- `galaxy.image(n, pixel_scale)`: flux per pixel on an (n, n) stamp, sub-pixel integrated, summing to
  1 when the stamp holds the galaxy (`galaxy.extent`).

Kinds (each a small function below):
- elliptical: Sérsic n 3-6, boxy or disky isophotes (generalised ellipse |u|^c + |v/q|^c, c 1.6-2.5),
  an isophote twist of a few degrees per e-fold in radius, sometimes a faint extended envelope;
- spiral: exponential disk + Sérsic bulge (B/T 0.05-0.5), 2-4 logarithmic arms (pitch 10-35 deg),
  sometimes a bar, clumpy HII regions along the arms, any inclination;
- edge_on: a thin disk seen at 80-90 deg with a bulge and a dust lane (multiplicative attenuation);
- irregular: clumpy star-forming galaxy (offset diffuse components + bright clumps, chain or clump cluster);
- merger: two galaxies with curved tidal tails (chains of knots), sometimes a bridge;
- ring: collisional (off-centre nucleus, clumpy, sometimes incomplete ring) or resonant (bulge + ring);
- shells: an elliptical with sharp-edged shells and a curved tidal stream (arc-like, lens impostors);
- companions: an elliptical with 1-3 small satellites, some elongated tangentially like arcs;
- compact: a small smooth Sérsic (distant field galaxy or compact source).
SOURCE_KINDS are the morphologies used as lensed background sources.

Coordinates: x grows with the column, y with the row (lenstronomy's convention). Each part is
normalised analytically (Sérsic with generalised-ellipse area, Gaussians, rings), so pixel scale and
field do not change a galaxy's flux or size. Everything is drawn from the `rng` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf, gammainc, gammaincinv, gammaln

KINDS = ("elliptical", "spiral", "edge_on", "irregular", "merger", "ring", "shells", "companions", "compact")
SOURCE_KINDS = ("irregular", "spiral", "compact", "merger")  # lensed sources: star-forming, clumpy, a few smooth


@dataclass
class Galaxy:
    """A galaxy as analytic parts (dicts with "type" sersic | gauss | ring and "flux", fractions summing to 1)
    and optional dust lanes (multiplicative). Lengths in arcsec, angles in radians."""

    kind: str
    parts: list[dict]
    dust: list[dict] = field(default_factory=list)

    @property
    def extent(self) -> float:
        """Radius (arcsec) holding ~99 % of the light of every part."""
        return max(float(np.hypot(p["x0"], p["y0"])) + _reach(p) for p in self.parts)

    def surface_brightness(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Flux per arcsec^2 (total flux 1) on the grid ys (rows) x xs (columns), float64."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        out = np.zeros((ys.size, xs.size))
        for p in self.parts:
            _add_part(out, xs, ys, p)
        for d in self.dust:
            out *= _dust(xs, ys, d)
        return out

    def image(self, n: int, pixel_scale: float, supersample: int = 3, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Flux per pixel on an (n, n) stamp of `pixel_scale` arcsec pixels whose centre is at `center`
        (galaxy coordinates), each pixel the mean of supersample^2 sub-pixels."""
        s = int(supersample)
        fine = (np.arange(n * s) - (n * s - 1) / 2) * pixel_scale / s
        sb = self.surface_brightness(fine + center[0], fine + center[1])
        return sb.reshape(n, s, n, s).mean(axis=(1, 3)) * pixel_scale**2

    def shifted(self, dx: float, dy: float) -> Galaxy:
        """The same galaxy with its centre at (dx, dy)."""
        move = lambda d: {**d, "x0": d["x0"] + dx, "y0": d["y0"] + dy}  # noqa: E731
        return Galaxy(self.kind, [move(p) for p in self.parts], [move(d) for d in self.dust])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "n_parts": len(self.parts), "extent_arcsec": round(self.extent, 4),
                "main": {k: v for k, v in self.parts[0].items() if k != "type"}}


# ---------------------------------------------------------------------------- parts


def _b(n: float) -> float:
    return float(gammaincinv(2 * n, 0.5))


def _reach(p: dict) -> float:
    if p["type"] == "sersic":
        return p["r_e"] * (gammaincinv(2 * p["n"], 0.99) / _b(p["n"])) ** p["n"] / min(p["q"], 1.0) ** 0.5
    if p["type"] == "gauss":
        return 4.0 * p["sigma"]
    return p["radius"] + 4.0 * p["w_out"]


def _frame(xs, ys, p, pa=None):
    """Coordinates along (u) and across (v) the part's major axis, as (rows, columns) arrays."""
    dx, dy = xs[None, :] - p["x0"], ys[:, None] - p["y0"]
    a = p["pa"] if pa is None else pa
    return dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)


def _window(xs, ys, p) -> tuple[slice, slice]:
    r = _reach(p)
    cols = slice(*np.searchsorted(xs, [p["x0"] - r, p["x0"] + r]))
    rows = slice(*np.searchsorted(ys, [p["y0"] - r, p["y0"] + r]))
    return rows, cols


def _add_part(out, xs, ys, p) -> None:
    rows, cols = _window(xs, ys, p)
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    out[rows, cols] += {"sersic": _sersic, "gauss": _gauss, "ring": _ring}[p["type"]](xs[cols], ys[rows], p)


def _sersic(xs, ys, p) -> np.ndarray:
    """Sérsic on the grid, each sample within a few steps of the centre averaged over 8 x 8 sub-samples
    (a steep n > 2 core is a cusp that point samples get wrong by several per cent of the flux)."""
    step = min(_step(xs), _step(ys)) or 1e-3
    sb = _sersic_at(xs[None, :], ys[:, None], p, step)
    near = 3.0 * step / np.sqrt(p["q"])
    cols = np.flatnonzero(np.abs(xs - p["x0"]) < near)
    rows = np.flatnonzero(np.abs(ys - p["y0"]) < near)
    if cols.size and rows.size:
        k = 8
        off = (np.arange(k) - (k - 1) / 2) * step / k
        x = xs[cols][None, :, None, None] + off[None, None, None, :]
        y = ys[rows][:, None, None, None] + off[None, None, :, None]
        sb[np.ix_(rows, cols)] = _sersic_at(x, y, p, step / k).mean(axis=(2, 3))
    return sb


def _sersic_at(x, y, p, step) -> np.ndarray:
    """Sérsic surface brightness at points (x, y) (arrays that broadcast) on generalised ellipses (exponent c),
    an isophote twist (radians per e-fold in radius) and optional logarithmic arms; normalised to p["flux"]
    analytically (twist and arms keep the flux). Within one sample's area (`step`) of the centre: the mean there."""
    n, q, c, r_e = p["n"], p["q"], p.get("c", 2.0), p["r_e"]
    dx, dy = x - p["x0"], y - p["y0"]
    pa = p["pa"]
    if p.get("twist"):
        pa = pa + p["twist"] * np.log(np.maximum(np.hypot(dx, dy), 0.05 * r_e) / r_e)
    u, w = dx * np.cos(pa) + dy * np.sin(pa), (-dx * np.sin(pa) + dy * np.cos(pa)) / q
    r = np.hypot(u, w) if c == 2.0 else (np.abs(u) ** c + np.abs(w) ** c) ** (1.0 / c)
    b = _b(n)
    area = 4.0 * q * np.exp(2 * gammaln(1 + 1 / c) - gammaln(1 + 2 / c))  # of the unit generalised ellipse
    log_norm = np.log(p["flux"]) - np.log(area * r_e**2 * 2 * n) - gammaln(2 * n) + 2 * n * np.log(b)
    sb = np.exp(log_norm - b * (r / r_e) ** (1.0 / n))
    rho = step / np.sqrt(area)
    inner = r < rho
    if inner.any():
        sb[inner] = p["flux"] * float(gammainc(2 * n, b * (rho / r_e) ** (1.0 / n))) / (area * rho * rho)
    arms = p.get("arms")
    if arms:
        theta = np.arctan2(w, u)
        phase = arms["m"] * (theta - np.log(np.maximum(r, 1e-3) / r_e) / np.tan(arms["pitch"])) - arms["phase"]
        k = arms["k"]
        mean = np.exp(gammaln(k + 0.5) - gammaln(k + 1)) / np.sqrt(np.pi)  # mean of ((1 + cos)/2)^k
        wave = ((1 + np.cos(phase)) / 2) ** k / mean
        fade = 1 - np.exp(-((r / (0.5 * r_e)) ** 2))  # no arms in the centre
        sb = sb * (1 + arms["amp"] * fade * (wave - 1))
    return sb


def _step(coords: np.ndarray) -> float:
    return float(abs(coords[1] - coords[0])) if coords.size > 1 else 0.0


def _gauss(xs, ys, p) -> np.ndarray:
    u, v = _frame(xs, ys, p)
    s, q = p["sigma"], p.get("q", 1.0)
    return p["flux"] / (2 * np.pi * s * s * q) * np.exp(-0.5 * (u * u + (v / q) ** 2) / (s * s))


def _ring(xs, ys, p) -> np.ndarray:
    """A ring (or shell: a sharp outer edge, w_out < w_in) of radius R in its plane, seen with axis ratio q,
    optionally only an arc (angular Gaussian window of width `span` around `phi`)."""
    u, v = _frame(xs, ys, p)
    w = v / p["q"]
    r = np.hypot(u, w)
    R, wi, wo = p["radius"], p["w_in"], p["w_out"]
    d = r - R
    prof = np.exp(-0.5 * (d / np.where(d < 0, wi, wo)) ** 2)
    radial = R * np.sqrt(np.pi / 2) * (wi + wo) + (wo * wo - wi * wi)  # integral of prof(r) r dr
    span = p.get("span")
    if span:
        dth = np.angle(np.exp(1j * (np.arctan2(w, u) - p["phi"])))
        prof = prof * np.exp(-0.5 * (dth / span) ** 2)
        angular = span * np.sqrt(2 * np.pi) * erf(np.pi / (span * np.sqrt(2)))
    else:
        angular = 2 * np.pi
    return p["flux"] / (p["q"] * radial * angular) * prof


def _dust(xs, ys, d) -> np.ndarray:
    """Transmission of a dust lane: optical depth tau across a band of half-width h along the major axis."""
    u, v = _frame(xs, ys, d)
    return np.exp(-d["tau"] * np.exp(-0.5 * ((v - d["v0"]) / d["h"]) ** 2) * np.exp(-((u / d["length"]) ** 2)))


# ---------------------------------------------------------------------------- building blocks


def _rot(x, y, a):
    return x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)


def _sersic_part(flux, r_e, n, q, pa, x0=0.0, y0=0.0, **extra) -> dict:
    return {"type": "sersic", "flux": flux, "r_e": r_e, "n": n, "q": q, "pa": pa, "x0": x0, "y0": y0, **extra}


def _clump(flux, sigma, x0, y0, q=1.0, pa=0.0) -> dict:
    return {"type": "gauss", "flux": flux, "sigma": sigma, "q": q, "pa": pa, "x0": x0, "y0": y0}


def _normalised(kind: str, parts: list[dict], dust: list[dict] | None = None) -> Galaxy:
    total = sum(p["flux"] for p in parts)
    return Galaxy(kind, [{**p, "flux": p["flux"] / total} for p in parts], dust or [])


def _knots(rng, flux, n, x, y, sigma_range, spread=0.0) -> list[dict]:
    """n clumps at (x, y) points (arrays, cycled), jittered by `spread` arcsec, lognormal fluxes summing to `flux`."""
    f = rng.lognormal(0.0, 0.7, n)
    f = flux * f / f.sum()
    idx = rng.integers(0, len(x), n)
    jx, jy = rng.normal(0, spread, n), rng.normal(0, spread, n)
    return [_clump(float(f[i]), float(rng.uniform(*sigma_range)), float(x[idx[i]] + jx[i]), float(y[idx[i]] + jy[i]))
            for i in range(n)]


def _tail(rng, flux, start, direction, length, curl, width) -> list[dict]:
    """A curved tidal tail: a chain of widening, fading knots from `start` along `direction` (rad), bending by `curl`."""
    k = int(max(8, length / max(width, 1e-3) * 1.5))
    t = np.linspace(0.0, 1.0, k)
    ang = direction + curl * t
    step = length / k
    x = start[0] + np.cumsum(step * np.cos(ang))
    y = start[1] + np.cumsum(step * np.sin(ang))
    f = np.exp(-2.0 * t) * rng.uniform(0.5, 1.5, k)
    f = flux * f / f.sum()
    return [_clump(float(f[i]), float(width * (0.6 + t[i])), float(x[i]), float(y[i])) for i in range(k)]


def _inclined_q(rng, cos_range=(0.15, 1.0), thickness=0.12) -> tuple[float, float]:
    """(apparent axis ratio, cos i) of a disk of intrinsic thickness `thickness`, cos i uniform (random orientation)."""
    ci = float(rng.uniform(*cos_range))
    return float(np.sqrt(ci * ci + thickness**2 * (1 - ci * ci))), ci


# ---------------------------------------------------------------------------- kinds


def elliptical(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.4, 1.6)) if r_e is None else r_e
    pa = float(rng.uniform(0, np.pi))
    main = _sersic_part(1.0, r_e, float(rng.uniform(3.0, 6.0)), float(rng.uniform(0.55, 1.0)), pa,
                        c=float(2.0 + rng.uniform(-0.4, 0.5)), twist=float(rng.normal(0, 0.06)))
    parts = [main]
    if rng.uniform() < 0.25:  # faint extended envelope, slightly misaligned
        parts.append(_sersic_part(float(rng.uniform(0.08, 0.25)), r_e * float(rng.uniform(2.5, 4.0)), float(rng.uniform(1.0, 2.0)),
                                  float(rng.uniform(0.6, 1.0)), pa + float(rng.normal(0, 0.15))))
    return _normalised("elliptical", parts)


def _disk_parts(rng, r_e, q, pa, ci, arms=True) -> list[dict]:
    """Bulge, exponential disk with arms, optional bar, HII clumps along the arms (in the sky frame)."""
    bt = float(rng.uniform(0.05, 0.5))
    m = int(rng.choice([2, 2, 2, 3, 4]))
    pitch = float(np.deg2rad(rng.uniform(10, 35)))
    phase = float(rng.uniform(0, 2 * np.pi))
    spec = {"m": m, "pitch": pitch, "phase": phase, "amp": float(rng.uniform(0.3, 0.85)), "k": float(rng.uniform(2, 6))} if arms else None
    parts = [_sersic_part(bt, r_e * float(rng.uniform(0.1, 0.3)), float(rng.uniform(1.5, 4.0)), float(min(1.0, q + rng.uniform(0.2, 0.5))), pa),
             _sersic_part(1 - bt, r_e, 1.0, q, pa, arms=spec)]
    if rng.uniform() < 0.3:  # bar
        parts.append(_sersic_part(float(rng.uniform(0.05, 0.15)), r_e * float(rng.uniform(0.3, 0.6)), 0.5, 0.3, pa + float(rng.uniform(0, np.pi))))
    if spec:  # HII regions on the arms: points (r, theta) in the disk plane, projected
        k = int(rng.integers(6, 40))
        r = r_e * rng.gamma(2.0, 0.5, 200)
        arm = rng.integers(0, m, 200)
        theta = (np.log(np.maximum(r, 1e-3) / r_e) / np.tan(pitch)) + (phase + 2 * np.pi * arm) / m
        u, v = r * np.cos(theta), r * np.sin(theta) * q
        x, y = _rot(u, v, pa)
        parts += _knots(rng, float(rng.uniform(0.04, 0.2)) * (1 - bt), k, x, y, (0.015, 0.06 * r_e + 0.015), 0.03 * r_e)
    return parts


def spiral(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.5, 2.0)) if r_e is None else r_e
    q, ci = _inclined_q(rng, (0.2, 1.0))
    return _normalised("spiral", _disk_parts(rng, r_e, q, float(rng.uniform(0, np.pi)), ci))


def edge_on(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.6, 2.0)) if r_e is None else r_e
    pa = float(rng.uniform(0, np.pi))
    q = float(rng.uniform(0.08, 0.22))
    bt = float(rng.uniform(0.0, 0.4))
    parts = [_sersic_part(1 - bt, r_e, float(rng.uniform(0.8, 1.2)), q, pa)]
    if bt > 0.02:
        parts.append(_sersic_part(bt, r_e * float(rng.uniform(0.15, 0.35)), float(rng.uniform(1.5, 4.0)), float(rng.uniform(0.55, 0.9)), pa))
    u = rng.normal(0, 0.6 * r_e, 30)
    x, y = _rot(u, rng.normal(0, 0.3 * q * r_e, 30), pa)
    parts += _knots(rng, float(rng.uniform(0.0, 0.08)), int(rng.integers(2, 12)), x, y, (0.015, 0.05))
    dust = [{"tau": float(rng.uniform(0.5, 2.5)), "h": float(max(0.015, q * r_e * rng.uniform(0.15, 0.35))),
             "v0": float(rng.normal(0, 0.15 * q * r_e)), "length": float(r_e * rng.uniform(1.0, 2.0)), "pa": pa, "x0": 0.0, "y0": 0.0}]
    return _normalised("edge_on", parts, dust)


def irregular(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.2, 1.0)) if r_e is None else r_e
    pa = float(rng.uniform(0, np.pi))
    elong = float(rng.uniform(0.25, 1.0))  # chain (elongated) to clump cluster (round)
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        x, y = _rot(rng.normal(0, 0.4 * r_e), rng.normal(0, 0.4 * r_e * elong), pa)
        parts.append(_sersic_part(float(rng.uniform(0.3, 1.0)), r_e * float(rng.uniform(0.5, 1.2)), float(rng.uniform(0.5, 1.2)),
                                  float(rng.uniform(0.3, 0.9)), pa + float(rng.normal(0, 0.4)), float(x), float(y)))
    diffuse = sum(p["flux"] for p in parts)
    frac = float(rng.uniform(0.25, 0.7))  # light in clumps
    k = int(rng.integers(3, 16))
    x, y = _rot(rng.normal(0, 0.7 * r_e, 64), rng.normal(0, 0.7 * r_e * elong, 64), pa)
    parts += _knots(rng, diffuse * frac / (1 - frac), k, x, y, (0.015, max(0.02, 0.15 * r_e)))
    return _normalised("irregular", parts)


def compact(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.05, 0.4)) if r_e is None else r_e
    return _normalised("compact", [_sersic_part(1.0, r_e, float(rng.uniform(0.8, 4.0)), float(rng.uniform(0.35, 1.0)),
                                                float(rng.uniform(0, np.pi)))])


def merger(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.4, 1.4)) if r_e is None else r_e
    a = float(rng.uniform(0, 2 * np.pi))
    sep = r_e * float(rng.uniform(0.8, 3.0))
    ratio = float(rng.uniform(1.0, 4.0))
    parts = []
    for i, (frac, size) in enumerate(((ratio / (1 + ratio), r_e), (1 / (1 + ratio), r_e * float(rng.uniform(0.5, 1.0))))):
        kind = str(rng.choice(["elliptical", "spiral", "irregular"]))
        g = sample(kind, rng, size)
        sign = -1 if i == 0 else 1
        dx, dy = sign * sep / 2 * np.cos(a) * (2 * (1 - frac)), sign * sep / 2 * np.sin(a) * (2 * (1 - frac))
        parts += [{**p, "flux": p["flux"] * frac * 0.85} for p in g.shifted(float(dx), float(dy)).parts]
        for _ in range(int(rng.integers(0, 2)) + (i == 0)):  # tidal tails, curling away
            start = (dx + sign * 0.5 * size * np.cos(a), dy + sign * 0.5 * size * np.sin(a))
            direction = a + (0 if sign > 0 else np.pi) + float(rng.normal(0, 0.6))
            parts += _tail(rng, 0.15 * frac * float(rng.uniform(0.3, 1.0)), start, direction, r_e * float(rng.uniform(2, 5)),
                           float(rng.choice([-1, 1]) * rng.uniform(0.8, 2.5)), max(0.03, 0.15 * r_e))
    if rng.uniform() < 0.4:  # bridge
        parts += _tail(rng, 0.04, (-sep / 2 * np.cos(a), -sep / 2 * np.sin(a)), a, sep, float(rng.normal(0, 0.3)), max(0.03, 0.12 * r_e))
    return _normalised("merger", parts)


def ring(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    r_e = float(rng.uniform(0.4, 1.4)) if r_e is None else r_e
    q, _ = _inclined_q(rng, (0.4, 1.0), 0.1)
    pa = float(rng.uniform(0, np.pi))
    radius = r_e * float(rng.uniform(1.0, 2.5))
    width = radius * float(rng.uniform(0.06, 0.2))
    if rng.uniform() < 0.5:  # collisional: off-centre nucleus, clumpy and sometimes incomplete ring
        nx, ny = _rot(radius * float(rng.uniform(0.1, 0.5)), 0.0, float(rng.uniform(0, 2 * np.pi)))
        span = float(rng.uniform(1.0, 2.5)) if rng.uniform() < 0.4 else None
        phi = float(rng.uniform(-np.pi, np.pi))
        parts = [_sersic_part(float(rng.uniform(0.15, 0.5)), r_e * 0.25, float(rng.uniform(1.0, 3.0)), float(rng.uniform(0.6, 1.0)), pa,
                              float(nx), float(ny) * q),
                 {"type": "ring", "flux": 0.5, "radius": radius, "w_in": width * 1.5, "w_out": width * 0.7, "q": q, "pa": pa,
                  "x0": 0.0, "y0": 0.0, "span": span, "phi": phi}]
        th = phi + (rng.normal(0, span, 60) if span else rng.uniform(0, 2 * np.pi, 60))
        x, y = _rot(radius * np.cos(th), radius * np.sin(th) * q, pa)
        parts += _knots(rng, float(rng.uniform(0.1, 0.4)), int(rng.integers(4, 20)), x, y, (0.02, max(0.025, width)), width * 0.3)
    else:  # resonant: bulge + faint disk + smooth ring
        parts = [_sersic_part(float(rng.uniform(0.3, 0.6)), r_e * float(rng.uniform(0.2, 0.5)), float(rng.uniform(2.0, 4.0)),
                              float(min(1.0, q + 0.2)), pa),
                 _sersic_part(float(rng.uniform(0.1, 0.3)), r_e * 1.5, 1.0, q, pa),
                 {"type": "ring", "flux": float(rng.uniform(0.2, 0.4)), "radius": radius, "w_in": width, "w_out": width, "q": q,
                  "pa": pa, "x0": 0.0, "y0": 0.0}]
    return _normalised("ring", parts)


def shells(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    """An elliptical with sharp-edged shells on alternating sides and sometimes a curved tidal stream."""
    host = elliptical(rng, r_e)
    r_e = host.parts[0]["r_e"]
    axis = float(rng.uniform(-np.pi, np.pi))
    parts = [{**p, "flux": p["flux"] * 0.9} for p in host.parts]
    for i in range(int(rng.integers(1, 5))):
        radius = r_e * float(rng.uniform(1.0, 4.0))
        parts.append({"type": "ring", "flux": 0.1 * float(rng.uniform(0.2, 1.0)), "radius": radius, "w_in": radius * float(rng.uniform(0.08, 0.2)),
                      "w_out": radius * 0.02 + 0.01, "q": float(rng.uniform(0.7, 1.0)), "pa": axis, "x0": 0.0, "y0": 0.0,
                      "span": float(rng.uniform(0.4, 1.0)), "phi": float(i % 2 * np.pi + rng.normal(0, 0.3))})
    if rng.uniform() < 0.5:
        a = float(rng.uniform(0, 2 * np.pi))
        start = (r_e * np.cos(a), r_e * np.sin(a))
        parts += _tail(rng, 0.05, start, a + np.pi / 2, r_e * float(rng.uniform(2, 4)), float(rng.choice([-1, 1]) * rng.uniform(1.0, 2.5)),
                       max(0.03, 0.1 * r_e))
    return _normalised("shells", parts)


def companions(rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    """An elliptical with 1-3 satellites at 1-3.5 r_e; some elongated tangentially (arc-like), some clumpy."""
    host = elliptical(rng, r_e)
    r_e = host.parts[0]["r_e"]
    parts = list(host.parts)
    for _ in range(int(rng.integers(1, 4))):
        d, a = r_e * float(rng.uniform(1.0, 3.5)), float(rng.uniform(0, 2 * np.pi))
        size = float(rng.uniform(0.05, 0.35))
        flux = float(rng.uniform(0.01, 0.2))
        if rng.uniform() < 0.4:  # elongated across the line to the host: looks like an arclet
            parts.append(_sersic_part(flux, size, float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.2, 0.45)), a + np.pi / 2,
                                      d * np.cos(a), d * np.sin(a)))
        else:
            g = sample(str(rng.choice(["compact", "irregular", "spiral"])), rng, size)
            parts += [{**p, "flux": p["flux"] * flux} for p in g.shifted(d * np.cos(a), d * np.sin(a)).parts]
    return _normalised("companions", parts)


SAMPLERS = {"elliptical": elliptical, "spiral": spiral, "edge_on": edge_on, "irregular": irregular, "merger": merger,
            "ring": ring, "shells": shells, "companions": companions, "compact": compact}


def sample(kind: str, rng: np.random.Generator, r_e: float | None = None) -> Galaxy:
    """One galaxy of `kind` (KINDS), main-body half-light radius `r_e` arcsec (drawn when None), flux 1."""
    if kind not in SAMPLERS:
        raise ValueError(f"Unknown galaxy kind {kind!r}; choose one of {', '.join(KINDS)}.")
    return SAMPLERS[kind](rng, r_e)


def half_light_radius(image: np.ndarray, pixel_scale: float, total: float | None = None) -> float:
    """Radius (arcsec, circular, about the stamp centre) holding half of `total` (default: the stamp's sum)."""
    n = image.shape[0]
    c = (np.arange(n) - (n - 1) / 2) * pixel_scale
    r = np.hypot(c[None, :], c[:, None]).ravel()
    order = np.argsort(r)
    cum = np.cumsum(image.ravel()[order])
    half = 0.5 * (cum[-1] if total is None else total)
    return float(np.interp(half, cum, r[order]))


def sersic_fraction(n: float, radius_over_re: float) -> float:
    """Fraction of a Sérsic profile's light inside radius_over_re half-light radii (for tests and checks)."""
    return float(gammainc(2 * n, _b(n) * radius_over_re ** (1.0 / n)))
