"""The DeepLense presets reproduce the official recipes (github.com/mwt5345/DeepLenseSim) physically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import deeplense as dl
from core.data.dataset_writer import simulate_dataset
from core.io import read_image


def test_main_halo_einstein_radius_is_the_official_one():
    # DeepLens.mass_to_radius(1e12, 0.5, 1.0) with luminosity distances, FlatLambdaCDM(70, 0.3, Ob0=0.05)
    assert dl.einstein_radius_arcsec(1e12) == pytest.approx(1.2815, abs=1e-3)
    # theta_E scales as sqrt(M)
    assert dl.einstein_radius_arcsec(1e10) == pytest.approx(dl.einstein_radius_arcsec(1e12) / 10, rel=1e-9)


def test_cdm_population_count_mass_range_slope_and_radii():
    rng = np.random.default_rng(0)
    draws = [dl.sample_params("deeplense-model1", "cdm", rng) for _ in range(400)]
    assert all(len(p.subhalo_mass_msun) == 25 for p in draws)
    masses = np.concatenate([p.subhalo_mass_msun for p in draws])
    assert masses.min() >= 1e6 and masses.max() <= 1e10
    # inverse CDF of m^(beta+1), beta = -0.9: u = (m^0.1 - lo^0.1) / (hi^0.1 - lo^0.1) is uniform
    u = (masses**0.1 - 1e6**0.1) / (1e10**0.1 - 1e6**0.1)
    assert np.histogram(u, bins=10, range=(0, 1))[0] == pytest.approx(np.full(10, len(u) / 10), rel=0.1)
    radius = np.hypot(np.concatenate([p.subhalo_x_arcsec for p in draws]), np.concatenate([p.subhalo_y_arcsec for p in draws]))
    assert radius.min() >= 0.25 and radius.max() <= 2.0
    assert np.mean(radius < 1.125) == pytest.approx(0.5, abs=0.03)  # uniform in r, not in area


def test_vortex_is_a_line_of_100_equal_masses_whose_length_follows_the_axion_mass():
    rng = np.random.default_rng(1)
    p = dl.sample_params("deeplense-model1", "vortex", rng)
    assert 1e-24 <= p.axion_mass_ev <= 1e-22
    models, kwargs = dl.lens_model(p)
    assert models.count("POINT_MASS") == 100
    xs = np.array([k["center_x"] for k in kwargs[2:]])
    ys = np.array([k["center_y"] for k in kwargs[2:]])
    # a straight line through the centre, of half-length 3e-24 eV / m_a arcsec
    assert np.abs(xs * np.sin(p.vortex_angle_rad) - ys * np.cos(p.vortex_angle_rad)).max() < 1e-12
    assert np.hypot(xs, ys).max() == pytest.approx(3e-24 / p.axion_mass_ev, rel=1e-9)
    thetas = {round(k["theta_E"], 12) for k in kwargs[2:]}
    assert len(thetas) == 1 and thetas.pop() == pytest.approx(float(dl.einstein_radius_arcsec(3e8)), rel=1e-9)


def _fwhm_pixels(image: np.ndarray) -> float:
    peak_row = image[image.shape[0] // 2]
    above = np.flatnonzero(peak_row >= peak_row.max() / 2)
    return float(above[-1] - above[0] + 1)


@pytest.mark.parametrize("preset", dl.PRESETS)
def test_psf_fwhm_and_pixel_scale_of_each_instrument(preset, monkeypatch):
    # a tiny unlensed source (no substructure, lens mass ~ 0) images the PSF
    p = dl.sample_params(preset, "no_sub", np.random.default_rng(2), size=41)
    p.source_x_arcsec = p.source_y_arcsec = 0.0
    monkeypatch.setattr(dl, "MAIN_HALO_MASS_MSUN", 1e-6)
    monkeypatch.setattr(dl, "SOURCE_R_SERSIC", 0.002)
    monkeypatch.setattr(dl, "SOURCE_E1", 0.0)
    monkeypatch.setattr(dl, "SOURCE_E2", 0.0)
    monkeypatch.setattr(dl, "SHEAR_GAMMA1", 0.0)
    image = dl.model1_noiseless(p) if preset == "deeplense-model1" else dl.model2_noiseless(p)
    fwhm_arcsec = _fwhm_pixels(image) * dl.pixel_scale_arcsec(preset)
    assert fwhm_arcsec == pytest.approx(dl.psf_fwhm_arcsec(preset), abs=dl.pixel_scale_arcsec(preset))
    assert dl.pixel_scale_arcsec(preset) == {"deeplense-model1": 0.05, "deeplense-model2": 0.101}[preset]


def test_model1_counts_are_poisson_with_the_official_background():
    rng = np.random.default_rng(3)
    model = np.zeros((200, 200))
    exposure = 2000.0
    counts = dl.model1_counts(model, exposure, rng)
    assert counts.dtype == np.int64
    # empty sky: Poisson of clip(t * N(0, 0.01), 0): mean t * 0.01 / sqrt(2 pi)
    assert counts.mean() == pytest.approx(exposure * 0.01 / np.sqrt(2 * np.pi), rel=0.05)
    bright = dl.model1_counts(np.full((200, 200), 0.5), exposure, rng)
    # variance = t m (Poisson of the Gaussian approximation) + t^2 (m / t + 0.01^2) = 2 t m + (0.01 t)^2
    assert bright.mean() == pytest.approx(exposure * 0.5, rel=0.01)
    assert bright.var() == pytest.approx(2 * exposure * 0.5 + (0.01 * exposure) ** 2, rel=0.08)


def test_model2_as_written_is_twice_the_noiseless_image_and_euclid_noise_is_unbiased():
    p = dl.sample_params("deeplense-model2", "cdm", np.random.default_rng(4))
    model = dl.model2_noiseless(p)
    assert np.array_equal(dl.render(p, np.random.default_rng(0)), 2 * model)
    noisy_p = dl.sample_params("deeplense-model2", "cdm", np.random.default_rng(4), noise="euclid")
    noisy = dl.render(noisy_p, np.random.default_rng(0))
    assert noisy.shape == (64, 64) and not np.allclose(noisy, model)
    assert (noisy - model).mean() == pytest.approx(0, abs=5 * (noisy - model).std() / 64)


def test_substructure_changes_the_image_only_where_it_lenses():
    rng = np.random.default_rng(5)
    p = dl.sample_params("deeplense-model2", "vortex", rng)
    smooth = dl.DeepLenseParams(**{**p.to_dict(), "substructure": "no_sub"})
    diff = np.abs(dl.model2_noiseless(p) - dl.model2_noiseless(smooth))
    assert diff.max() > 0.01 * dl.model2_noiseless(smooth).max()


def test_presets_on_the_command_line_write_the_official_formats(tmp_path):
    out = tmp_path / "m1"
    simulate_dataset("lenses", 3, None, seed=0, out=out, progress=False, preset="deeplense-model1", native=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["preset"] == "deeplense-model1" and manifest["size"] == 150
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cdm", "no_sub", "vortex"]
    raw = np.load(out / "no_sub" / "000000.npy")
    assert raw.dtype == np.int64 and raw.shape == (150, 150)  # raw counts, as the official Model I
    with pytest.raises(ValueError):
        np.load(out / "vortex" / "000002.npy")  # an object array: numpy refuses it without pickle
    loaded = read_image(out / "vortex" / "000002.npy")
    assert loaded.meta.axion_mass_ev == pytest.approx(manifest["images"][2]["params"]["axion_mass_ev"])
    assert loaded.data.shape == (150, 150)
    default = simulate_dataset("lenses", 3, None, seed=0, out=tmp_path / "m2", progress=False, preset="deeplense-model2")
    assert json.loads(default.read_text())["size"] == 64


def test_a_preset_folder_is_not_mistaken_for_another_data_set(tmp_path):
    simulate_dataset("lenses", 3, 32, seed=0, out=tmp_path, progress=False, preset="deeplense-model2")
    with pytest.raises(ValueError, match="different data set"):
        simulate_dataset("lenses", 3, 32, seed=0, out=tmp_path, progress=False)


def test_train_from_a_deeplense_layout_folder_with_native_files(tmp_path):
    """DeepLense's own layout (no/, sphere/, vort/ with [image, axion mass] records) trains with one command."""
    import torch

    from core.cli import main
    from core.data.dataset_writer import render

    root = tmp_path / "deeplense"
    folders = {"no_sub": "no", "cdm": "sphere", "vortex": "vort"}
    for i in range(12):
        image, params = render("lenses", i, 33, seed=7, preset="deeplense-model2")
        label = ("no_sub", "cdm", "vortex")[i % 3]
        (root / folders[label]).mkdir(parents=True, exist_ok=True)
        dl.save_native(root / folders[label] / f"sim_{i}.npy", image.astype(np.float64), params["axion_mass_ev"])
    args = ["train", "--data", str(root), "--model", "cnn_classifier", "--epochs", "1", "--batch-size", "4",
            "--name", "dl-tiny", "--out", str(tmp_path / "out"), "--work-dir", str(tmp_path / "w"), "--device", "cpu",
            "--set", "model_config.image_size=33", "--set", "model_config.channels=[4, 4, 4, 4]"]
    assert main(args) == 0
    raw = torch.load(tmp_path / "out" / "dl-tiny.pt", weights_only=True)
    assert raw["classes"] == ["no_sub", "cdm", "vortex"]
    index = json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"][0]
    assert index["data"]["n"] == 12 and index["kind"] == "classifier"


@pytest.mark.parametrize("name", ["equivariant_classifier", "cnn_classifier"])
def test_a_central_crop_sees_only_the_middle_of_the_grid(name):
    import torch

    from core.models.registry import build_model

    config = {"image_size": 41, "crop": 17, "n_classes": 3}
    config.update({"fields": (2, 2, 2, 2), "group": "D4"} if name.startswith("equivariant") else {"channels": (4, 4, 4, 4)})
    model = build_model(name, config).eval()
    x = torch.rand(2, 1, 41, 41)
    y = x.clone()
    y[..., :12, :] = 0.0  # outside the central 17 px (rows 12-28)
    with torch.no_grad():
        assert torch.allclose(model(x), model(y))
        if name.startswith("equivariant"):
            rel = (model(torch.rot90(x, 1, (2, 3))) - model(x)).norm() / model(x).norm()
            assert rel < 1e-5 and (model(torch.flip(x, (3,))) - model(x)).norm() / model(x).norm() < 1e-5
    with pytest.raises(ValueError, match="central crop"):
        build_model(name, {**config, "crop": 16})


def test_model2_deflections_equal_lenstronomy_multi_plane_with_the_official_source_convention():
    """The official Model II call (lens redshifts + cosmology + z_source_convention=2.5) ray-traces in
    multi-plane mode; with every lens at z=0.5 that is single-plane tracing with scaled deflections."""
    from astropy.cosmology import FlatLambdaCDM
    from lenstronomy.LensModel.lens_model import LensModel

    p = dl.sample_params("deeplense-model2", "cdm", np.random.default_rng(0))
    models, scaled = dl.lens_model(p)
    f = dl.convention_scale()
    assert f == pytest.approx(0.634, abs=0.002) and scaled[0]["theta_E"] == pytest.approx(0.812, abs=0.002)
    official = [dict(k) for k in scaled]
    official[0]["theta_E"] /= f
    official[1]["gamma1"] /= f
    for k in official[2:]:
        k["theta_E"] /= np.sqrt(f)
    multi = LensModel(models, lens_redshift_list=[0.5] * len(models), z_source=1.0, z_source_convention=2.5, multi_plane=True,
                      cosmo=FlatLambdaCDM(H0=70, Om0=0.3, Ob0=0.05), cosmo_interp=True)
    x, y = np.linspace(-2, 2, 9), np.linspace(-1.5, 1.8, 9)
    np.testing.assert_allclose(multi.ray_shooting(x, y, official), LensModel(models).ray_shooting(x, y, scaled), atol=1e-10)
    model1 = dl.sample_params("deeplense-model1", "no_sub", np.random.default_rng(0))
    assert dl.lens_model(model1)[1][0]["theta_E"] == pytest.approx(1.2815, abs=1e-3)  # Model I: single plane, unscaled
