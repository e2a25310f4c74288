"""core.data.observe: the sky is turned, then observed (noiseless twins, fresh noise, the model grid);
the twin writer; the training hook; the super-resolution degradations."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.data import observe as ob

torch.set_num_threads(1)


def blobs(size: int = 33, n: int = 1) -> torch.Tensor:
    """A PSF-smoothed sky (n, 1, size, size): three Gaussian sources of sigma 1.5-2 px inside the inscribed circle."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    sky = sum(a * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * s**2))
              for a, x0, y0, s in [(1.0, 4.0, -3.0, 1.5), (0.6, -7.0, 2.0, 2.0), (0.3, 1.0, 9.0, 1.8)])
    return torch.from_numpy(sky.astype(np.float32))[None, None].repeat(n, 1, 1, 1)


def circle(size: int) -> torch.Tensor:
    return ob._radii(size, size) <= (size - 1) / 2 - 1


def geometry(angle: float, n: int, flip: bool = False) -> dict:
    z = torch.zeros(n, dtype=torch.float64)
    return {"angle_deg": torch.full((n,), angle, dtype=torch.float64), "flip": torch.full((n,), flip), "dy": z, "dx": z,
            "psf_factor": torch.ones(n, dtype=torch.float64)}


def lag_correlation(x: torch.Tensor, dy: int, dx: int) -> float:
    """Mean correlation of pixel pairs (dy, dx) apart in the central region of x (B, 1, H, W)."""
    h = x.shape[-1]
    a = x[..., 8 : h - 8, 8 : h - 8]
    b = torch.roll(x, shifts=(-dy, -dx), dims=(-2, -1))[..., 8 : h - 8, 8 : h - 8]
    a, b = a - a.mean(dim=(2, 3), keepdim=True), b - b.mean(dim=(2, 3), keepdim=True)
    return float((a * b).mean() / (a.std() * b.std()))


# ---------------------------------------------------------------------------- turning the sky


def test_right_angle_turns_are_exact_and_a_constant_sky_stays_constant_at_any_angle():
    x = blobs(n=3)
    turned = ob.turn(x, torch.tensor([90.0, 180.0, 270.0]), torch.tensor([False, True, False]))
    expected = torch.stack([torch.rot90(x[0], 1, (-2, -1)), torch.rot90(x[1].flip(-1), 2, (-2, -1)), torch.rot90(x[2], 3, (-2, -1))])
    assert torch.equal(turned, expected)
    # through the interpolating path (a shift of 1e-9 px) the turn lands on pixel centres: rot90 to float rounding
    nudged = ob.turn(x, torch.tensor([90.0, 180.0, 270.0]), torch.tensor([False, True, False]), dy=torch.full((3,), 1e-9))
    torch.testing.assert_close(nudged, expected, atol=1e-6, rtol=0)
    # the corners a turn brings in are filled from the sky's own profile, not with zeros
    flat = torch.full((2, 1, 33, 33), 3.0)
    turned = ob.turn(flat, torch.tensor([45.0, 30.0]), torch.tensor([False, True]), dx=torch.tensor([0.3, -0.4]))
    torch.testing.assert_close(turned, flat, atol=1e-5, rtol=0)
    assert float(ob.resample(flat, torch.tensor([45.0, 30.0]), torch.tensor([False, True]))[..., 0, 0].max()) < 1.0


def test_the_turn_conserves_flux_inside_the_circle_and_moves_the_sources_counter_clockwise():
    x = blobs(n=4)
    angles = torch.tensor([17.0, 45.0, 123.4, 200.0], dtype=torch.float64)
    turned = ob.turn(x, angles, torch.tensor([False, True, False, True]), dy=torch.tensor([0.3, -0.2, 0.0, 0.5]))
    inside = circle(33)
    flux, flux_turned = x[..., inside].sum(-1), turned[..., inside].sum(-1)
    torch.testing.assert_close(flux_turned, flux, rtol=1e-3, atol=0)
    # the brightest source (4, -3) px from the centre (x right, y down) lands at its turned position
    a = math.radians(45.0)
    one = ob.turn(x[:1], torch.tensor([45.0]), torch.tensor([False]))
    peak = torch.nonzero(one == one.max())[0]
    u, v = 4.0 * math.cos(a) + -3.0 * math.sin(a), -4.0 * math.sin(a) + -3.0 * math.cos(a)  # counter-clockwise on screen
    assert (int(peak[-1]) - 16, int(peak[-2]) - 16) == (round(u), round(v))


# ---------------------------------------------------------------------------- noise afresh


def gaussian_table(n: int, flux_variance: float = 0.01, background_rms: float = 0.05) -> ob.NoiseTable:
    return ob.noise_table([{"kind": "gaussian", "flux_variance": flux_variance, "background_rms": background_rms,
                            "psf_fwhm_px": 2.0}] * n)


def test_noise_of_a_turned_twin_is_the_presets_at_any_angle_unlike_a_turned_noisy_image():
    n, size, m0 = 8, 65, 2.0
    twin = torch.full((n, 1, size, size), m0)
    g = torch.Generator().manual_seed(0)
    expected_var = m0 * 0.01 + 0.05**2
    for angle in (0.0, 45.0, 90.0):
        geo = geometry(angle, n)
        seen = ob.add_noise(ob.turn(twin, geo["angle_deg"], geo["flip"]), gaussian_table(n), g)
        region = seen[..., 8:-8, 8:-8]
        assert float(region.mean()) == pytest.approx(m0, abs=0.01)
        assert float(region.var()) == pytest.approx(expected_var, rel=0.05)
        assert abs(lag_correlation(seen, 0, 1)) < 0.03 and abs(lag_correlation(seen, 1, 1)) < 0.03  # white, as observed
    # turning an observation instead smooths its noise: less variance, correlated neighbours
    noisy = ob.add_noise(twin, gaussian_table(n), g)
    turned = ob.resample(noisy, torch.full((n,), 45.0), torch.zeros(n, dtype=torch.bool), mode="bilinear")
    assert float(turned[..., 16:-16, 16:-16].var()) < 0.8 * expected_var and lag_correlation(turned[..., 8:-8, 8:-8], 0, 1) > 0.1


def test_model1_counts_of_a_turned_twin_match_the_official_recipe_on_the_unturned_sky():
    from core.data.deeplense import model1_counts

    n, size, m0, t = 8, 49, 0.05, 1500.0
    table = ob.noise_table([{"kind": "counts", "exposure_time": t, "background_rms": 0.01, "psf_fwhm_px": 1.74}] * n)
    geo = geometry(45.0, n)
    twin = torch.full((n, 1, size, size), m0)
    seen = ob.add_noise(ob.turn(twin, geo["angle_deg"], geo["flip"]), table, torch.Generator().manual_seed(1))
    reference = model1_counts(np.full((n, size, size), m0), t, np.random.default_rng(1))
    assert torch.equal(seen, seen.round()) and float(seen.min()) >= 0  # counts
    assert float(seen.mean()) == pytest.approx(float(reference.mean()), rel=0.01)
    assert float(seen.var()) == pytest.approx(float(reference.var()), rel=0.05)  # 2 t m + (0.01 t)^2: noise, then Poisson
    assert float(seen.var()) == pytest.approx(2 * t * m0 + (0.01 * t) ** 2, rel=0.05)


def elliptical_disk_params():
    from core.data.disks import DiskParams

    return DiskParams(beam_fwhm_arcsec=0.1, beam_minor_fwhm_arcsec=0.05, beam_pa_deg=30.0, pixel_scale_arcsec=0.02, snr=40.0)


def test_the_beam_kernel_is_the_simulators_and_disk_noise_turned_by_90_is_the_turn_of_a_fresh_observation():
    from core.data import disks

    p = elliptical_disk_params()
    noise = disks.noise_params(p)
    kernel = ob.gaussian_kernels(torch.tensor([noise["beam_major_px"]]), torch.tensor([noise["beam_minor_px"]]),
                                 torch.tensor([noise["beam_theta_deg"]]))[0]
    np.testing.assert_allclose(kernel.numpy(), disks.beam_kernel(p).array, atol=1e-7)
    n, size = 16, 65
    table = ob.noise_table([noise] * n)
    ours = ob.add_noise(torch.zeros(n, 1, size, size), table, torch.Generator().manual_seed(2),
                        angle_deg=torch.full((n,), 90.0, dtype=torch.float64))
    rng = np.random.default_rng(2)
    fresh = torch.from_numpy(np.stack([disks.add_noise(np.zeros((size, size)), p, rng) for _ in range(n)]).astype(np.float32))[:, None]
    turned = torch.rot90(fresh, 1, (-2, -1))
    assert float(ours.std()) == pytest.approx(1 / p.snr, rel=0.03)
    lags = [(0, 1), (1, 0), (1, 1), (1, -1), (2, 1), (1, 2)]
    for lag in lags:
        assert lag_correlation(ours, *lag) == pytest.approx(lag_correlation(turned, *lag), abs=0.03)
    assert abs(lag_correlation(fresh, 1, 1) - lag_correlation(turned, 1, 1)) > 0.1  # the beam's angle is seen
    # mirrored, then turned by 30 degrees: the beam of a fresh observation at position angle -30 - PA
    ours = ob.add_noise(torch.zeros(n, 1, size, size), table, torch.Generator().manual_seed(3),
                        angle_deg=torch.full((n,), 30.0, dtype=torch.float64), flip=torch.ones(n, dtype=torch.bool))
    other = replace(p, beam_pa_deg=-30.0 - p.beam_pa_deg)
    fresh = torch.from_numpy(np.stack([disks.add_noise(np.zeros((size, size)), other, rng) for _ in range(n)]).astype(np.float32))[:, None]
    for lag in lags:
        assert lag_correlation(ours, *lag) == pytest.approx(lag_correlation(fresh, *lag), abs=0.03)


# ---------------------------------------------------------------------------- the model grid


def test_an_unturned_observation_is_prepared_exactly_as_a_stored_image():
    from core.data.preprocess import prepare

    twin = blobs(64, n=2) + 0.01
    table = ob.noise_table([{"kind": "none", "scale": 2.0, "psf_fwhm_px": 1.6}] * 2)  # Model II as written
    out = ob.observe_twins(twin, table, 65, geometry=geometry(0.0, 2))
    expected = torch.from_numpy(np.stack([prepare((2 * twin[i, 0]).numpy(), 65) for i in range(2)]))[:, None]
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    turned = ob.observe_twins(twin, table, 65, geometry=geometry(90.0, 2, flip=True))
    torch.testing.assert_close(turned, torch.rot90(expected.flip(-1), 1, (-2, -1)), atol=1e-6, rtol=0)
    counts = torch.poisson(blobs(150, n=2) * 300, torch.Generator().manual_seed(0))  # shrinking: antialiased
    expected = torch.from_numpy(np.stack([prepare(c[0].numpy().astype(np.int32), 129) for c in counts]))[:, None]
    torch.testing.assert_close(ob.to_model_grid(counts, 129), expected, atol=1e-6, rtol=0)


def test_psf_jitter_widens_the_psf_by_the_drawn_factor():
    point = torch.zeros(1, 1, 65, 65)
    point[..., 32, 32] = 1.0
    psf = ob.gaussian_blur(point, torch.tensor([2.0 * ob.FWHM_TO_SIGMA * 3]))  # FWHM 6 px
    wider = ob.widen_psf(psf, torch.tensor([6.0], dtype=torch.float64), torch.tensor([1.1], dtype=torch.float64))
    r2 = ob._radii(65, 65) ** 2
    fwhm = lambda im: math.sqrt(float((im[0, 0] * r2).sum() / im.sum()) / 2) / ob.FWHM_TO_SIGMA  # noqa: E731
    assert fwhm(psf) == pytest.approx(6.0, rel=0.01) and fwhm(wider) == pytest.approx(6.6, rel=0.01)
    assert torch.equal(ob.widen_psf(psf, torch.tensor([6.0]), torch.tensor([1.0])), psf)
    draws = ob.draw(2000, ob.ObserveConfig(shift_px=0.5, psf_jitter=0.05), torch.Generator().manual_seed(0))
    assert 1.0 <= float(draws["psf_factor"].min()) and float(draws["psf_factor"].max()) <= 1.05
    assert float(draws["dx"].abs().max()) <= 0.5 and 170 < float(draws["angle_deg"].mean()) < 190


def test_pipeline_resampling_smooths_the_chosen_share_and_leaves_the_others_alone():
    noisy = torch.randn(400, 1, 33, 33, generator=torch.Generator().manual_seed(1)) + 10.0
    out = ob.pipeline_resample(noisy, 0.25, torch.Generator().manual_seed(2))
    changed = (out - noisy).flatten(1).abs().amax(1) > 0
    assert 60 < int(changed.sum()) < 140  # about a quarter
    assert torch.equal(out[~changed], noisy[~changed])
    inner = (slice(None), 0, slice(8, 25), slice(8, 25))
    assert float(out[changed][inner].std()) < 0.8 * float(noisy[changed][inner].std())  # bilinear resampling smooths white noise
    assert torch.equal(ob.pipeline_resample(noisy, 0.0), noisy)


def test_cosmic_ray_hits_are_compact_as_many_as_asked_and_in_units_of_the_noise():
    from scipy import ndimage

    rms = torch.tensor([1.0, 3.0]).repeat(200)
    hits = ob.cosmic_rays((400, 1, 40, 40), rms, density=6.0, generator=torch.Generator().manual_seed(3))
    assert hits.shape == (400, 1, 40, 40) and float(hits.min()) >= 0
    blobs_per_image = [ndimage.label(h[0].numpy() > 0)[1] for h in hits]
    expected = 6.0 / 2 * 40 * 40 / 1000  # the mean per image is uniform in [0, density] per 1000 pixels
    assert 0.8 * expected < np.mean(blobs_per_image) < 1.1 * expected  # (a few hits touch and count as one)
    assert 0.03 < np.mean(np.array(blobs_per_image) == 0) < 0.3  # some images are clean, as deep stacks are
    pixels_per_blob = float((hits > 0).sum()) / sum(blobs_per_image)
    assert 1.0 < pixels_per_blob < 10.0  # short tracks: no PSF wings
    flux = hits.flatten(1).sum(1)
    assert float(flux[1::2].mean()) > 2.0 * float(flux[0::2].mean())  # in units of each image's background sigma
    peak = hits.flatten(1).amax(1)[flux > 0]
    assert float(peak.max()) > 50 and float(peak.median()) > 3  # from faint to saturated
    again = ob.cosmic_rays((400, 1, 40, 40), rms, density=6.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(hits, again)  # from the generator only
    assert float(ob.cosmic_rays((4, 1, 40, 40), torch.ones(4), density=0.0).abs().max()) == 0


def outliers(x: torch.Tensor) -> int:
    """Pixels of x (B, 1, H, W) 8 robust sigmas above the median of their 3 x 3 neighbourhood."""
    local = torch.nn.functional.unfold(x, 3, padding=1).median(dim=1).values.view_as(x)
    r = x - local
    sigma = 1.4826 * (r - r.median()).abs().median()
    return int((r > 8 * sigma).sum())


def test_observed_twins_carry_hits_only_when_asked_and_only_for_ccd_noise():
    sky = blobs(33, 8)
    gaussian = ob.NoiseTable("gaussian", {"flux_variance": torch.full((8,), 0.0, dtype=torch.float64),
                                           "background_rms": torch.full((8,), 0.05, dtype=torch.float64),
                                           "psf_fwhm_px": torch.full((8,), 2.0, dtype=torch.float64)}, 1)
    g = geometry(0.0, 8)
    clean = ob.observe_twins(sky, gaussian, 33, ob.ObserveConfig(), torch.Generator().manual_seed(5), g)
    hit = ob.observe_twins(sky, gaussian, 33, ob.ObserveConfig(cosmic_rays=40.0), torch.Generator().manual_seed(5), g)
    assert outliers(clean) < 5 < 20 < outliers(hit)  # white noise has no 8-sigma outliers; the hits are
    counts = ob.NoiseTable("counts", {"exposure_time": torch.full((8,), 100.0, dtype=torch.float64),
                                      "background_rms": torch.full((8,), 0.05, dtype=torch.float64),
                                      "psf_fwhm_px": torch.full((8,), 2.0, dtype=torch.float64)}, 1)
    with pytest.raises(ValueError, match="CCD"):
        ob.observe_twins(sky, counts, 33, ob.ObserveConfig(cosmic_rays=5.0), None, g)
    from core.errors import InputError
    from core.train.config import TrainConfig

    with pytest.raises(InputError, match="augment_cosmic_rays"):
        TrainConfig(augment_cosmic_rays=5.0, augment_rotations="continuous")


# ---------------------------------------------------------------------------- the twins on disk


def files_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def test_twins_are_written_byte_identically_by_any_number_of_workers_and_an_interrupted_run_resumes(tmp_path):
    from core.data.dataset_writer import simulate_dataset

    plain, one, two, cut = (tmp_path / d for d in ("plain", "one", "two", "cut"))
    simulate_dataset("lenses", 6, 32, seed=9, out=plain, progress=False)
    simulate_dataset("lenses", 6, 32, seed=9, out=one, progress=False, twins=True)
    simulate_dataset("lenses", 6, 32, seed=9, out=two, workers=2, progress=False, twins=True)
    assert files_bytes(one) == files_bytes(two) and len(files_bytes(one)) == 12
    assert {k: v for k, v in files_bytes(one).items() if not k.startswith("noiseless/")} == files_bytes(plain)

    def stop_after_three(done, total, message):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_dataset("lenses", 6, 32, seed=9, out=cut, progress=stop_after_three, twins=True)
    assert len(files_bytes(cut)) == 6  # three images and their twins
    simulate_dataset("lenses", 6, 32, seed=9, out=cut, progress=False, twins=True)
    assert files_bytes(cut) == files_bytes(one)
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["twins"] == "noiseless" and json.loads((two / "manifest.json").read_text())["images"] == manifest["images"]
    # the twin plus the recorded noise is the image: (image - twin) / sigma(twin) is unit white noise
    z = []
    for e in manifest["images"]:
        image, twin = np.load(one / e["file"]), np.load(one / e["twin"])
        assert e["twin"] == f"noiseless/{e['file']}" and twin.dtype == np.float32 and twin.shape == image.shape
        sigma = np.sqrt(np.abs(twin) * e["noise"]["flux_variance"] + e["noise"]["background_rms"] ** 2)
        z.append((image - twin) / sigma)
    assert np.std(z) == pytest.approx(1.0, rel=0.05) and abs(np.mean(z)) < 0.05


def test_disk_twins_carry_their_beam_and_snr_and_the_data_set_loads_them(tmp_path):
    from core.data.dataset_writer import simulate_dataset
    from core.data.datasets import load_twins, scan_dataset

    simulate_dataset("disks", 4, 32, seed=2, out=tmp_path / "d", progress=False, twins=True)
    index = scan_dataset(tmp_path / "d")
    twins = load_twins(index, 33)
    assert twins.images.shape == (4, 1, 32, 32) and twins.noise.kind == "correlated" and twins.size == 33
    for i, e in enumerate(index.manifest["images"]):
        residual = np.load(index.files[i]) - twins.images[i, 0].numpy()
        assert residual.std() == pytest.approx(e["noise"]["sigma"], rel=0.02)  # std 1 / snr exactly (normalised)
        assert e["noise"]["psf_fwhm_px"] == pytest.approx(e["params"]["beam_fwhm_arcsec"] / e["params"]["pixel_scale_arcsec"])
    index.twins[1].unlink()
    with pytest.raises(Exception, match="noiseless twins listed"):
        scan_dataset(tmp_path / "d")
    simulate_dataset("disks", 4, 32, seed=2, out=tmp_path / "plain", progress=False)
    assert load_twins(scan_dataset(tmp_path / "plain"), 33) is None


# ---------------------------------------------------------------------------- the training hook


def test_training_observes_the_twins_in_batches_of_the_model_grid_and_falls_back_without_them(tmp_path, capsys):
    from core.data.dataset_writer import simulate_dataset
    from core.data.transforms import RandomE2Augment
    from core.train.config import TrainConfig
    from core.train.fold import Augmented, make_augment
    from core.train.train_data import load_data

    simulate_dataset("lenses", 9, 32, seed=4, out=tmp_path / "tw", progress=False, twins=True)
    cfg = TrainConfig(data=str(tmp_path / "tw"), model="cnn_classifier", augment_rotations="continuous-physical",
                      model_config={"image_size": 33, "channels": [2, 4, 4], "hidden": 8}, val_fraction=0.34, device="cpu")
    data = load_data(cfg)
    assert data.twins is not None and data.twins.images.shape == (9, 1, 32, 32)
    augment = make_augment(cfg, data.kind).bind(data.twins)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.X, data.y, torch.arange(9)), batch_size=4)
    batches = list(Augmented(loader, augment))
    x, y = batches[0]
    assert x.shape == (4, 1, 33, 33) and torch.equal(y, data.y[:4])
    assert torch.allclose(x.amin(dim=(2, 3)), torch.zeros(4)) and torch.allclose(x.amax(dim=(2, 3)), torch.ones(4))
    assert not torch.allclose(x, data.X[:4], atol=0.05)  # observed again, not the stored image
    with pytest.raises(Exception, match="augment_rotations"):
        TrainConfig(augment_rotations="physical")

    simulate_dataset("lenses", 3, 32, seed=4, out=tmp_path / "plain", progress=False)
    cfg = TrainConfig(**{**cfg.to_dict(), "data": str(tmp_path / "plain")})
    plain = load_data(cfg)
    assert plain.twins is None and "falls back to exact 90-degree turns" in capsys.readouterr().err
    fallback = make_augment(cfg, plain.kind).bind(plain.twins)
    assert isinstance(fallback, RandomE2Augment) and fallback.rotations == "right"


def test_fit_trains_with_continuous_physical_augmentation(tmp_path):
    from core.data.dataset_writer import simulate_dataset
    from core.train.config import TrainConfig
    from core.train.fit import fit

    simulate_dataset("lenses", 9, 32, seed=4, out=tmp_path / "tw", progress=False, twins=True)
    cfg = TrainConfig(data=str(tmp_path / "tw"), model="cnn_classifier", augment_rotations="continuous-physical",
                      model_config={"image_size": 33, "channels": [2, 4, 4], "hidden": 8}, val_fraction=0.34, epochs=1,
                      batch_size=3, name="phys", out=str(tmp_path / "out"), work_dir=str(tmp_path / "w"), device="cpu")
    raw = torch.load(fit(cfg), weights_only=True)
    assert raw["train_config"]["augment_rotations"] == "continuous-physical" and len(raw["history"]["train_loss"]) == 1


# ---------------------------------------------------------------------------- degradations for super-resolution


def test_degradations_block_mean_wider_gaussian_and_airy_psfs_noise_and_offsets():
    flat = torch.full((1, 1, 8, 8), 2.0)
    assert torch.equal(ob.block_mean(flat, 2), torch.full((1, 1, 4, 4), 2.0))
    for kind in ("gaussian", "airy"):
        k = ob.psf_kernels([kind], torch.tensor([4.0]))[0].double()
        n = k.shape[-1]
        profile = k[n // 2]  # the central row: half maximum at +-2 px
        xs = torch.arange(n, dtype=torch.float64) - n // 2
        fine = torch.linspace(0, float(xs.max()), 2001, dtype=torch.float64)
        values = np.interp(fine.numpy(), xs[n // 2 :].numpy(), profile[n // 2 :].numpy())
        width = 2 * fine[int(np.argmax(values < profile.max().item() / 2))]
        assert float(width) == pytest.approx(4.0, rel=0.08)  # pixel integration widens the sampled core a little
        assert float(k.sum()) == pytest.approx(1.0)
    hr = blobs(64, n=2)
    g = torch.Generator().manual_seed(0)
    clean = ob.degrade(hr, torch.tensor([2.0, 2.0]), ["gaussian", "airy"], torch.tensor([2.0, 3.0]), torch.zeros(2),
                       torch.zeros(2), torch.zeros(2))
    assert clean.shape == (2, 1, 32, 32)
    torch.testing.assert_close(clean.sum(dim=(2, 3)) * 4, hr.sum(dim=(2, 3)), rtol=2e-2, atol=0)  # flux kept
    assert float(clean[0].max()) < float(ob.block_mean(hr, 2)[0].max())  # wider PSF
    moved = ob.degrade(hr[:1], torch.tensor([2.0]), ["gaussian"], torch.tensor([2.0]), torch.zeros(1), torch.zeros(1),
                       torch.tensor([1.0]))
    centroid = lambda im: float((im[0, 0] * torch.arange(im.shape[-1])).sum() / im.sum())  # noqa: E731
    assert centroid(moved) - centroid(clean[:1]) == pytest.approx(0.5, abs=0.02)  # one HR pixel = half an LR pixel
    noisy = ob.degrade(torch.zeros(1, 1, 64, 64) + 1.0, torch.tensor([2.0]), ["gaussian"], torch.tensor([2.0]),
                       torch.tensor([0.05]), torch.zeros(1), torch.zeros(1), generator=g)
    assert float(noisy[..., 4:-4, 4:-4].std()) == pytest.approx(0.05, rel=0.15)
    lr = ob.random_degradation(hr, 2.0, ob.Degradation(), g)
    assert lr.shape == (2, 1, 32, 32) and bool(torch.isfinite(lr).all()) and not torch.allclose(lr, clean)
    with pytest.raises(ValueError, match="PSF kind"):
        ob.psf_kernels(["moffat"], torch.tensor([3.0]))
