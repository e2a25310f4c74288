"""core.data.galaxies: procedural galaxy morphologies (issue 26, item 2): flux, size at any pixel scale, kinds, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import galaxies
from core.data.galaxies import Galaxy, half_light_radius, sample, sersic_fraction


def _no_dust(g: Galaxy) -> Galaxy:
    return Galaxy(g.kind, g.parts)


@pytest.mark.parametrize("kind", galaxies.KINDS)
def test_every_kind_has_unit_flux_at_two_pixel_scales(kind):
    for seed in (0, 1):
        g = _no_dust(sample(kind, np.random.default_rng(seed), r_e=0.15))
        side = 2 * g.extent  # holds ~99 % of every part's light
        sums = [g.image(int(np.ceil(side / pix)), pix, ss).sum() for pix, ss in ((0.04, 2), (0.1, 3))]
        assert sums == pytest.approx([1.0, 1.0], abs=0.025), (kind, seed, sums)


def test_dust_lane_only_removes_light_and_darkens_the_midplane():
    g = sample("edge_on", np.random.default_rng(3), r_e=1.0)
    dusty, clear = g.image(100, 0.04), _no_dust(g).image(100, 0.04)
    assert dusty.sum() < clear.sum() and (dusty <= clear + 1e-12).all()
    d = g.dust[0]
    xs = np.array([-d["v0"] * np.sin(d["pa"])])  # on the lane's centre line, at the galaxy's minor axis
    ys = np.array([d["v0"] * np.cos(d["pa"])])
    on, off = g.surface_brightness(xs, ys)[0, 0], _no_dust(g).surface_brightness(xs, ys)[0, 0]
    assert on == pytest.approx(off * np.exp(-d["tau"]), rel=1e-6)


def test_half_light_radius_in_arcsec_is_the_same_at_two_pixel_scales():
    g = Galaxy("test", [{"type": "sersic", "flux": 1.0, "r_e": 0.5, "n": 1.0, "q": 1.0, "pa": 0.0, "x0": 0.0, "y0": 0.0}])
    radii = [half_light_radius(g.image(int(10 / pix), pix, 3), pix, total=1.0) for pix in (0.03, 0.1)]
    assert radii == pytest.approx([0.5, 0.5], rel=0.03)
    # a drawn galaxy: whatever its shape, its size in arcsec does not depend on the pixels
    for kind in ("spiral", "irregular", "ring"):
        h = _no_dust(sample(kind, np.random.default_rng(7), r_e=1.2))
        r = [half_light_radius(h.image(int(2 * h.extent / pix), pix, 3), pix) for pix in (0.03, 0.1)]
        assert r[0] == pytest.approx(r[1], rel=0.06), (kind, r)


def test_boxy_sersic_flux_inside_its_isophote_is_the_analytic_fraction():
    c, q, n, r_e = 2.4, 0.7, 4.0, 0.8
    g = Galaxy("test", [{"type": "sersic", "flux": 1.0, "r_e": r_e, "n": n, "q": q, "pa": 0.0, "x0": 0.0, "y0": 0.0, "c": c}])
    pix, size = 0.02, 400
    image = g.image(size, pix, 3)
    t = (np.arange(size) - (size - 1) / 2) * pix
    radius = (np.abs(t[None, :]) ** c + np.abs(t[:, None] / q) ** c) ** (1 / c)
    for k in (0.5, 1.0, 2.0):
        assert image[radius < k * r_e].sum() == pytest.approx(sersic_fraction(n, k), abs=0.01)


def test_seeded_and_distinct():
    for kind in galaxies.KINDS:
        a, b = sample(kind, np.random.default_rng(5)), sample(kind, np.random.default_rng(5))
        assert a == b
        assert np.array_equal(a.image(32, 0.1), b.image(32, 0.1))
        assert a != sample(kind, np.random.default_rng(6))


def test_unknown_kind_is_one_sentence():
    with pytest.raises(ValueError, match="Unknown galaxy kind 'blob'"):
        sample("blob", np.random.default_rng(0))


def test_morphologies_differ_where_they_should():
    rng = np.random.default_rng(11)
    spiral = sample("spiral", rng, r_e=1.0)
    ell = sample("elliptical", rng, r_e=1.0)
    # arms and HII regions make a spiral's light lumpy around its isophotes; an elliptical is smooth
    def lumpiness(g):
        im = _no_dust(g).image(96, 0.05, 2)
        return float(np.abs(im - np.rot90(im, 2)).sum() / im.sum())
    assert lumpiness(spiral) > 3 * lumpiness(ell)
    ring = sample("ring", np.random.default_rng(2), r_e=0.8)
    assert any(p["type"] == "ring" for p in ring.parts)
