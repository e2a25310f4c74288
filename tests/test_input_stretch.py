"""core.models.input_stretch: the noise-scaled asinh view of the input (lens searches' stretch), inside a model."""

import numpy as np
import pytest
import torch

from core.models.input_stretch import NoiseAsinh


def _galaxy_with_arc(noise=0.01, seed=0, size=65):
    """A bright de Vaucouleurs-like core, an arc at 2% of its peak 15 px out, white noise of `noise` x the peak; min-max
    scaled. Returns (x (1, 1, S, S), radius, arc pixels, the noise sigma after the scaling)."""
    yy, xx = np.mgrid[:size, :size].astype(float) - (size - 1) / 2
    r = np.hypot(xx, yy)
    core = np.exp(-7.67 * ((r + 0.5) / 4.0) ** 0.25)
    arc = 0.02 * core.max() * np.exp(-0.5 * ((r - 15) / 1.2) ** 2) * (np.arctan2(yy, xx) > 0.5)
    x = core + arc + noise * core.max() * np.random.default_rng(seed).standard_normal((size, size))
    span = x.max() - x.min()
    return (torch.from_numpy(((x - x.min()) / span).astype(np.float32))[None, None], r, arc > 0.01 * core.max(),
            noise * core.max() / span)


def test_turns_and_flips_of_the_grid_commute_with_the_stretch():
    x = torch.rand(3, 1, 33, 33) ** 4
    stretch = NoiseAsinh(33, 3.0)
    y = stretch(x)
    for k in (1, 2, 3):
        assert torch.allclose(stretch(torch.rot90(x, k, (2, 3))), torch.rot90(y, k, (2, 3)), atol=1e-6)
    assert torch.allclose(stretch(torch.flip(x, (3,))), torch.flip(y, (3,)), atol=1e-6)


def test_the_noise_is_measured_on_the_pixels_not_on_the_galaxy():
    x, _, _, expected = _galaxy_with_arc(noise=0.01)
    sigma = NoiseAsinh(65, 3.0).noise(x).item()
    assert 0.85 * expected < sigma < 1.15 * expected, (sigma, expected)
    spread = x[0, 0][NoiseAsinh(65, 3.0).inside].std().item()  # the pixels' own spread holds the galaxy's light
    assert spread > 2 * expected  # what a plain spread of the pixel values would take for noise
    plain = torch.ones_like(x) * 0.5  # a constant image: no noise, no NaN
    assert torch.isfinite(NoiseAsinh(65, 3.0)(plain)).all()


def test_a_faint_arc_stands_out_after_the_stretch():
    x, r, on_arc, _ = _galaxy_with_arc(noise=0.002)
    y = NoiseAsinh(65, 3.0)(x)[0, 0].numpy()
    background = (r > 25) & ~on_arc
    linear = x[0, 0].numpy()
    contrast = lambda im: (im[on_arc].mean() - im[background].mean()) / im.max()  # noqa: E731
    assert contrast(linear) < 0.05  # a few per cent of the peak as min-max leaves it
    assert contrast(y) > 0.3  # a good part of the range after the stretch
    assert y.max() == pytest.approx(1.0)


def test_a_stretched_equivariant_classifier_stays_exactly_invariant_and_the_default_has_no_stretch():
    from core.models.equivariant_classifier import (
        EquivariantClassifier,
        EquivariantClassifierConfig,
    )

    assert EquivariantClassifier(EquivariantClassifierConfig(image_size=33, fields=(1, 2), n_classes=2)).stretch is None
    model = EquivariantClassifier(EquivariantClassifierConfig(image_size=33, fields=(1, 2), n_classes=2, group="D4",
                                                              input_stretch=3.0)).eval()
    x = torch.rand(2, 1, 33, 33) ** 3
    with torch.no_grad():
        y = model(x)
        assert torch.allclose(model(torch.rot90(x, 1, (2, 3))), y, atol=1e-5)
        assert torch.allclose(model(torch.flip(x, (2,))), y, atol=1e-5)
        assert [m.name for m in model.feature_maps(x)][0] == "input_stretch"


def test_a_stretch_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="noise sigmas"):
        NoiseAsinh(33, -1.0)


def test_the_high_pass_view_lifts_a_thin_arc_above_its_galaxy_and_commutes_with_the_grid():
    from core.models.input_stretch import MedianHighPass

    yy, xx = np.mgrid[:65, :65].astype(float) - 32
    r, phi = np.hypot(xx, yy), np.arctan2(yy, xx)
    core = np.exp(-7.67 * ((r + 0.5) / 4.0) ** 0.25)  # the galaxy is as bright as the arc at the arc's radius
    x = core + 0.02 * core.max() * np.exp(-0.5 * ((r - 6) / 0.8) ** 2) * (phi > 0.5)
    x = (x - x.min()) / (x.max() - x.min())
    detail = MedianHighPass(3)(torch.from_numpy(x.astype(np.float32))[None, None])[0, 0].numpy()
    band = np.abs(r - 6) < 0.7
    on, off = band & (phi > 0.8), band & (phi < 0.2)
    assert x[on].mean() / x[off].mean() < 2.5  # linear: the arc is about as bright as the galaxy under it
    assert detail[on].mean() / np.abs(detail[off]).mean() > 3.5  # high-pass: the galaxy's smooth light mostly cancels
    y = torch.rand(3, 2, 33, 33) ** 4
    view = MedianHighPass(2)
    for k in (1, 2, 3):
        assert torch.equal(view(torch.rot90(y, k, (2, 3))), torch.rot90(view(y), k, (2, 3)))
    assert torch.equal(view(torch.flip(y, (3,))), torch.flip(view(y), (3,)))
    with pytest.raises(ValueError, match="whole number"):
        MedianHighPass(0)


@pytest.mark.parametrize("kind", ["equivariant", "cnn"])
def test_classifiers_take_the_high_pass_view_as_a_second_channel_and_the_equivariant_one_stays_invariant(kind):
    from core.models.cnn import CNNClassifier, CNNClassifierConfig
    from core.models.equivariant_classifier import (
        EquivariantClassifier,
        EquivariantClassifierConfig,
    )

    if kind == "equivariant":
        model = EquivariantClassifier(EquivariantClassifierConfig(image_size=33, fields=(1, 2), n_classes=2, group="D4",
                                                                  input_stretch=3.0, input_highpass=2)).eval()
    else:
        model = CNNClassifier(CNNClassifierConfig(image_size=33, channels=(2, 4, 4), hidden=8, n_classes=2,
                                                  input_stretch=3.0, input_highpass=2, antialias=0.7)).eval()
    x = torch.rand(2, 1, 33, 33) ** 3
    with torch.no_grad():
        y = model(x)
        names = [m.name for m in model.feature_maps(x)]
        assert names[:2] == ["input_stretch", "input_highpass"]
        if kind == "equivariant":
            assert torch.allclose(model(torch.rot90(x, 1, (2, 3))), y, atol=1e-5)
            assert torch.allclose(model(torch.flip(x, (2,))), y, atol=1e-5)
        x2 = x.clone()
        x2[..., 16, 10:20] += 0.05  # a thin line changes the answer through both views
        assert not torch.allclose(model(x2), y)
