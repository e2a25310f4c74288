"""E(2) transforms: exact group elements, interpolating path vs rot90, sense of rotation and shift."""

import numpy as np
import pytest
import torch

from core.data.transforms import (
    RandomE2Augment,
    apply_group_element,
    camera,
    flip,
    rotate,
    shift,
)

torch.set_num_threads(1)
N = 33  # odd grid: the centre is a pixel centre


def gaussian(size=N, row=None, col=None, sigma=2.5) -> torch.Tensor:
    c = (size - 1) / 2
    row = c if row is None else row
    col = c if col is None else col
    r, k = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    return torch.exp(-((r - row) ** 2 + (k - col) ** 2) / (2 * sigma**2)).float()[None, None]  # (1, 1, S, S)


def centroid(x: torch.Tensor) -> tuple[float, float]:
    img = x[0, 0].double()
    r, k = torch.meshgrid(torch.arange(img.shape[0]).double(), torch.arange(img.shape[1]).double(), indexing="ij")
    return float((img * r).sum() / img.sum()), float((img * k).sum() / img.sum())


@pytest.mark.parametrize("angle", [90, 180, 270, -90, 450])
@pytest.mark.parametrize("size", [33, 129])
def test_interpolating_path_matches_rot90_on_odd_grid(angle, size):
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    exact = rotate(x, angle)
    assert torch.equal(exact, torch.rot90(x, (angle // 90) % 4, dims=(-2, -1)))
    assert (rotate(x, angle, exact_right_angles=False) - exact).abs().max() < 1e-6


def test_positive_angle_turns_counter_clockwise_with_row_zero_on_top():
    c = (N - 1) / 2
    right = gaussian(col=c + 6, sigma=2.0)  # a blob right of the centre, 5 sigma from the edge
    row, col = centroid(rotate(right, 90))
    assert row == pytest.approx(c - 6, abs=1e-3) and col == pytest.approx(c, abs=1e-3)  # now above
    row, col = centroid(rotate(right, 30))
    assert row == pytest.approx(c - 6 * np.sin(np.radians(30)), abs=0.02)
    assert col == pytest.approx(c + 6 * np.cos(np.radians(30)), abs=0.02)


def test_any_angle_rotation_composes_and_preserves_a_smooth_image():
    x = gaussian(row=12.0, col=20.0, sigma=3.0)
    twice = rotate(rotate(x, 45), 45)
    assert (twice - rotate(x, 90)).abs().max() < 0.05  # two bilinear resamplings of a unit-peak blob (0.037)
    assert float(rotate(x, 37).sum()) == pytest.approx(float(x.sum()), rel=0.01)
    bicubic = rotate(x, 45, mode="bicubic")
    assert (rotate(bicubic, -45, mode="bicubic") - x).abs().max() < (rotate(rotate(x, 45), -45) - x).abs().max()


def test_flips_and_group_elements_are_exact():
    x = torch.rand(1, 2, N, N)
    assert torch.equal(flip(x, "horizontal"), x.flip(-1)) and torch.equal(flip(x, "vertical"), x.flip(-2))
    assert torch.equal(apply_group_element(x, 90, flip=True), torch.rot90(x.flip(-1), 1, dims=(-2, -1)))
    # D4 relation: a mirror conjugates a rotation into its inverse
    assert torch.equal(flip(rotate(flip(x), 90)), rotate(x, -90))
    with pytest.raises(ValueError, match="Unknown flip axis 'diagonal'; use 'horizontal' or 'vertical'."):
        flip(x, "diagonal")


def test_integer_and_subpixel_shifts():
    x = torch.rand(1, 1, N, N)
    s = shift(x, 2, -3)
    assert torch.equal(s[..., 2:, : N - 3], x[..., : N - 2, 3:]) and s[..., :2, :].abs().sum() == 0 and s[..., :, N - 3 :].abs().sum() == 0
    assert shift(x, N, 0).abs().sum() == 0
    c = (N - 1) / 2
    row, col = centroid(shift(gaussian(), 0.5, -1.25))
    assert row == pytest.approx(c + 0.5, abs=0.01) and col == pytest.approx(c - 1.25, abs=0.01)
    assert (shift(x, 2.0, -3.0) - s).abs().max() == 0  # float integers take the exact path


def test_camera_scale_shear_and_shift():
    x = gaussian(sigma=2.0)
    wide = camera(x, scale=2.0)
    var = lambda t: float((t[0, 0].double() * (torch.arange(N).double() - (N - 1) / 2) ** 2).sum() / t.sum())  # noqa: E731
    assert var(wide) == pytest.approx(4 * var(x), rel=0.05)
    c = (N - 1) / 2
    off = gaussian(row=c + 6)  # below the centre
    row, col = centroid(camera(off, shear_deg=20.0))
    assert col == pytest.approx(c + 6 * np.tan(np.radians(20.0)), abs=0.05) and row == pytest.approx(c + 6, abs=0.05)
    assert (camera(x, angle_deg=90, dy=2, dx=-3) - shift(rotate(x, 90), 2, -3)).abs().max() < 1e-6
    with pytest.raises(ValueError, match="The scale must be positive; got 0."):
        camera(x, scale=0)


def test_random_augment_right_angles_are_group_elements_and_reproducible():
    x = torch.rand(16, 1, N, N)
    out = RandomE2Augment("right", flips=True, generator=torch.Generator().manual_seed(1))(x)
    again = RandomE2Augment("right", flips=True, generator=torch.Generator().manual_seed(1))(x)
    assert torch.equal(out, again)
    seen = set()
    for i in range(16):
        elements = [(f, k) for f in (False, True) for k in range(4)]
        match = [e for e in elements if torch.equal(out[i], torch.rot90(x[i].flip(-1) if e[0] else x[i], e[1], dims=(-2, -1)))]
        assert match, i
        seen.add(match[0])
    assert len(seen) >= 4  # draws really vary


def test_random_augment_continuous_camera_keeps_a_centred_blob():
    x = gaussian(sigma=3.0).repeat(8, 1, 1, 1)
    aug = RandomE2Augment("continuous", max_shift_px=1.0, scale_range=(0.95, 1.05), max_shear_deg=3.0, generator=torch.Generator().manual_seed(0))
    out = aug(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), rtol=0.12)
    single = aug(x[0])
    assert single.shape == x[0].shape
    with pytest.raises(ValueError, match="rotations must be 'continuous', 'right' or a positive integer N"):
        RandomE2Augment("some")
