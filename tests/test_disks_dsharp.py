"""The DSHARP-like disk family (generator 3.0, core.data.dsharp): physics of the new components, the sampler, the
data-set presets, and the 2.1 family left byte-identical."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import find_peaks

from core.data import dsharp
from core.data.disks import (
    FWHM_TO_SIGMA,
    DiskParams,
    _convolve_beam,
    beam_kernel,
    disk_plane_radius,
    kanagawa_gap_depth,
    model_image,
    noiseless_disk,
    observe,
    sample_disk_params,
    simulate_disk,
    surface_density,
)

SIZE = 129


def base(**kw) -> DiskParams:
    """Face-on, 140 pc, 0.01"/px (1.4 au/px), a 0.04" (4 px) circular beam, nothing but what `kw` adds."""
    values = dict(inclination_deg=0.0, distance_pc=140.0, pixel_scale_arcsec=0.01, beam_fwhm_arcsec=0.04,
                  critical_radius_au=40.0, outer_radius_au=80.0, cavity_radius_au=0.0, spiral_contrast=0.0,
                  ring_contrast=0.0, optical_depth_at_rc=0.3, temperature_floor_au=1.0)
    values.update(kw)
    return DiskParams(**values)


def deprojected_profile(image: np.ndarray, p: DiskParams, bin_px: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(disk-plane radius au, mean) in bins of `bin_px` pixels."""
    bin_au = bin_px * p.pixel_scale_arcsec * p.distance_pc
    k = np.floor(disk_plane_radius(p, image.shape[0]) / bin_au).astype(int).ravel()
    mean = np.bincount(k, image.ravel()) / np.maximum(np.bincount(k), 1)
    return (np.arange(len(mean)) + 0.5) * bin_au, mean


# ---------------------------------------------------------------------------- physics


def test_rings_peak_where_drawn_after_the_beam():
    radii = [20.0, 34.0, 47.0, 61.0, 74.0]  # 10-14 au apart, beam 5.6 au: 2.3-2.5 beams
    p = base(smooth_fraction=0.0, ring_radii_au=radii, ring_widths_au=[5.6 * FWHM_TO_SIGMA] * 5,
             ring_amplitudes=[1.0] * 5, outer_radius_au=90.0)
    r, profile = deprojected_profile(simulate_disk(p, SIZE, noise=False), p)
    peaks = r[find_peaks(profile, prominence=0.02 * profile.max())[0]]
    assert len(peaks) == 5
    np.testing.assert_allclose(peaks, radii, atol=0.7 * 1.4)  # within 0.7 px of the drawn radius


def test_sampled_multi_ring_disks_show_their_rings_where_drawn():
    hits = total = 0
    for seed in range(60):
        p = dsharp.sample_dsharp_params(np.random.default_rng(seed), seed % 4, SIZE)
        if p.morphology != "multi-ring":
            continue
        r, profile = deprojected_profile(simulate_disk(p, SIZE, noise=False), p)
        peaks = r[find_peaks(profile)[0]]
        half_beam = 0.5 * p.beam_fwhm_arcsec * p.distance_pc
        total += len(p.ring_radii_au)
        hits += sum(bool(len(peaks)) and np.abs(peaks - c).min() <= half_beam for c in p.ring_radii_au)
    assert total >= 40 and hits >= 0.75 * total, (hits, total)  # the rest: faint rings on a steep disk, merged pairs


@pytest.mark.parametrize("depth", [0.05, 0.3, 0.8])
def test_gap_floor_is_the_drawn_depth_and_the_observed_contrast_follows_it(depth):
    smooth = base(optical_depth_at_rc=0.001)  # optically thin: intensity proportional to Sigma
    gapped = replace(smooth, gap_radii_au=[45.0], gap_widths_au=[8.0], gap_depths=[depth])
    r = np.array([45.0, 20.0])
    ratio = surface_density(r, np.zeros(2), gapped) / surface_density(r, np.zeros(2), smooth)
    assert ratio[0] == pytest.approx(depth, rel=1e-9) and ratio[1] == pytest.approx(1.0, abs=0.01)
    # in the image, without and with the 5.6 au beam (the gap's FWHM is 19 au, 3.4 beams)
    c = SIZE // 2
    col = c + round(45.0 / 1.4)
    sky = model_image(gapped, SIZE)[c, col] / model_image(smooth, SIZE)[c, col]
    seen = noiseless_disk(gapped, SIZE)[c, col] * _peak(gapped) / (noiseless_disk(smooth, SIZE)[c, col] * _peak(smooth))
    assert sky == pytest.approx(depth, abs=0.02)
    assert depth <= seen < depth + 0.1 * (1 - depth) + 0.02  # the beam fills a gap only a little


def _peak(p: DiskParams) -> float:
    return float(_convolve_beam(model_image(p, SIZE), beam_kernel(p)).max())


def test_planet_gaps_of_sampled_disks_have_kanagawa_floors_and_their_drawn_width():
    checked = 0
    for seed in range(40):
        p = dsharp.sample_dsharp_params(np.random.default_rng(seed), 3, SIZE)
        if p.morphology == "exxa" or p.morphology in ("full", "transition", "rings"):
            continue
        for k, r_p in enumerate(p.planet_radii_au):
            floor = kanagawa_gap_depth(p.planet_masses_mjup[k], p.stellar_mass_msun, p.aspect_ratio, p.alpha_viscosity)
            alone = replace(p, planet_radii_au=[r_p], planet_masses_mjup=[p.planet_masses_mjup[k]], planet_azimuths_deg=[0.0],
                            gap_radii_au=[], gap_widths_au=[], gap_depths=[], spiral_arm_contrast=0.0, crescent_amplitude=0.0)
            none = replace(alone, planet_radii_au=[], planet_masses_mjup=[], planet_azimuths_deg=[])
            at = np.array([r_p])
            assert surface_density(at, at * 0, alone)[0] / surface_density(at, at * 0, none)[0] == pytest.approx(floor, rel=1e-6)
            checked += 1
    assert checked >= 20


def test_beam_fwhm_measured_on_a_point_source():
    point = base(smooth_fraction=0.0, inner_disk_radius_au=0.05, inner_disk_amplitude=5.0, outer_radius_au=60.0)
    image = simulate_disk(point, SIZE, noise=False).astype(np.float64)
    rows, cols = np.indices(image.shape)
    w = image / image.sum()
    var = np.sum(w * (cols - np.sum(w * cols)) ** 2) - 1 / 12  # minus the pixel's own variance
    assert 2 * np.sqrt(2 * np.log(2) * var) == pytest.approx(4.0, rel=0.02)  # 0.04" / 0.01" per px
    c = SIZE // 2
    assert (image[c] > 0.5).sum() in (3, 4, 5) and image[c, c] == pytest.approx(1.0)
    elliptic = simulate_disk(replace(point, beam_minor_fwhm_arcsec=0.02), SIZE, noise=False)
    assert (elliptic[:, c] > 0.5).sum() > 1.5 * (elliptic[c] > 0.5).sum()  # PA 0: major axis north-south


def test_sampled_beams_are_0_03_to_0_05_arcsec_over_2_to_5_pixels_at_high_snr():
    for seed in range(80):
        p = dsharp.sample_dsharp_params(np.random.default_rng(seed), seed % 4, SIZE)
        if p.morphology in ("full", "transition", "rings"):  # the 2.1 family mixed in keeps its own beams
            continue
        assert 0.03 <= p.beam_fwhm_arcsec <= 0.05 and 2.0 <= dsharp.beam_fwhm_px(p) <= 5.0 and 50 <= p.snr <= 2000


def test_beam_conserves_flux_and_images_are_peak_normalised():
    p = base(ring_radii_au=[30.0, 55.0], ring_widths_au=[3.0, 3.0], ring_amplitudes=[1.0, 0.5],
             inner_disk_radius_au=1.0, inner_disk_amplitude=10.0, crescent_amplitude=2.0, crescent_radius_au=55.0,
             outer_radius_au=60.0)  # well inside the 90 au half-field
    sky = model_image(p, SIZE)
    seen = _convolve_beam(sky, beam_kernel(p))
    assert seen.sum() == pytest.approx(sky.sum(), rel=1e-6)  # nothing lost or made by the beam
    np.testing.assert_allclose(noiseless_disk(p, SIZE), seen / seen.max(), rtol=1e-12)
    assert simulate_disk(p, SIZE, noise=False).max() == pytest.approx(1.0)


@pytest.mark.parametrize(("inclination", "pa"), [(45.0, 0.0), (65.0, 30.0)])
def test_inclination_squeezes_the_minor_axis_by_cos_i(inclination, pa):
    p = base(smooth_fraction=0.0, ring_radii_au=[70.0], ring_widths_au=[1.5], ring_amplitudes=[1.0], outer_radius_au=90.0,
             inclination_deg=inclination, position_angle_deg=pa, beam_fwhm_arcsec=0.02)
    image = simulate_disk(p, SIZE, noise=False)
    c = (SIZE - 1) / 2
    a = np.radians(pa)
    t = np.linspace(0, 64, 1281)

    def ridge(north: float, east: float) -> float:  # distance (px) of the ring's crest from the centre along (north, east)
        rows, cols = c + t * north, c - t * east  # FITS convention: row grows north, column grows west
        from scipy.ndimage import map_coordinates

        return float(t[np.argmax(map_coordinates(image, [rows, cols], order=3))])

    major = ridge(np.cos(a), np.sin(a))
    minor = ridge(-np.sin(a), np.cos(a))
    assert major == pytest.approx(70.0 / 1.4, abs=0.3)
    assert minor / major == pytest.approx(np.cos(np.radians(inclination)), abs=0.02)


def test_m2_spiral_is_symmetric_under_a_half_turn_and_its_pitch_sign_mirrors_it():
    spiral = dict(spiral_arms=2, spiral_pitch_deg=15.0, spiral_arm_contrast=3.0, spiral_arm_width_au=3.0,
                  spiral_phase_deg=20.0, spiral_inner_au=10.0, spiral_outer_au=70.0)
    a = model_image(base(**spiral), SIZE)
    arms = (a - model_image(base(), SIZE)).max()  # the brightening on the arms' crests
    assert arms > 0.3  # intensity at r_c is about 0.26 without the arms
    assert np.abs(a - np.rot90(a, 2)).max() < 1e-9 * a.max()  # m = 2: a half turn maps it onto itself
    assert np.abs(a - np.rot90(a, 1)).max() > 0.5 * arms  # but a quarter turn does not
    b = model_image(base(**{**spiral, "spiral_pitch_deg": -15.0, "spiral_phase_deg": -20.0}), SIZE)
    np.testing.assert_allclose(b, np.fliplr(a), atol=1e-9 * a.max())  # PA 0: mirror across the north-south major axis
    assert np.abs(a - np.fliplr(a)).max() > 0.5 * arms


def test_crescent_is_brightest_at_its_azimuth():
    p = base(smooth_fraction=0.0, ring_radii_au=[50.0], ring_widths_au=[3.0], ring_amplitudes=[0.3],
             crescent_amplitude=3.0, crescent_radius_au=50.0, crescent_width_au=4.0, crescent_azimuth_deg=90.0,
             crescent_extent_deg=30.0)
    image = simulate_disk(p, SIZE, noise=False)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    # disk-plane azimuth 90 deg from the major axis (north at PA 0) is west: +column
    assert abs(row - SIZE // 2) <= 1 and col - SIZE // 2 == pytest.approx(50.0 / 1.4, abs=1.5)
    opposite = image[SIZE // 2, SIZE // 2 - round(50.0 / 1.4)]
    assert opposite < 0.2  # the ring across from the crescent is much fainter


def test_bright_compact_inner_disk_peaks_at_the_centre():
    p = base(smooth_fraction=0.2, ring_radii_au=[40.0], ring_widths_au=[3.0], ring_amplitudes=[1.0],
             inner_disk_radius_au=2.0, inner_disk_amplitude=20.0, cavity_radius_au=20.0)
    image = simulate_disk(p, SIZE, noise=False)
    assert np.unravel_index(np.argmax(image), image.shape) == (SIZE // 2, SIZE // 2)
    no_core = simulate_disk(replace(p, inner_disk_amplitude=0.0), SIZE, noise=False)
    assert no_core[SIZE // 2, SIZE // 2] < 0.05  # the cavity is empty without it


def test_new_components_are_checked_with_one_sentence():
    with pytest.raises(ValueError, match="one width and one depth for every gap radius"):
        model_image(base(gap_radii_au=[10.0], gap_widths_au=[], gap_depths=[]), 32)
    with pytest.raises(ValueError, match="gap depth between 0"):
        model_image(base(gap_radii_au=[10.0], gap_widths_au=[2.0], gap_depths=[1.5]), 32)
    with pytest.raises(ValueError, match="pitch between 0 and 90"):
        model_image(base(spiral_arms=2, spiral_pitch_deg=0.0), 32)
    with pytest.raises(ValueError, match="figure_stretch must be"):
        model_image(base(figure_stretch="gamma"), 32)


# ---------------------------------------------------------------------------- sampler


def test_sampler_draws_every_morphology_ring_counts_up_to_eight_and_face_on_views():
    draws = [dsharp.sample_dsharp_params(np.random.default_rng(s), s % 4, SIZE) for s in range(300)]
    kinds = {p.morphology for p in draws}
    assert {"multi-ring", "spiral", "crescent"} <= kinds and kinds & {"full", "transition", "rings"}
    rings = [len(p.ring_radii_au) for p in draws if p.morphology == "multi-ring"]
    assert min(rings) == 1 and max(rings) >= 7 and len(set(rings)) >= 6
    new = [p for p in draws if p.morphology in ("multi-ring", "spiral", "crescent")]
    assert 0.15 < np.mean([p.inclination_deg == 0 for p in new]) < 0.35 and max(p.inclination_deg for p in new) > 60
    depths = [d for p in new for d in p.gap_depths]
    assert min(depths) < 0.1 and max(depths) > 0.8  # shallow to deep
    assert all(p.n_planets == s % 4 for s, p in enumerate(draws))
    assert all(0 < r < p.outer_radius_au for p in new for r in p.planet_radii_au)
    assert np.mean([p.inner_disk_amplitude > 0 for p in new]) > 0.5
    assert all(p.spiral_arms == 2 for p in new if p.morphology == "spiral")
    assert all(p.crescent_amplitude > 0 for p in new if p.morphology == "crescent")


def test_ring_widths_reach_down_to_about_one_beam():
    widths = []
    for s in range(100):
        p = dsharp.sample_dsharp_params(np.random.default_rng(s), s % 4, SIZE)
        if p.morphology == "multi-ring":
            widths += [w / FWHM_TO_SIGMA / (p.beam_fwhm_arcsec * p.distance_pc) for w in p.ring_widths_au]
    assert 0.69 <= min(widths) < 1.0 and np.median(widths) < 2.0  # FWHM in beams


def test_figures_preset_draws_the_same_disks_and_renders_a_share_as_figures():
    figures = 0
    for s in range(60):
        plain = dsharp.sample_preset_params("dsharp", np.random.default_rng(s), s % 4, SIZE)
        shown = dsharp.sample_preset_params("dsharp-figures", np.random.default_rng(s), s % 4, SIZE)
        assert replace(shown, figure_stretch="", figure_softening=0.0, figure_vmin=0.0, figure_vmax=1.0, figure_bits=0) == plain
        if shown.figure_stretch:
            figures += 1
            image, twin, noise = observe(shown, 48, np.random.default_rng(0))
            assert image.min() >= 0 and image.max() <= 1 and noise["figure"]["stretch"] == shown.figure_stretch
            if shown.figure_bits == 8:
                assert np.allclose(image * 255, np.round(image * 255)) and not np.allclose(twin * 255, np.round(twin * 255))
    assert 12 <= figures <= 36  # 40 % of 60
    with pytest.raises(ValueError, match="Unknown disk preset"):
        dsharp.sample_preset_params("alma", np.random.default_rng(0), 0, SIZE)


def test_old_family_params_and_images_are_unchanged():
    """Generator 2.1 images, twins and manifest parameters are byte-identical to those written before 3.0 existed."""
    from core.data.dataset_writer import render_with_twin

    golden = ["71b9368542537249 3c79be21274f6cd1 f931cfcb9f15be44", "218ff7cdfe8a656c 5dca8979ac57ba14 3fdf18c828fda1c6",
              "4e5f424d80542c2d fc55d38dabb760e1 868dfc2da89355bb", "e191f04d12e78fa3 eaeadecc4c7de24b 0b51190d33131228"]
    for i, want in enumerate(golden):
        image, params, twin, _ = render_with_twin("disks", i, 48, 11)
        got = [hashlib.sha256(image.tobytes()).hexdigest()[:16], hashlib.sha256(twin.tobytes()).hexdigest()[:16],
               hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]]
        assert " ".join(got) == want, i
    assert not set(sample_disk_params(np.random.default_rng(0), 1, 64).to_dict()) & set(dsharp.DiskParams.__dataclass_fields__) - set(
        DiskParams().to_dict())


# ---------------------------------------------------------------------------- data sets


def test_preset_data_sets_record_generator_3_and_their_clean_twins_match(tmp_path):
    from core.data.dataset_writer import simulate_dataset
    from core.data.datasets import load_tensors

    noisy = json.loads(simulate_dataset("disks", 8, 40, seed=3, out=tmp_path / "v2", progress=False, preset="dsharp-figures").read_text())
    clean = json.loads(simulate_dataset("disks", 8, 40, seed=3, out=tmp_path / "c2", progress=False, preset="dsharp-figures",
                                        noise="none").read_text())
    assert (noisy["version"], noisy["preset"]) == ("3.0", "dsharp-figures")
    assert [e["params"] for e in noisy["images"]] == [e["params"] for e in clean["images"]]
    load_tensors(tmp_path / "v2", 40)  # readable by training
    again = simulate_dataset("disks", 8, 40, seed=3, out=tmp_path / "v2", progress=False, preset="dsharp-figures")  # resumes
    assert json.loads(again.read_text())["images"] == noisy["images"]
    with pytest.raises(ValueError, match="already holds a different data set"):
        simulate_dataset("disks", 8, 40, seed=3, out=tmp_path / "v2", progress=False, preset="dsharp")
    with pytest.raises(ValueError, match="disks one of project, dsharp, dsharp-figures"):
        simulate_dataset("disks", 2, 40, out=tmp_path / "x", progress=False, preset="deeplense-model1")


def test_v2_configs_chain_to_generator_3_data():
    from pathlib import Path

    from core.cli.reproduce import chain, expected_manifest

    configs = Path(__file__).resolve().parents[1] / "configs"
    for name in ("disks-ae-equivariant-v2", "disks-ae-cnn-v2"):
        steps = chain(name, configs)
        data = {s.name: expected_manifest(s, configs) for s in steps if s.kind == "simulate" and s.name.endswith("-v2")}
        assert data and all((d["version"], d["preset"]) == ("3.0", "dsharp-figures") for d in data.values())
        assert steps[-1].values["model_config"]["image_size"] == 129
