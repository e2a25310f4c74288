"""Nuisance views (core.data.nuisance_views) keep the disk's physics, and the VICReg pair term trains on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.nuisance_views import NuisanceConfig, nuisance_view
from core.data.observe import gaussian_blur
from core.data.preprocess import prepare
from tests.test_disks import SIZE, face_on, radial_profile

torch.set_num_threads(1)


def two_rings_with_a_planet() -> tuple[torch.Tensor, float]:
    """A face-on ring-only disk (rings at 35 and 90 au, a 2 M_J planet in the gap at 60 au), noise-free, as
    the model sees it: (1, 1, S, S) in [0, 1], and au per pixel."""
    params = face_on([(60.0, 2.0)], smooth_fraction=0.0, ring_radii_au=[35.0, 90.0], ring_widths_au=[5.0, 6.0],
                     ring_amplitudes=[1.0, 1.0], cavity_radius_au=20.0, beam_fwhm_arcsec=0.05)
    from core.data.disks import simulate_disk

    image = prepare(simulate_disk(params, SIZE, noise=False), SIZE)
    return torch.from_numpy(image)[None, None], params.pixel_scale_arcsec * params.distance_pc


def test_a_view_keeps_the_rings_and_the_planet_gap_but_is_observed_anew():
    x, au_px = two_rings_with_a_planet()
    batch = x.repeat(8, 1, 1, 1)
    views = nuisance_view(batch, torch.Generator().manual_seed(0), NuisanceConfig(residual_probability=0.5))
    assert views.shape == batch.shape and float(views.min()) == 0.0 and float(views.max()) == pytest.approx(1.0)
    assert torch.equal(batch, x.repeat(8, 1, 1, 1))  # the input is left alone
    r, truth = radial_profile(x[0, 0].numpy(), au_px)
    inner, outer, gap = (int(np.abs(r - v).argmin()) for v in (35.0, 90.0, 60.0))
    for view in views:
        assert float((view - x[0]).abs().max()) > 0.01  # another observation, not a copy
        _, profile = radial_profile(view[0].numpy(), au_px)
        assert profile[gap] < 0.4 * min(profile[inner], profile[outer])  # the planet's gap is still there
        for ring in (inner, outer):  # each ring's peak stays within two annuli of where it was
            window = slice(ring - 4, ring + 5)
            assert abs(int(np.argmax(profile[window])) - int(np.argmax(truth[window]))) <= 2
        assert np.corrcoef(profile, truth)[0, 1] > 0.98


def test_a_reframed_view_moves_the_rings_with_the_zoom_and_keeps_the_gap():
    x, au_px = two_rings_with_a_planet()
    view = nuisance_view(x, torch.Generator().manual_seed(1), NuisanceConfig(scale=(1.2, 1.2), noise=(0.003, 0.003)))
    r, truth = radial_profile(x[0, 0].numpy(), au_px)
    _, profile = radial_profile(view[0, 0].numpy(), au_px)
    inner, outer, gap = (int(np.abs(r - v * 1.2).argmin()) for v in (35.0, 90.0, 60.0))  # radii grow with the zoom
    assert profile[gap] < 0.4 * min(profile[inner], profile[outer])
    assert abs(int(np.argmax(profile[: gap])) - inner) <= 2


def test_views_are_reproducible_with_a_generator_and_differ_between_draws():
    x, _ = two_rings_with_a_planet()
    a = nuisance_view(x.repeat(2, 1, 1, 1), torch.Generator().manual_seed(3))
    b = nuisance_view(x.repeat(2, 1, 1, 1), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # each image its own nuisance
    with pytest.raises(ValueError, match="shape"):
        nuisance_view(x[0])


def test_gaussian_blur_keeps_flux_and_zero_sigma_is_identity():
    x = torch.zeros(2, 1, 33, 33)
    x[:, 0, 16, 16] = 1.0
    out = gaussian_blur(x, torch.tensor([0.0, 1.5]))
    torch.testing.assert_close(out[0], x[0])
    assert float(out[1].sum()) == pytest.approx(1.0, abs=1e-5)
    var = float((out[1, 0] * ((torch.arange(33) - 16.0) ** 2)[None, :]).sum())
    assert var == pytest.approx(1.5**2, rel=0.02)


def test_vicreg_weight_adds_the_pair_term_in_training_only():
    from core.models.registry import build_model
    from core.train.losses import autoencoder_loss_fn, training_module

    torch.manual_seed(0)
    model = training_module(build_model("cnn_ae", {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4,
                                                   "decoder_channels": (4, 4, 4, 4)}))
    x = torch.rand(4, 1, 33, 33)
    plain, with_pairs = autoencoder_loss_fn({}), autoencoder_loss_fn({"vicreg": 0.1, "vicreg_dims": 2, "vicreg_scale": [0.9, 1.1]})
    model.train()
    total, parts = with_pairs(model, x, None)
    assert {"vicreg_invariance", "vicreg_variance", "vicreg_covariance"} <= set(parts)
    assert parts["vicreg_invariance"] > 0
    total.backward()  # gradients flow through both views
    model.eval()
    with torch.no_grad():
        val, val_parts = with_pairs(model, x, None)
        ref, _ = plain(model, x, None)
    assert not any(k.startswith("vicreg") for k in val_parts) and float(val) == pytest.approx(float(ref))
    with pytest.raises(ValueError, match="Unknown setting"):
        autoencoder_loss_fn({"vicreg_typo": 1.0})


def test_fit_trains_an_autoencoder_with_the_pair_term_and_records_it(tmp_path):
    from core.train.fit import fit
    from tests.test_train import _cfg, make_disk_folder

    make_disk_folder(tmp_path / "data")
    path = fit(_cfg(tmp_path, epochs=1, loss={"ms_ssim": 0.1, "vicreg": 0.5, "vicreg_dims": 4}))
    raw = torch.load(path, weights_only=True)
    assert raw["history"]["train_vicreg_invariance"][0] > 0  # the pair term ran, per batch, into the history
    assert "val_vicreg_invariance" not in raw["history"]  # validation scores the reconstruction alone
    assert raw["train_config"]["loss"]["vicreg"] == 0.5
