"""Super-resolution pairs (core.data.pairs): LR and HR show the same sky through the stated instruments."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from core.data import deeplense as dl
from core.data import pairs
from core.data.dataset_writer import simulate_dataset
from core.data.lenses import sample_lens_params

SIGMA_PER_FWHM = 1 / (2 * np.sqrt(2 * np.log(2)))
PRESETS = ("project", "deeplense-model1", "deeplense-model2")


def _system(preset: str, size: int, seed: int = 3, label: str = "cdm"):
    rng = np.random.default_rng(seed)
    params = sample_lens_params(rng, size) if preset == "project" else dl.sample_params(preset, label, rng, size)
    return params, rng


@pytest.mark.parametrize("preset", PRESETS)
def test_lr_and_hr_show_the_same_sky(preset):
    size = {"project": 150, "deeplense-model1": 100, "deeplense-model2": 48}[preset]  # the ring inside the field, native pixels
    params, rng = _system(preset, size)
    state = rng.bit_generator.state
    lr, hr, _ = pairs.render_pair(params, "cdm", preset, size, rng)
    rng.bit_generator.state = state
    clean = pairs.noiseless_lr(params, "cdm", preset, size, rng)
    hr_inst, lr_inst = pairs.instruments(preset, size, getattr(params, "pixel_scale_arcsec", None))
    assert hr.shape == (size, size) and lr.shape == clean.shape == (size // 2, size // 2)
    # HR block mean (= the LR pixel grid) convolved from the HR PSF to the LR PSF is the noiseless LR
    block = hr.reshape(size // 2, 2, size // 2, 2).mean((1, 3)).astype(np.float64)
    s_hr = hr_inst.psf_fwhm_arcsec * SIGMA_PER_FWHM / lr_inst.pixel_scale_arcsec
    s_lr = lr_inst.psf_fwhm_arcsec * SIGMA_PER_FWHM / lr_inst.pixel_scale_arcsec
    predicted = gaussian_filter(block, np.sqrt(s_lr**2 - s_hr**2), mode="constant")
    # project HR is itself ray-traced 2x2 per pixel (lenses.SUPERSAMPLING), the LR at the HR pixel centres only
    tolerance = 0.05 if preset == "project" else 0.02
    assert np.linalg.norm(predicted - clean) / np.linalg.norm(clean) < tolerance
    # not a decimated HR: the wider PSF lowers the peak, and the LR carries its own noise
    assert clean.max() < 0.95 * hr.max()
    assert 0 < np.std(lr - clean) < 0.2 * clean.max()
    # a plain decimation of the HR is further from the LR than the physics above
    assert np.linalg.norm(block - clean) > 2 * np.linalg.norm(predicted - clean)


@pytest.mark.parametrize("preset", PRESETS)
def test_stated_instruments_pixels_x2_and_psf_x2(preset):
    size = {"project": 150, "deeplense-model1": 150, "deeplense-model2": 64}[preset]
    hr, lr = pairs.instruments(preset, size)
    assert lr.size * 2 == hr.size == size
    assert lr.pixel_scale_arcsec == pytest.approx(2 * hr.pixel_scale_arcsec)
    assert lr.psf_fwhm_arcsec == pytest.approx(2 * hr.psf_fwhm_arcsec)
    expected = {"project": (0.05, 0.1), "deeplense-model1": (0.05, 0.087), "deeplense-model2": (0.101, 0.16)}[preset]
    assert (hr.pixel_scale_arcsec, hr.psf_fwhm_arcsec) == pytest.approx(expected)


def test_lr_psf_fwhm_measured_on_a_point_source(monkeypatch):
    # no lens mass and a tiny source: the LR image is the LR PSF sampled on LR pixels
    p = dl.sample_params("deeplense-model1", "no_sub", np.random.default_rng(2), size=82)
    p.source_x_arcsec = p.source_y_arcsec = 0.0
    for name, value in [("MAIN_HALO_MASS_MSUN", 1e-6), ("SOURCE_R_SERSIC", 0.002), ("SOURCE_E1", 0.0), ("SOURCE_E2", 0.0), ("SHEAR_GAMMA1", 0.0)]:
        monkeypatch.setattr(dl, name, value)
    _, lr_inst = pairs.instruments("deeplense-model1", 82)
    image = pairs.noiseless_lr(p, "no_sub", "deeplense-model1", 82)
    # second moment of the (odd-sized, centred) image -> Gaussian sigma in LR pixels
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]] - (image.shape[0] - 1) / 2
    sigma_px = np.sqrt((image * xx**2).sum() / image.sum())
    fwhm = sigma_px / SIGMA_PER_FWHM * lr_inst.pixel_scale_arcsec
    # the pixel itself adds (1/12) px^2 of variance (box of one HR pixel sampled twice per LR pixel)
    assert fwhm == pytest.approx(lr_inst.psf_fwhm_arcsec, rel=0.1)
    assert lr_inst.psf_fwhm_arcsec == pytest.approx(0.174)


def test_simulate_pairs_layout_manifest_and_resume(tmp_path):
    out = tmp_path / "pairs"
    manifest_path = simulate_dataset("lenses", 4, 32, seed=1, out=out, progress=False, preset="deeplense-model2", pairs=2)
    manifest = json.loads(manifest_path.read_text())
    recipe = manifest["pairs"]
    assert recipe["factor"] == 2 and recipe["hr"]["size"] == 32 and recipe["lr"]["size"] == 16
    assert recipe["lr"]["psf_fwhm_arcsec"] == pytest.approx(0.32) and recipe["lr"]["pixel_scale_arcsec"] == pytest.approx(0.202)
    for entry in manifest["images"]:
        assert np.load(out / "lr" / entry["file"]).shape == (16, 16)
        assert np.load(out / "hr" / entry["file"]).shape == (32, 32)
    assert sorted(p.name for p in (out / "lr").iterdir()) == ["cdm", "no_sub", "vortex"]
    before = (out / "lr" / manifest["images"][1]["file"]).stat().st_mtime_ns
    simulate_dataset("lenses", 4, 32, seed=1, out=out, progress=False, preset="deeplense-model2", pairs=2)
    assert (out / "lr" / manifest["images"][1]["file"]).stat().st_mtime_ns == before  # resumed, not redrawn
    with pytest.raises(ValueError, match="even HR size"):
        simulate_dataset("lenses", 2, 33, seed=1, out=tmp_path / "odd", progress=False, pairs=2)
    with pytest.raises(ValueError, match="pairs"):
        simulate_dataset("disks", 2, 32, seed=1, out=tmp_path / "d", progress=False, pairs=2)


def _blob_pairs(n: int, size: int) -> tuple:
    import torch

    rng = np.random.default_rng(3)
    hr = np.stack([gaussian_filter(rng.random((size, size)), 3.0) for _ in range(n)])[:, None].astype(np.float32)
    lr = hr.reshape(n, 1, size // 2, 2, size // 2, 2).mean((3, 5))
    return torch.from_numpy(lr), torch.from_numpy(hr)


def test_turned_pairs_stay_pairs():
    import torch

    torch.manual_seed(0)
    x = torch.rand(64, 1, 17, 17)
    a, b = pairs.turn_pairs(x, x.clone(), 1.0)
    assert torch.equal(a, b)  # input and target share their angle and shift
    assert not torch.allclose(a, x, atol=1e-3)  # and were turned
    keep_x, keep_y = pairs.turn_pairs(x, x, 0.0)
    assert keep_x is x and keep_y is x
    lr, hr = _blob_pairs(16, 32)
    tl, th = pairs.turn_pairs(lr, hr, 1.0)
    # an x2 pair turned about one centre: the turned LR is still (close to) the 2x2 block mean of the turned HR,
    # well inside the corners the turn fills in
    inner = slice(4, 12)
    block = th.reshape(16, 1, 16, 2, 16, 2).mean((3, 5))
    err = (tl - block)[..., inner, inner].abs().max() / hr.abs().max()
    unrelated = (tl - block.roll(1, 0))[..., inner, inner].abs().max() / hr.abs().max()
    assert err < 0.05 < unrelated


def test_pair_turn_fraction_is_for_pairs_only():
    from core.errors import InputError
    from core.train.config import TrainConfig
    from core.train.fold import make_augment

    with pytest.raises(InputError, match="pair_turn_fraction"):
        TrainConfig(data="d", pair_turn_fraction=0.5, augment=False)
    with pytest.raises(InputError, match="single images"):
        make_augment(TrainConfig(data="d", model="equivariant_classifier", pair_turn_fraction=0.5), "classifier")
    aug = make_augment(TrainConfig(data="d", model="equivariant_ae", clean_data="c", pair_turn_fraction=0.5), "autoencoder")
    assert aug.turn == 0.5
