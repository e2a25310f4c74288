"""Losses: zero / one where they must be, the focal weighting, MS-SSIM scales, covariance term."""

import math

import pytest
import torch

from core.models.losses import (
    LossConfig,
    autoencoder_loss,
    classification_loss,
    covariance_loss,
    detail_loss,
    focal_mse,
    ms_ssim_scales,
    ms_ssim_value,
    mse,
    ssim_value,
)

torch.set_num_threads(1)


def disk_image(size=129, seed=0):
    """A smooth ring-like image in [0, 1] with a little noise."""
    g = torch.Generator().manual_seed(seed)
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    r = torch.sqrt(xx**2 + (1.5 * yy) ** 2) / size
    img = torch.exp(-r / 0.15) * (1 - 0.8 * torch.exp(-((r - 0.2) ** 2) / 0.001))
    img = img + 0.02 * torch.rand(size, size, generator=g)
    img = (img - img.min()) / (img.max() - img.min())
    return img[None, None]  # (1, 1, S, S)


def test_pixel_losses_vanish_for_identical_images():
    x = disk_image(33)
    assert mse(x, x) == 0 and focal_mse(x, x) == 0


def test_focal_mse_makes_hard_pixels_count_more():
    x = torch.zeros(1, 1, 1, 2)
    recon = torch.tensor([[[[0.1, 0.5]]]])
    gamma = 5.0
    w = torch.exp(gamma * torch.tensor([0.1, 0.5]))
    w = w / w.mean()
    expected = float((w * torch.tensor([0.01, 0.25])).mean())
    assert focal_mse(recon, x, gamma) == pytest.approx(expected, rel=1e-6)
    assert focal_mse(recon, x, gamma) > mse(recon, x)  # the 0.5 error weighs more than in MSE
    assert focal_mse(recon, x, 0.0) == pytest.approx(float(mse(recon, x)), rel=1e-6)


def test_ms_ssim_scales_follow_the_pytorch_msssim_size_rule():
    assert ms_ssim_scales(129) == 5  # 129 > (7 - 1) * 16
    assert ms_ssim_scales(65) == 4
    assert ms_ssim_scales(33) == 3
    assert ms_ssim_scales(9) == 1


@pytest.mark.parametrize("size", [129, 33])
def test_ssim_and_ms_ssim_are_one_for_identical_images_and_drop_with_noise(size):
    x = disk_image(size)
    assert float(ms_ssim_value(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim_value(x, x)) == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    assert float(ms_ssim_value(noisy, x)) < 0.95
    assert float(ssim_value(noisy, x)) < 0.9


def test_ms_ssim_rejects_images_smaller_than_the_window():
    x = torch.rand(1, 1, 5, 5)
    with pytest.raises(ValueError, match="Images of side 5 px are too small for MS-SSIM"):
        ms_ssim_value(x, x)


def hadamard_latents():
    """8 latents of dimension 4: zero-mean, mutually orthogonal columns with std sqrt(8/7) > 1."""
    h = torch.tensor([[1.0]])
    for _ in range(3):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h[:, 1:5]  # (8, 4); drop the all-ones column


def test_covariance_terms_vanish_for_decorrelated_unit_variance_latents():
    off, var = covariance_loss(hadamard_latents())
    assert float(off) == pytest.approx(0.0, abs=1e-10) and float(var) == 0.0


def test_covariance_terms_penalise_correlation_and_collapse():
    z = hadamard_latents()
    z[:, 1] = z[:, 0]  # two identical dimensions: covariance 8/7 off the diagonal, twice
    off, _ = covariance_loss(z)
    assert float(off) == pytest.approx(2 * (8 / 7) ** 2 / 4, rel=1e-5)
    _, var = covariance_loss(torch.zeros(8, 4))  # collapsed latent: std ~ 0 in every dimension
    assert float(var) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="at least 2 latent vectors"):
        covariance_loss(torch.zeros(1, 4))


def test_autoencoder_loss_is_the_weighted_sum_of_its_parts():
    x = disk_image(33).repeat(8, 1, 1, 1)
    recon = (x + 0.05).clamp(0, 1)
    z = hadamard_latents() * 0.5  # std below target: the variance hinge is active
    cfg = LossConfig(mse=0.5, focal_mse=1.0, ms_ssim=0.2, ssim=0.0, covariance=0.1, variance=0.3)
    total, parts = autoencoder_loss(recon, x, z, cfg)
    assert set(parts) == {"mse", "focal_mse", "ms_ssim", "covariance", "variance"}  # ssim weight 0: skipped
    expected = 0.5 * parts["mse"] + parts["focal_mse"] + 0.2 * parts["ms_ssim"] + 0.1 * parts["covariance"] + 0.3 * parts["variance"]
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert parts["variance"] > 0
    total_same, parts_same = autoencoder_loss(x, x, hadamard_latents(), cfg)
    assert float(total_same) == pytest.approx(0.0, abs=1e-5)
    assert total.requires_grad is False  # inputs carry no graph here; with a model they do


def test_the_detail_term_is_one_when_narrow_rings_are_smoothed_away_and_zero_when_kept():
    c = 32.0
    yy, xx = torch.meshgrid(torch.arange(65) - c, torch.arange(65) - c, indexing="ij")
    r = torch.sqrt(xx**2 + yy**2)
    smooth = torch.exp(-r / 12)
    rings = smooth * (1 + 0.3 * torch.cos(2 * math.pi * r / 5))  # narrow rings and gaps, 5 px apart
    x, blurred = rings[None, None], smooth[None, None]
    assert float(detail_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(detail_loss(blurred, x)) > 0.9  # the rings' detail lost
    assert float(detail_loss(0.5 * x + 0.5 * blurred, x)) == pytest.approx(0.25, abs=0.03)  # half their contrast kept
    assert float(ms_ssim_value(blurred, x)) > 0.8  # while MS-SSIM barely notices
    total, parts = autoencoder_loss(blurred, x, torch.zeros(1, 2), LossConfig(focal_mse=0.0, ms_ssim=0.0, detail=2.0))
    assert set(parts) == {"detail"} and float(total) == pytest.approx(2.0 * parts["detail"])


def test_autoencoder_loss_gives_gradients():
    x = disk_image(33).repeat(4, 1, 1, 1)
    recon = torch.full_like(x, 0.5, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    total, _ = autoencoder_loss(recon, x, z)
    total.backward()
    assert recon.grad.abs().sum() > 0 and z.grad.abs().sum() > 0


def test_classification_loss_is_cross_entropy():
    logits = torch.zeros(4, 3)
    labels = torch.tensor([0, 1, 2, 0])
    assert float(classification_loss(logits, labels)) == pytest.approx(math.log(3), rel=1e-6)
    confident = torch.tensor([[10.0, 0, 0]])
    assert float(classification_loss(confident, torch.tensor([0]))) < 1e-3


def test_ms_ssim_matches_pytorch_msssim_at_129_px():
    from pytorch_msssim import ms_ssim

    x = disk_image(129).repeat(2, 1, 1, 1)
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    ref = ms_ssim(y, x, data_range=1.0, win_size=7)
    assert float(ms_ssim_value(y, x)) == pytest.approx(float(ref), rel=1e-5)


def test_resample_consistency_is_zero_for_an_invariant_model_and_trains_a_pixel_reader():
    import torch
    from torch import nn

    from core.train.losses import classifier_loss_fn

    torch.manual_seed(0)
    x = torch.rand(8, 1, 17, 17)
    y = torch.randint(0, 3, (8,))
    fn = classifier_loss_fn({"resample_consistency": 1.0})

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))

        def forward(self, x):
            return self.bias.expand(x.shape[0], 3)

    _, parts = fn(Constant(), x, y)
    assert parts["resample_consistency"] == 0.0

    class PixelReader(nn.Module):  # logits from one off-centre pixel: a turn moves it
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))

        def forward(self, x):
            return x[:, 0, 3, 5, None] * self.w + 0.1

    reader = PixelReader()
    loss, parts = fn(reader, x, y)
    ce_only, _ = classifier_loss_fn()(reader, x, y)
    assert parts["resample_consistency"] > 0.01 and loss.item() > ce_only.item()
    loss.backward()
    assert reader.w.grad.abs().sum() > 0


def test_resample_consistency_does_not_reward_shrinking_the_logits():
    """Scaling every logit leaves the relative change as it is, so its gradient along the scale is zero (a held
    denominator made it positive, and training shrank the logits)."""
    import torch
    from torch import nn

    from core.train.losses import resample_change

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.reader = nn.Sequential(nn.Flatten(), nn.Linear(17 * 17, 3))
            self.scale = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.scale * self.reader(x)

    torch.manual_seed(1)
    model, x = Scaled(), torch.rand(6, 1, 17, 17)
    change = resample_change(model, x, model(x))
    change.backward()
    assert change.item() > 1e-4 and abs(model.scale.grad.item()) < 1e-6 * max(1.0, change.item())
