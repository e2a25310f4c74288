"""core.data.sky: HST / Euclid-like lens finding (issue 26, item 2): lensing physics, flux and pixel scale,
no class shortcuts, the app's regrid, determinism, and the `simulate sky` hook."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from core.data import sky
from core.data.regrid import match_grid, to_grid


def _params(label: str, seed: int) -> sky.SkyParams:
    return sky.sample_params(label, np.random.default_rng(seed), 64)


def _whole(p: sky.SkyParams, pixel: float | None = None) -> sky.SkyParams:
    """The same system, without field galaxies or stars, in a cutout wide enough for all its lensed images."""
    pixel = pixel or p.obs["pixel"]
    side = 2 * p.mass["theta_E"] + 2 * max(np.hypot(s.x, s.y) for s in p.sources) + 3.0 if p.sources else 6.0
    return replace(p, obs={**p.obs, "pixel": pixel}, galaxies=p.galaxies[:1], stars=[], native=int(np.ceil(side / pixel)))


@pytest.mark.parametrize("seed", range(5))
def test_a_lens_has_two_or_more_images_and_a_magnified_source(seed):
    p = _params("lens", seed)
    x, _ = sky.image_positions(p)
    assert len(x) >= 2  # inside the caustics: 2 or 4 images (lenstronomy's solver)
    assert sky.magnification(p) > 2.0
    q = _whole(p, 0.1)
    flux = sky.components(q)["sources"].sum()  # the extended source as rendered: INTERPOL through SIE + shear
    assert flux > 2.0 * sky.cps(q, q.sources[0].mag)


def test_non_lenses_never_have_multiple_images():
    with_source = 0
    for seed in range(16):
        p = _params("nonlens", seed)
        for s in p.sources:  # half of the non-lenses have a background galaxy, outside the caustics
            with_source += 1
            x, _ = sky.image_positions(p, s)
            assert len(x) <= 1
            assert sky.magnification(p, s) < 2.5  # weakly magnified, no arc
            q = _whole(p, 0.1)
            assert 0.6 < sky.components(q)["sources"].sum() / sky.cps(q, s.mag) < 2.5
    assert with_source >= 4
    assert sky.noiseless(p)[1]["source_boost_mag"] == 0.0  # nothing is brightened in a non-lens


def test_every_draw_before_the_class_is_the_same_for_both_classes():
    """Instrument, pixel scale, band, depth, field, scene, galaxies, mass: drawn first from the same stream,
    so none of them can tell the classes apart; only the background source's placement differs."""
    keys = ("instrument", "band", "obs", "field_arcsec", "native", "scene", "galaxies", "mass", "n_stars", "snr_floor",
            "main_snr_floor")
    seen = set()
    for seed in range(40):
        a, b = _params("lens", seed).to_dict(), _params("nonlens", seed).to_dict()
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
        seen.add((a["instrument"], a["scene"]))
    assert len({i for i, _ in seen}) >= 4 and len({s for _, s in seen}) >= 6  # the draws do vary


def test_a_scene_seen_at_two_pixel_scales_is_the_same_sky_on_the_model_grid():
    p = _whole(_params("nonlens", 3))
    p = replace(p, sources=[], native=int(round(6.6 / 0.03)), main_snr_floor=0.0)
    fine = sky.to_model_grid(p, sky.noiseless(p)[0]) / 0.03**2  # e-/s per arcsec^2
    q = replace(p, obs={**p.obs, "pixel": 0.1}, native=66)
    coarse = sky.to_model_grid(q, sky.noiseless(q)[0]) / 0.1**2
    assert fine.sum() == pytest.approx(coarse.sum(), rel=0.02)
    assert np.abs(fine - coarse).max() < 0.05 * coarse.max()  # the same shapes and sizes in arcsec


@pytest.mark.parametrize("label", sky.CLASSES)
def test_a_main_galaxy_too_faint_to_see_is_raised_to_its_floor_in_both_classes(label):
    p = _params(label, 6)
    p = replace(p, galaxies=[replace(p.galaxies[0], mag=29.0)], stars=[])
    model, info = sky.noiseless(p)
    assert info["main_boost_mag"] > 2.0
    main = sky.components(p)["main"] * 10 ** (0.4 * info["main_boost_mag"])
    assert np.sqrt(np.sum(main**2 / sky._variance(p, main))) == pytest.approx(p.main_snr_floor, rel=0.05)


def test_psf_and_point_sources_keep_their_flux():
    p = replace(_params("nonlens", 1), galaxies=[], sources=[], stars=[(20.0, 0.1, -0.2)], native=80)
    assert sky.psf_kernel(p, 0.02).sum() == pytest.approx(1.0)
    assert sky.components(p)["foreground"].sum() == pytest.approx(sky.cps(p, 20.0), rel=0.02)


def test_the_stored_image_is_the_cutout_put_on_the_grid_as_the_app_does():
    p = _params("lens", 2)
    native, _, _ = sky.render_native(p, np.random.default_rng(9))
    stored, twin, info = sky.observe_on_grid(p, np.random.default_rng(9))
    app = to_grid(native, match_grid(native.shape, p.obs["pixel"], {"arcsec_per_pixel": 0.1, "image_size": 64}))
    assert np.array_equal(stored, app) and stored.shape == twin.shape == (64, 64) and stored.dtype == np.float32
    assert info["source_snr"] >= 0.99 * p.snr_floor  # the arcs are there


def test_a_small_cutout_is_padded_with_sky_noise():
    p = _params("nonlens", 5)
    p = replace(p, field_arcsec=4.0, native=int(round(4.0 / p.obs["pixel"])))
    image = sky.render(p, np.random.default_rng(0))
    pad = image[:5].ravel()  # 4" of a 6.4" field: the outer 1.2" is padding
    assert np.std(pad) > 0  # noise, not a flat frame


def test_seeded():
    a = sky.render(_params("lens", 4), np.random.default_rng(1))
    assert np.array_equal(a, sky.render(_params("lens", 4), np.random.default_rng(1)))
    assert not np.array_equal(a, sky.render(_params("lens", 4), np.random.default_rng(2)))  # other noise
    with pytest.raises(ValueError, match="Unknown sky class 'arc'"):
        sky.sample_params("arc", np.random.default_rng(0))


def test_simulate_sky_writes_both_classes_and_resumes(tmp_path):
    from core.data.dataset_writer import simulate_dataset

    manifest = simulate_dataset("sky", 4, seed=2, out=tmp_path, progress=False)
    m = json.loads(manifest.read_text())
    assert m["generator"] == "sky" and m["version"] == sky.VERSION and m["classes"] == ["lens", "nonlens"]
    assert [e["label"] for e in m["images"]] == ["lens", "nonlens", "lens", "nonlens"]
    image = np.load(tmp_path / m["images"][0]["file"])
    assert image.shape == (64, 64) and image.dtype == np.float32
    before = {e["file"]: (tmp_path / e["file"]).stat().st_mtime_ns for e in m["images"]}
    simulate_dataset("sky", 4, seed=2, out=tmp_path, progress=False)  # a re-run finds every image done
    assert {f: (tmp_path / f).stat().st_mtime_ns for f in before} == before


@pytest.mark.parametrize("seed", (0, 4, 6))
def test_the_twins_noise_record_matches_the_noise_on_the_grid(seed):
    """core.data.observe re-observes the twins with noise_params: its background must be the images' own."""
    p = _params("nonlens", seed)
    p = replace(p, galaxies=[], sources=[], stars=[], native=int(round(8.0 / p.obs["pixel"])))
    empty = sky.to_model_grid(p, sky.observe(p, np.zeros((p.native, p.native)), np.random.default_rng(0)).astype(np.float32))
    assert empty[8:-8, 8:-8].std() == pytest.approx(sky.noise_params(p)["background_rms"], rel=0.1)
