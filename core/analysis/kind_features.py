"""What an image's pixels say about its kind: a dozen rotation-invariant numbers (core.analysis.kind fits on them).

`features(image)` -> {name: value}. The image is taken as it is (any size, any units); NaN / Inf pixels and
large areas of one constant value (a masked map's fill) count as empty. Three groups:

- on the image's own pixels:
  - `antisymmetry`: correlation of (value - median) with itself turned by 180 degrees about the centre of
    |value - median|: -1 for the signed dipole of a rotating disk's velocity (moment-1) map, positive for
    any light distribution;
  - `noise_smoothness`: lag-1 autocorrelation of the noise (the image minus a 2-px blur, off the source):
    near 1 when a radio beam spans several pixels, near 0 for an optical image's pixel-to-pixel noise,
    NO_NOISE when there is no measurable noise (a noiseless simulation or model image says nothing);
- on a 64-px grid centred on the source and spanning 1.6 times the radius holding 90 % of its light,
  after an elliptical model (the median light on ellipses of the source's axis ratio) is fitted:
  - `concentration`: log(r80 / r20) of the light; `axis_ratio`;
  - `cavity`: how far the centre falls below the profile's peak (rings and transition disks);
  - `ring`: the largest rise of the profile after a dip (a ring outside a gap or outside a galaxy);
  - `residual`: the light the elliptical model leaves (arcs, arms, clumps, companions), per unit light;
  - `arcs`: the share of that residual light in pieces stretched tangentially around the centre (arcs);
  - `balance`: how evenly the residual pieces surround the centre (a ring or images on opposite sides
    near 1, one companion near 0);
  - `asymmetry`: the light minus itself turned by 180 degrees (Conselice's A), `clumpiness` (S) and `gini`;
  - `ridges`: the share of the ridge-like curvature in ridges running tangentially around the centre (arcs,
    rings), and `ridge_spread`, their spread in radius (arcs at one Einstein radius: small; spiral arms: large).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GRID = 64  # side of the analysis grid
SPAN = 1.6  # the grid spans SPAN x r90 on either side of the centre
FEATURES = ("antisymmetry", "noise_smoothness", "concentration", "axis_ratio", "cavity", "ring",
            "residual", "arcs", "balance", "asymmetry", "clumpiness", "gini", "ridges", "ridge_spread")
NO_NOISE = 0.4  # noise_smoothness of an image without measurable noise: between optical (~0) and radio (~0.8)
NOISELESS = 1e-4  # noise below this fraction of the image's range counts as none
MAX_NATIVE = 512  # larger images: the central MAX_NATIVE pixels for the native-pixel features


def _fill_mask(x: np.ndarray) -> np.ndarray:
    """Pixels that are not data: NaN / Inf, and a constant value covering over 3 % of the image (a masked map's fill)."""
    bad = ~np.isfinite(x)
    finite = x[~bad]
    if finite.size:
        values, counts = np.unique(finite, return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] > 0.03 * x.size:
            bad |= x == values[k]
    return bad


def _robust_sigma(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 4:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def _border(shape: tuple[int, int], width: float = 0.1) -> np.ndarray:
    h, w = shape
    k = max(2, int(round(width * min(h, w))))
    mask = np.ones(shape, bool)
    mask[k:h - k, k:w - k] = False
    return mask


def _centre_crop(x: np.ndarray, side: int) -> np.ndarray:
    h, w = x.shape
    r0, c0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return x[r0:r0 + side, c0:c0 + side]


def antisymmetry(x: np.ndarray, empty: np.ndarray) -> float:
    """Correlation of (value - median), blurred by 2 px, with itself turned by 180 degrees about the centre of
    |value - median|."""
    valid = ~empty
    if valid.sum() < 16:
        return 0.0
    s = np.where(valid, x - np.median(x[valid]), 0.0)
    weight = ndimage.gaussian_filter(valid.astype(float), 2.0)
    s = np.where(valid, ndimage.gaussian_filter(s, 2.0) / np.maximum(weight, 1e-6), 0.0)  # pixel noise averages out
    w = np.abs(s)
    total = w.sum()
    if not total > 0:
        return 0.0
    rows, cols = np.indices(x.shape)
    cy, cx = float((w * rows).sum() / total), float((w * cols).sum() / total)
    shift = ((x.shape[0] - 1) / 2 - cy, (x.shape[1] - 1) / 2 - cx)
    s_c = ndimage.shift(s, shift, order=1, mode="constant")
    v_c = ndimage.shift(valid.astype(float), shift, order=1, mode="constant") > 0.99
    both = v_c & v_c[::-1, ::-1]
    den = float((s_c[both] ** 2).sum())
    return float((s_c[both] * s_c[::-1, ::-1][both]).sum() / den) if den > 0 else 0.0


def noise_smoothness(x: np.ndarray, empty: np.ndarray) -> float:
    """Lag-1 autocorrelation (mean of both axes) of the high-passed image off the source; NO_NOISE without noise."""
    valid = ~empty
    base = np.where(empty, np.median(x[valid]), x)
    hp = base - ndimage.gaussian_filter(base, 2.0)
    smooth = ndimage.gaussian_filter(base, 1.0)
    quiet = valid & (smooth < np.median(smooth[valid]) + 2 * max(_robust_sigma(smooth[valid]), 1e-30))
    if quiet.sum() < 64:
        quiet = valid
    scale = float(np.abs(base[valid] - np.median(base[valid])).max())
    if not _robust_sigma(hp[quiet]) > NOISELESS * scale:
        return NO_NOISE
    values = []
    for a, b, ok in ((hp[:, 1:], hp[:, :-1], quiet[:, 1:] & quiet[:, :-1]),
                     (hp[1:, :], hp[:-1, :], quiet[1:, :] & quiet[:-1, :])):
        va, vb = a[ok], b[ok]
        values.append(float(np.corrcoef(va, vb)[0, 1]) if va.size >= 8 and va.std() > 0 and vb.std() > 0 else NO_NOISE)
    return float(np.mean(values))


def _growth_radius(r: np.ndarray, w: np.ndarray, fraction: float) -> float:
    order = np.argsort(r, axis=None)
    cum = np.cumsum(w.ravel()[order])
    if not cum[-1] > 0:
        return float(r.max())
    k = int(np.searchsorted(cum, fraction * cum[-1]))
    return float(r.ravel()[order][min(k, order.size - 1)])


def source_grid(x: np.ndarray, empty: np.ndarray) -> tuple[np.ndarray, float]:
    """(the source on a GRID x GRID grid centred on it, spanning SPAN x r90 each side, peak 1; its noise there)."""
    background = float(np.median(x[_border(x.shape) & ~empty])) if (_border(x.shape) & ~empty).any() else 0.0
    s = np.where(empty, 0.0, x - background)
    sigma = _robust_sigma(s[_border(x.shape) & ~empty]) if (_border(x.shape) & ~empty).any() else 0.0
    sm = ndimage.gaussian_filter(s, 1.0)
    sm_sigma = _robust_sigma(sm[_border(x.shape) & ~empty]) if sigma > 0 else 0.0
    sig = sm > max(3 * sm_sigma, 1e-3 * float(sm.max()))
    if sig.sum() < 5:
        sig = sm >= np.quantile(sm, 0.99)
    w = np.where(sig, np.clip(s, 0, None), 0.0)
    rows, cols = np.indices(x.shape)
    cy, cx = (x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2
    r90 = 0.5 * min(x.shape)
    for _ in range(3):  # a centroid of the light within r90 of the last centre
        near = w * (np.hypot(rows - cy, cols - cx) <= r90 * 1.2)
        if not near.sum() > 0:
            break
        cy, cx = float((near * rows).sum() / near.sum()), float((near * cols).sum() / near.sum())
        r90 = max(_growth_radius(np.hypot(rows - cy, cols - cx), w, 0.9), 2.0)
    half = SPAN * r90
    t = np.linspace(-half, half, GRID)
    gy, gx = np.meshgrid(cy + t, cx + t, indexing="ij")
    grid = ndimage.map_coordinates(s, [gy, gx], order=1, mode="constant", cval=0.0)
    peak = float(ndimage.gaussian_filter(grid, 1.0).max())
    peak = peak if peak > 0 else 1.0
    return grid / peak, (sigma / peak if sigma > 0 else 1e-3)


def _moments(g: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(axis ratio, angle of the major axis) of the weights' second moments about the grid centre."""
    c = (GRID - 1) / 2
    yy, xx = np.indices(g.shape) - c
    t = w.sum()
    if not t > 0:
        return 1.0, 0.0
    mxx, myy, mxy = (w * xx * xx).sum() / t, (w * yy * yy).sum() / t, (w * xx * yy).sum() / t
    tr, det = mxx + myy, mxx * myy - mxy * mxy
    disc = np.sqrt(max(tr * tr / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-12)
    return float(np.sqrt(l2 / l1)), float(0.5 * np.arctan2(2 * mxy, mxx - myy))


def _profile(g: np.ndarray, er: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bin of each pixel, median light per bin) on ellipses 1.5 px apart."""
    bins = np.minimum((er / 1.5).astype(int), 40)
    median = np.array([np.median(g[bins == k]) if (bins == k).any() else 0.0 for k in range(int(bins.max()) + 1)])
    return bins, median


def ring_features(median: np.ndarray) -> dict[str, float]:
    """`cavity`: the centre's dip below the profile's peak; `ring`: the largest rise after a dip beyond the
    profile's first peak (a ring outside a gap, an Einstein ring outside its galaxy's light)."""
    peak = max(float(median.max()), 1e-3)
    first = next((k for k in range(1, len(median) - 1) if median[k] >= median[k - 1] and median[k] >= median[k + 1]),
                 0) if median[0] < median[1:2].max(initial=-np.inf) else 0
    tail = median[first:]
    ring = float(np.max(tail - np.minimum.accumulate(tail))) if tail.size else 0.0
    return {"cavity": float(np.clip(1 - median[0] / peak, 0, 1)), "ring": float(np.clip(ring / peak, 0, 1))}


def arc_features(res: np.ndarray, noise: float) -> dict[str, float]:
    """`arcs`: share of the residual light in pieces stretched tangentially around the centre (length / width > 1.5,
    long axis within ~35 degrees of the tangent); `balance`: how evenly the residual pieces surround the centre."""
    c = (GRID - 1) / 2
    labels, n = ndimage.label(res > max(2.5 * noise, 0.01))
    if n == 0:
        return {"arcs": 0.0, "balance": 0.0}
    index = np.arange(1, n + 1)
    flux = np.asarray(ndimage.sum(res, labels, index))
    yy, xx = np.indices(res.shape) - c
    total, arc, vec = 0.0, 0.0, 0.0 + 0.0j
    for k, f in zip(index, flux, strict=True):
        m = labels == k
        if m.sum() < 4 or not f > 0:
            continue
        w = res[m]
        y, x = yy[m], xx[m]
        my, mx = (w * y).sum() / f, (w * x).sum() / f
        d = np.hypot(my, mx)
        total += f
        vec += f * np.exp(1j * np.arctan2(my, mx))
        if d < 2.0:  # the centre itself: no direction to be tangential to
            continue
        cyy, cxx, cxy = (w * (y - my) ** 2).sum() / f, (w * (x - mx) ** 2).sum() / f, (w * (y - my) * (x - mx)).sum() / f
        tr, det = cxx + cyy, cxx * cyy - cxy * cxy
        disc = np.sqrt(max(tr * tr / 4 - det, 0.0))
        elongation = np.sqrt((tr / 2 + disc) / max(tr / 2 - disc, 1e-6))
        axis = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
        tangent = np.arctan2(my, mx) + np.pi / 2
        if elongation > 1.5 and np.cos(axis - tangent) ** 2 > 0.67:
            arc += f
    if not total > 0:
        return {"arcs": 0.0, "balance": 0.0}
    return {"arcs": float(arc / total), "balance": float(1 - abs(vec) / total)}


def ridge_features(g: np.ndarray) -> dict[str, float]:
    """`ridges`: the share of the source's significant ridge-like curvature (beyond 2.5 px of the centre) in ridges
    running tangentially (curved across the radius, straight along the tangent: arcs and rings, not clumps);
    `ridge_spread`: the spread in radius of those ridges over their mean radius (one Einstein radius: small;
    spiral arms across radii: large; 1 when there are none)."""
    c = (GRID - 1) / 2
    yy, xx = np.indices(g.shape) - c
    r = np.hypot(xx, yy) + 1e-9
    ux, uy = xx / r, yy / r
    gxx, gyy, gxy = (ndimage.gaussian_filter(g, 1.0, order=o) for o in ((0, 2), (2, 0), (1, 1)))
    h_rr = gxx * ux * ux + 2 * gxy * ux * uy + gyy * uy * uy  # curvature across the radius
    h_tt = gxx * uy * uy - 2 * gxy * ux * uy + gyy * ux * ux  # along the tangent
    tr, det = gxx + gyy, gxx * gyy - gxy * gxy
    l_min = tr / 2 - np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
    outer = r > 0.8 * c
    noise = max(_robust_sigma(h_rr[outer]), 1e-6)
    away = r > 2.5
    ridge = np.clip(-h_rr, 0, None) * (np.abs(h_tt) < 0.5 * np.abs(h_rr)) * (-h_rr > 4 * noise) * away
    curved = np.clip(-l_min, 0, None) * (-l_min > 4 * noise) * away
    if not ridge.sum() > 0:
        return {"ridges": 0.0, "ridge_spread": 1.0}
    mean_r = (ridge * r).sum() / ridge.sum()
    spread = np.sqrt((ridge * (r - mean_r) ** 2).sum() / ridge.sum()) / mean_r
    return {"ridges": float(ridge.sum() / curved.sum()), "ridge_spread": float(min(spread, 1.0))}


def shape_features(g: np.ndarray, noise: float) -> dict[str, float]:
    """The features of the source grid (see the module's docstring)."""
    c = (GRID - 1) / 2
    yy, xx = np.indices(g.shape) - c
    sig = ndimage.gaussian_filter(g, 1.0) > max(1.5 * noise, 0.02)  # 3 sigma of a 1-px blur's noise
    pos = np.where(sig, np.clip(g, 0, None), 0.0)
    flux = max(float(pos.sum()), 1e-6)
    q, angle = _moments(g, pos)
    q = max(q, 0.2)
    ca, sa = np.cos(angle), np.sin(angle)
    er = np.hypot(xx * ca + yy * sa, (-xx * sa + yy * ca) / q)  # elliptical radius (major-axis px)
    r20, r50, r80 = (_growth_radius(er, pos, f) for f in (0.2, 0.5, 0.8))
    bins, median = _profile(g, er)
    residual = np.where(sig, g - median[bins], 0.0)
    turned = g[::-1, ::-1]
    blur = ndimage.gaussian_filter(g, max(0.25 * r50, 1.0))
    v = np.sort(pos[sig])
    n = v.size
    gini = float(((2 * np.arange(1, n + 1) - n - 1) * v).sum() / (n * v.sum())) if n > 1 and v.sum() > 0 else 0.0
    return {"concentration": float(np.log(max(r80, 0.5) / max(r20, 0.5))), "axis_ratio": q, **ring_features(median),
            "residual": float(min(np.abs(residual).sum() / flux, 2.0)),
            **arc_features(ndimage.gaussian_filter(np.clip(residual, 0, None), 1.0), noise / 2),
            "asymmetry": float(np.abs(g - turned)[sig].sum() / (2 * np.abs(g)[sig].sum())) if sig.any() else 0.0,
            "clumpiness": float(min(np.clip(g - blur, 0, None)[sig].sum() / flux, 2.0)), "gini": gini,
            **ridge_features(g)}


def features(image: np.ndarray) -> dict[str, float]:
    """Every feature of FEATURES for a 2-D image (see the module's docstring)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 8:
        raise ValueError(f"The kind check needs a 2-D image of at least 8 x 8 pixels, not of shape {x.shape}.")
    empty = _fill_mask(x)
    x = np.where(np.isfinite(x), x, 0.0)
    native = _centre_crop(x, MAX_NATIVE), _centre_crop(empty, MAX_NATIVE)
    enough = (~native[1]).sum() >= 64
    out = {"antisymmetry": antisymmetry(*native), "noise_smoothness": noise_smoothness(*native) if enough else NO_NOISE}
    out.update(shape_features(*source_grid(x, empty)))
    return {name: float(np.nan_to_num(out[name])) for name in FEATURES}
