"""The band-limited turn (core.data.sinc) and where it is used: transforms, observe.turn, SR sky turns."""

import math

import pytest
import torch

from core.data.observe import turn
from core.data.sinc import sinc_resample
from core.data.transforms import rotate, shift
from core.errors import InputError


def _grid(n: int):
    """(u, v): column (right) and row (down) offsets from the grid centre."""
    c = (n - 1) / 2
    v, u = torch.meshgrid(torch.arange(n, dtype=torch.float64) - c, torch.arange(n, dtype=torch.float64) - c, indexing="ij")
    return u, v


def _blob(u, v, angle_deg: float = 0.0, dy: float = 0.0, dx: float = 0.0):
    """An elongated Gaussian off centre, turned counter-clockwise (row 0 at the top) by angle_deg, then moved."""
    a = math.radians(angle_deg)
    u, v = u - dx, v - dy
    ui, vi = math.cos(a) * u - math.sin(a) * v, math.sin(a) * u + math.cos(a) * v
    return torch.exp(-((ui - 5) ** 2 / (2 * 2.5**2) + (vi + 3) ** 2 / (2 * 1.3**2)))[None, None]


@pytest.mark.parametrize("n", [40, 41])
@pytest.mark.parametrize("angle", [30.0, -20.0, 137.0, 225.0])
def test_a_turn_of_a_smooth_image_matches_the_turned_function_where_bilinear_and_bicubic_do_not(n, angle):
    u, v = _grid(n)
    x, want = _blob(u, v), _blob(u, v, angle)
    assert float((sinc_resample(x, angle) - want).abs().max()) < 5e-4
    assert float((rotate(x, angle, mode="sinc") - want).abs().max()) < 5e-4
    assert float((rotate(x, angle, mode="bicubic") - want).abs().max()) > 5e-3


def test_a_turn_with_a_sub_pixel_move_matches_the_moved_function():
    u, v = _grid(40)
    got = sinc_resample(_blob(u, v), 40.0, dy=0.3, dx=-1.7)
    assert float((got - _blob(u, v, 40.0, dy=0.3, dx=-1.7)).abs().max()) < 5e-4
    assert float((shift(_blob(u, v), 0.3, 0.7, mode="sinc") - _blob(u, v, 0.0, 0.3, 0.7)).abs().max()) < 5e-4


def test_right_angles_and_integer_moves_are_exact_pixel_permutations():
    x = torch.randn(3, 2, 12, 12)
    assert torch.equal(sinc_resample(x, 0.0), x)
    assert torch.equal(sinc_resample(x, torch.tensor([90.0, 180.0, -90.0]))[1], torch.rot90(x[1], 2, dims=(-2, -1)))
    assert torch.allclose(sinc_resample(x.double(), 0.0, dy=2.0, dx=-3.0), shift(x.double(), 2.0, -3.0), atol=1e-12)


def test_noise_is_turned_without_smoothing_and_comes_back_after_a_round_trip():
    torch.manual_seed(0)
    n = 48
    u, v = _grid(n)
    disc = u**2 + v**2 < (0.3 * n) ** 2
    z = torch.randn(8, 1, n, n, dtype=torch.float64)
    turned = sinc_resample(z, 33.0)
    assert 0.95 < float(turned[..., disc].std()) < 1.05
    assert float(rotate(z, 33.0)[..., disc].std()) < 0.8  # what bilinear sampling does to the same noise
    back = sinc_resample(turned, -33.0)
    assert float((back - z)[..., disc].pow(2).mean().sqrt()) < 0.12  # only the square spectrum's corners are lost


def test_observe_turn_in_sinc_mode_keeps_a_round_sky_and_a_flat_one():
    u, v = _grid(40)
    r = torch.hypot(u, v)
    sky = (torch.exp(-((r / 9) ** 2)) + 0.05)[None, None].float().expand(3, 1, 40, 40).contiguous()
    flip = torch.tensor([False, True, False])
    angles = torch.tensor([30.0, 45.0, 100.0])
    assert float((turn(sky, angles, flip, mode="sinc") - sky).abs().max()) < 2e-3
    flat = torch.full((2, 1, 40, 40), 3.0)
    assert float((turn(flat, torch.tensor([20.0, 70.0]), torch.zeros(2, dtype=torch.bool), mode="sinc") - 3.0).abs().max()) < 1e-5


def test_sr_sky_turns_turn_the_noiseless_hr_before_it_is_observed():
    from core.data.pairs import PairAugment, turn_sky

    u, v = _grid(40)
    hr = torch.cat([_blob(u, v), _blob(u, v, 60.0)]).float()
    torch.manual_seed(1)
    turned = turn_sky(hr, 1.0)
    assert not torch.allclose(turned, hr, atol=1e-3)
    assert torch.allclose(turned.sum((1, 2, 3)), hr.sum((1, 2, 3)), rtol=1e-4)  # flux kept: nothing smoothed away or lost
    assert torch.equal(turn_sky(hr, 0.0), hr)
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    x, y = PairAugment(degrade=1.0, sky_turn=1.0)(lr, hr)
    assert x.shape == lr.shape and y.shape == hr.shape and bool(torch.isfinite(x).all())


def test_a_sky_turn_needs_the_degradation_that_observes_it():
    from core.train.config import TrainConfig

    with pytest.raises(InputError, match="sr_sky_turn_fraction"):
        TrainConfig(data="d", model="equivariant_sr", augment=True, sr_sky_turn_fraction=0.5)
    assert TrainConfig(data="d", model="equivariant_sr", augment=True, sr_degrade_fraction=0.75, sr_sky_turn_fraction=0.5)


def test_a_wide_image_turns_off_the_grid_and_refuses_a_quarter_turn_with_a_sentence():
    c = torch.meshgrid(torch.arange(40, dtype=torch.float64) - 19.5, torch.arange(64, dtype=torch.float64) - 31.5, indexing="ij")
    v, u = c
    x = _blob(u, v)
    assert float((sinc_resample(x, torch.tensor([30.0]), None, None) - _blob(u, v, 30.0)).abs().max()) < 5e-4
    assert torch.equal(sinc_resample(x, 180.0), torch.rot90(x, 2, dims=(-2, -1)))
    with pytest.raises(ValueError, match="needs a square image; this one is 64 x 40"):
        sinc_resample(x, 90.0)
