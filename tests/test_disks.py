"""Physics of the disk simulator: gaps at the orbit, projection, orientation convention, noise."""

import numpy as np
import pytest

from core.data.disks import (
    DiskParams,
    beam_sigma_pixels,
    hill_radius_au,
    kanagawa_gap_depth,
    model_image,
    sample_disk_params,
    simulate_disk,
)

SIZE = 96


def radial_profile(image: np.ndarray, au_per_pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal average in 1-pixel annuli about the grid centre: (radius au, mean)."""
    c = (image.shape[0] - 1) / 2
    rows, cols = np.indices(image.shape)
    r_px = np.hypot(rows - c, cols - c)
    k = np.round(r_px).astype(int).ravel()
    mean = np.bincount(k, image.ravel()) / np.maximum(np.bincount(k), 1)
    return np.arange(len(mean)) * au_per_pixel, mean


def face_on(planets: list[tuple[float, float]], **kw) -> DiskParams:
    base = dict(
        inclination_deg=0.0, critical_radius_au=60.0, outer_radius_au=150.0, distance_pc=140.0,
        pixel_scale_arcsec=5.5 * 60 / 140 / SIZE, beam_fwhm_arcsec=0.06, spiral_contrast=0.0,
        planet_radii_au=[r for r, _ in planets], planet_masses_mjup=[m for _, m in planets],
        planet_azimuths_deg=[0.0] * len(planets),
    )  # fmt: skip
    base.update(kw)
    return DiskParams(**base)


def gap_profile(params: DiskParams) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal profile of the image with planets divided by its planet-free twin."""
    smooth = DiskParams(**{**params.__dict__, "planet_radii_au": [], "planet_masses_mjup": [], "planet_azimuths_deg": []})
    au_px = params.pixel_scale_arcsec * params.distance_pc
    r, with_planet = radial_profile(simulate_disk(params, SIZE, noise=False), au_px)
    _, without = radial_profile(simulate_disk(smooth, SIZE, noise=False), au_px)
    keep = without > 1e-3 * without.max()  # inside the disk
    return r[keep], with_planet[keep] / without[keep]


@pytest.mark.parametrize("radius_au", [30.0, 70.0])
def test_gap_minimum_within_one_beam_of_planet(radius_au):
    params = face_on([(radius_au, 1.0)], ring_contrast=0.5)
    r, ratio = gap_profile(params)
    inside = r < params.outer_radius_au * 0.9
    r_min = r[inside][np.argmin(ratio[inside])]
    beam_au = params.beam_fwhm_arcsec * params.distance_pc
    assert abs(r_min - radius_au) <= beam_au, (r_min, radius_au, beam_au)
    assert ratio[inside].min() < 0.8  # a real gap, not noise


def test_gap_deepens_with_planet_mass():
    depths = [gap_profile(face_on([(50.0, m)], ring_contrast=0.0))[1].min() for m in (0.3, 1.0, 3.0)]
    assert depths[0] > depths[1] > depths[2], depths
    # the unconvolved floor follows Kanagawa et al. (2015) and widths scale with the Hill radius
    assert kanagawa_gap_depth(1.0, 1.0, 0.05, 1e-3) == pytest.approx(1 / (1 + 0.04 * (9.5458e-4**2 * 0.05**-5 / 1e-3)))
    assert hill_radius_au(50.0, 3.0, 1.0) / hill_radius_au(50.0, 3.0 / 8, 1.0) == pytest.approx(2.0)


@pytest.mark.parametrize(("inclination", "pa"), [(30.0, 0.0), (60.0, 37.0), (75.0, 123.0)])
def test_axis_ratio_is_cos_i_and_major_axis_at_pa(inclination, pa):
    """Second moments of a ringed disk: axis ratio cos(i) to 0.005, major axis at PA east of north to 0.5 deg."""
    params = face_on([(40.0, 1.0)], ring_contrast=0.5, inclination_deg=inclination, position_angle_deg=pa,
                     pixel_scale_arcsec=9 * 60 / 140 / SIZE)  # fmt: skip
    image = simulate_disk(params, SIZE, noise=False).astype(np.float64)
    c = (SIZE - 1) / 2
    rows, cols = np.indices(image.shape)
    north, east = rows - c, -(cols - c)  # FITS convention: row grows north, east is left
    w = image / image.sum()
    cov = np.array([[np.sum(w * east * east), np.sum(w * east * north)], [np.sum(w * east * north), np.sum(w * north * north)]])
    eigval, eigvec = np.linalg.eigh(cov)
    blur = beam_sigma_pixels(params) ** 2 + 1 / 12  # beam + pixel-averaging variance
    ratio = np.sqrt((eigval[0] - blur) / (eigval[1] - blur))
    assert ratio == pytest.approx(np.cos(np.radians(inclination)), abs=0.005)
    e, n = eigvec[:, 1]
    measured_pa = np.degrees(np.arctan2(e, n)) % 180
    assert min(abs(measured_pa - pa % 180), 180 - abs(measured_pa - pa % 180)) < 0.5


def test_pa_plus_90_is_rot90_clockwise_in_array_terms():
    """PA + 90 deg turns the sky counter-clockwise (origin='lower'), i.e. np.rot90(image, k=-1)."""
    planet = dict(planet_radii_au=[50.0], planet_masses_mjup=[3.0], planet_azimuths_deg=[40.0], spiral_contrast=0.5)
    a = simulate_disk(face_on([], inclination_deg=50.0, position_angle_deg=20.0, **planet), SIZE, noise=False)
    b = simulate_disk(face_on([], inclination_deg=50.0, position_angle_deg=110.0, **planet), SIZE, noise=False)
    np.testing.assert_allclose(b, np.rot90(a, k=-1), atol=2e-5)
    # the other sense is clearly different (the spiral breaks the 180-degree symmetry)
    assert np.abs(b - np.rot90(a, k=1)).max() > 0.02


def test_spiral_breaks_mirror_symmetry_and_can_be_switched_off():
    with_spiral = face_on([(50.0, 3.0)], spiral_contrast=0.5)
    without = face_on([(50.0, 3.0)], spiral_contrast=0.0)
    a, b = model_image(with_spiral, SIZE), model_image(without, SIZE)
    assert np.abs(b - np.rot90(b)).max() < 1e-9 * b.max()  # axisymmetric without wakes
    near_orbit = b > 1e-3 * b.max()
    assert (np.abs(a - b)[near_orbit] / b[near_orbit]).max() > 0.2  # the wake brightens the disk by > 20 % locally


def test_noise_has_the_requested_snr_and_beam_correlation():
    params = face_on([(50.0, 1.0)], snr=40.0)
    clean = simulate_disk(params, SIZE, noise=False)
    noise = simulate_disk(params, SIZE, np.random.default_rng(3)) - clean
    assert clean.max() == pytest.approx(1.0)
    assert noise.std() == pytest.approx(1 / 40.0, rel=1e-3)
    beam_px = beam_sigma_pixels(params)
    n_beams = SIZE**2 / (2 * np.pi * beam_px**2)
    assert abs(noise.mean()) < 5 * noise.std() / np.sqrt(n_beams)
    lag1 = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert lag1 > 0.5  # correlated on the beam (sigma ~ 1.5 px), unlike white noise


def test_same_seed_same_bytes_and_sampled_params_are_plausible():
    for n in range(4):
        p = sample_disk_params(np.random.default_rng(n), n, size=64)
        assert p.n_planets == n and 0 <= p.inclination_deg <= 75 and 0 <= p.position_angle_deg < 360
        assert all(p.cavity_radius_au < r < p.outer_radius_au for r in p.planet_radii_au)
        a = simulate_disk(p, 64, np.random.default_rng(7))
        b = simulate_disk(p, 64, np.random.default_rng(7))
        assert a.dtype == np.float32 and a.shape == (64, 64) and a.tobytes() == b.tobytes()
        beam_px = p.beam_fwhm_arcsec / p.pixel_scale_arcsec
        assert beam_px >= 2.2 and p.beam_fwhm_arcsec * p.distance_pc <= max(0.06 * 2 * p.outer_radius_au, 2.3 * p.pixel_scale_arcsec * p.distance_pc)


def test_invalid_params_get_one_sentence():
    with pytest.raises(ValueError, match="one mass and one azimuth for every planet radius"):
        simulate_disk(DiskParams(planet_radii_au=[10.0], planet_masses_mjup=[]), 32)
    with pytest.raises(ValueError, match="between 0 and 3"):
        sample_disk_params(np.random.default_rng(0), 4)


# --- the wider family (disk generator 2.0): rings, cavities, elliptical beams, clean residuals


def test_ring_only_disk_profile_peaks_at_the_ring_radius_and_not_at_the_centre():
    params = face_on([], smooth_fraction=0.0, ring_radii_au=[70.0], ring_widths_au=[8.0], ring_amplitudes=[1.0],
                     cavity_radius_au=40.0, beam_fwhm_arcsec=0.05)
    image = simulate_disk(params, SIZE, noise=False)
    au_px = params.pixel_scale_arcsec * params.distance_pc
    r, profile = radial_profile(image, au_px)
    beam_au = params.beam_fwhm_arcsec * params.distance_pc
    assert abs(r[np.argmax(profile)] - 70.0) <= beam_au / 2
    c = SIZE // 2
    assert image[c - 1 : c + 2, c - 1 : c + 2].max() < 0.01  # no central peak


def test_two_rings_give_two_profile_maxima_with_a_gap_between():
    params = face_on([(60.0, 2.0)], smooth_fraction=0.0, ring_radii_au=[35.0, 90.0], ring_widths_au=[5.0, 6.0],
                     ring_amplitudes=[1.0, 1.0], cavity_radius_au=20.0, beam_fwhm_arcsec=0.05)
    au_px = params.pixel_scale_arcsec * params.distance_pc
    r, profile = radial_profile(simulate_disk(params, SIZE, noise=False), au_px)
    inner, outer, gap = (np.abs(r - x).argmin() for x in (35.0, 90.0, 60.0))
    assert profile[gap] < 0.3 * min(profile[inner], profile[outer])


def test_transition_disk_cavity_centre_is_below_the_noise():
    params = face_on([], cavity_radius_au=45.0, ring_radii_au=[52.0], ring_widths_au=[6.0], ring_amplitudes=[1.0],
                     beam_fwhm_arcsec=0.05, snr=50.0)
    clean = simulate_disk(params, SIZE, noise=False)
    noisy = simulate_disk(params, SIZE, np.random.default_rng(0))
    c = SIZE // 2
    noise_std = float((noisy - clean).std())
    assert clean[c, c] < noise_std  # the empty cavity, after the beam, is fainter than the noise
    assert clean.max() == pytest.approx(1.0)


def test_cavity_depth_fills_the_cavity_in_proportion():
    base = face_on([], cavity_radius_au=40.0, beam_fwhm_arcsec=0.03)
    empty = model_image(base, SIZE)
    half = model_image(DiskParams(**{**base.__dict__, "cavity_depth": 0.5}), SIZE)
    full = model_image(DiskParams(**{**base.__dict__, "cavity_radius_au": 0.0}), SIZE)
    c = SIZE // 2
    assert empty[c, c + 3] < 0.01 * full[c, c + 3]
    # optically thin-ish: half the surface density gives between a third and the whole of the intensity
    assert 0.3 * full[c, c + 3] < half[c, c + 3] < full[c, c + 3]


def test_elliptical_beam_is_longer_along_its_position_angle():
    point = face_on([], smooth_fraction=0.0, ring_radii_au=[0.5], ring_widths_au=[1.0], ring_amplitudes=[1.0],
                    cavity_radius_au=0.0, beam_fwhm_arcsec=0.3, beam_minor_fwhm_arcsec=0.15, beam_pa_deg=0.0)
    image = simulate_disk(point, SIZE, noise=False)  # ~ the beam itself
    c = SIZE // 2
    north = (image[:, c] > 0.5).sum()  # FWHM along rows (north-south), pixels
    east = (image[c, :] > 0.5).sum()
    assert north > 1.6 * east  # major axis north-south for PA 0
    turned = simulate_disk(DiskParams(**{**point.__dict__, "beam_pa_deg": 90.0}), SIZE, noise=False)
    assert (turned[c, :] > 0.5).sum() > 1.6 * (turned[:, c] > 0.5).sum()


def test_clean_residuals_add_positive_and_negative_ripples_of_the_requested_size():
    params = face_on([], beam_fwhm_arcsec=0.06)
    plain = simulate_disk(params, SIZE, noise=False)
    rippled = simulate_disk(DiskParams(**{**params.__dict__, "clean_residual": 0.02}), SIZE, noise=False)
    diff = rippled - plain
    assert np.abs(diff).max() == pytest.approx(0.02, rel=1e-3)
    assert diff.min() < -0.002 and diff.max() > 0.0005  # both signs, like sidelobes


@pytest.mark.parametrize("n_planets", range(4))
def test_sampler_draws_every_morphology_and_keeps_planets_in_the_disk(n_planets):
    seen = set()
    for seed in range(40):
        p = sample_disk_params(np.random.default_rng(seed), n_planets, size=64)
        seen.add(p.morphology)
        assert p.n_planets == n_planets and p.cavity_radius_au < p.outer_radius_au
        assert all(p.cavity_radius_au < r < p.outer_radius_au for r in p.planet_radii_au)
        fov_au = p.pixel_scale_arcsec * 64 * p.distance_pc
        assert 0.39 <= 2 * p.outer_radius_au / fov_au <= 0.96  # disk size relative to the field varies
        if p.morphology == "rings":
            assert p.smooth_fraction <= 0.15 and len(p.ring_radii_au) == n_planets + 1
            # each planet sits between two rings
            assert all(a < r < b for r, a, b in zip(p.planet_radii_au, p.ring_radii_au[:-1], p.ring_radii_au[1:], strict=True))
    assert seen == {"full", "transition", "rings"}


def test_ring_list_lengths_and_cavity_depth_are_checked():
    with pytest.raises(ValueError, match="one width and one amplitude for every ring radius"):
        simulate_disk(DiskParams(ring_radii_au=[10.0], ring_widths_au=[]), 32)
    with pytest.raises(ValueError, match="cavity_depth must be between 0"):
        simulate_disk(DiskParams(cavity_depth=2.0), 32)


def test_reobserve_keeps_the_disk_and_redraws_how_it_is_observed():
    from core.data.disks import reobserve

    p = sample_disk_params(np.random.default_rng(5), 2, size=64)
    q = reobserve(p, 64, np.random.default_rng(6))
    same = ("planet_radii_au", "planet_masses_mjup", "planet_azimuths_deg", "ring_radii_au", "ring_widths_au",
            "cavity_radius_au", "critical_radius_au", "outer_radius_au", "alpha_viscosity", "morphology")
    assert all(getattr(p, k) == getattr(q, k) for k in same)
    assert q.inclination_deg != p.inclination_deg and q.snr != p.snr and q.distance_pc != p.distance_pc
    fov_au = q.pixel_scale_arcsec * 64 * q.distance_pc
    assert 0.39 <= 2 * q.outer_radius_au / fov_au <= 0.96  # framed as the sampler frames a disk
    assert q.beam_fwhm_arcsec >= 2.2 * q.pixel_scale_arcsec - 1e-12
    assert not np.allclose(simulate_disk(p, 64, noise=False), simulate_disk(q, 64, noise=False))


def test_sampled_ring_only_disks_peak_at_a_ring_and_not_at_the_centre():
    from core.data.disks import profile_peak_au

    hits = total = 0
    for seed in range(60):
        p = sample_disk_params(np.random.default_rng(seed), seed % 4, size=64)
        if p.morphology != "rings":
            continue
        peak_au = profile_peak_au(simulate_disk(p, 64, noise=False), p)
        total += 1
        hits += min(abs(peak_au - c) for c in p.ring_radii_au) <= p.beam_fwhm_arcsec * p.distance_pc
    assert total >= 15 and hits >= 0.9 * total  # generator 2.0 let the smooth inner disk peak at the centre in a quarter
