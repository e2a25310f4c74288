"""Training losses for the autoencoders and classifiers.

Images are (B, 1, S, S) min-max normalised to [0, 1] (data_range = 1). Latents are (B, d).

- `mse`: mean squared error over pixels and batch.
- `focal_mse`: EXXA-style focal MSE that makes hard pixels count more. Our exact definition,
  per image: w_i = exp(gamma * |r_i|) / mean_j exp(gamma * |r_j|) with r = recon - x and w
  treated as a constant (no gradient through it); loss = mean_i(w_i * r_i**2), averaged over
  the batch. The weights have mean 1 per image, so gamma = 0 is plain MSE, identical images
  give 0, and a pixel off by 0.3 counts exp(0.3 * gamma) times more than a perfect one
  (gamma = 5: 4.5x).
- `ssim_loss`, `ms_ssim_loss`: 1 - SSIM and 1 - MS-SSIM from pytorch_msssim. MS-SSIM with
  its 5 standard scales needs a side > (win_size - 1) * 16; we use a 7-pixel window (sigma
  1.5) so 129-px images keep all 5 scales (129 > 96) and match pytorch_msssim's `ms_ssim`
  exactly; smaller images drop the coarsest scales (renormalising the standard weights) until
  the condition holds: 65 px -> 4 scales, 33 px -> 3.
- `detail_loss`: the relative error of the image's fine detail, per image
  sum((hp(recon) - hp(x))**2) / (sum(hp(x)**2) + eps) with hp(x) = x - Gaussian blur of x (sigma
  DETAIL_SIGMA px, reflected border), averaged over the batch: 1 for a reconstruction that smooths the
  detail away, 0 when it is kept. Narrow rings and gaps weigh as much as the bright centre in it.
- `covariance_loss`: VICReg-style regulariser on a latent batch: the squared off-diagonal
  entries of the batch covariance, summed and divided by d (decorrelated, "orthogonal"
  latent dimensions), plus the variance hinge mean_k relu(target_std - std_k) that keeps
  every dimension alive. Zero for decorrelated latents with std >= target_std.
- `classification_loss`: cross-entropy on logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from core.models.config import PlainConfig

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, also pytorch_msssim's
SSIM_WIN = 7  # Gaussian window side (pixels) for SSIM and MS-SSIM
DETAIL_SIGMA = 2.0  # px: what the detail term's blur removes (rings and gaps of a few pixels stay in the detail)


def mse(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error (intensity units of x, squared)."""
    return F.mse_loss(recon, x)


def focal_mse(recon: torch.Tensor, x: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Per-pixel squared error weighted by exp(gamma * |error|), weights normalised to mean 1 per image."""
    r = recon - x  # (B, C, H, W)
    with torch.no_grad():
        w = torch.exp(gamma * r.abs())
        w = w / w.mean(dim=(1, 2, 3), keepdim=True)
    return (w * r * r).mean()


def ms_ssim_scales(side: int, win_size: int = SSIM_WIN) -> int:
    """How many MS-SSIM scales (at most 5) pytorch_msssim accepts for images of this side."""
    n = 5
    while n > 1 and side <= (win_size - 1) * 2 ** (n - 1):
        n -= 1
    return n


def ms_ssim_value(recon: torch.Tensor, x: torch.Tensor, win_size: int = SSIM_WIN, eps: float = 1e-6) -> torch.Tensor:
    """Mean MS-SSIM of the batch in [0, 1] (1 = identical), with as many scales as the size allows.

    Same computation as `pytorch_msssim.ms_ssim` (its `_ssim` per scale, Gaussian window of
    sigma 1.5, 2x2 average pooling between scales, weights of Wang et al.), which asserts 5
    scales; here the number of scales follows `ms_ssim_scales` and the per-scale terms are
    clamped at `eps` instead of 0 so that the loss never produces NaN gradients.
    """
    side = min(x.shape[-2:])
    if side < win_size:
        raise ValueError(f"Images of side {side} px are too small for MS-SSIM; use images of at least {win_size} px.")
    n = ms_ssim_scales(side, win_size)
    w = x.new_tensor(MS_SSIM_WEIGHTS[:n])
    if n < len(MS_SSIM_WEIGHTS):
        w = w / w.sum()  # (n,) fewer scales: renormalise the kept weights
    win = _fspecial_gauss_1d(win_size, 1.5).repeat([x.shape[1], 1, 1, 1])  # (C, 1, 1, win)
    terms = []
    a, b = recon, x
    for i in range(n):
        ssim_pc, cs = _ssim(a, b, data_range=1.0, win=win, size_average=False)  # (B, C) each
        if i < n - 1:
            terms.append(cs.clamp_min(eps))
            pad = [s % 2 for s in a.shape[2:]]
            a, b = F.avg_pool2d(a, 2, padding=pad), F.avg_pool2d(b, 2, padding=pad)
    terms.append(ssim_pc.clamp_min(eps))
    val = torch.prod(torch.stack(terms) ** w.view(-1, 1, 1), dim=0)  # (B, C)
    return val.mean()


def ssim_value(recon: torch.Tensor, x: torch.Tensor, win_size: int = SSIM_WIN) -> torch.Tensor:
    """Mean SSIM of the batch (1 = identical)."""
    return ssim(recon, x, data_range=1.0, win_size=win_size, size_average=True)


def ssim_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 1.0 - ssim_value(recon, x)


def ms_ssim_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 1.0 - ms_ssim_value(recon, x)


def covariance_loss(z: torch.Tensor, target_std: float = 1.0, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """(off-diagonal covariance term, variance hinge term) of a latent batch z (B, d), B >= 2."""
    B, d = z.shape
    if B < 2:
        raise ValueError("The covariance regulariser needs a batch of at least 2 latent vectors; use batch_size >= 2.")
    zc = z - z.mean(dim=0)  # (B, d)
    cov = zc.T @ zc / (B - 1)  # (d, d)
    off = cov - torch.diag(torch.diagonal(cov))
    std = torch.sqrt(torch.diagonal(cov) + eps)  # (d,)
    return (off**2).sum() / d, F.relu(target_std - std).mean()


def vicreg_loss(z_a: torch.Tensor, z_b: torch.Tensor, *, invariance: float = 25.0, variance: float = 25.0,
                covariance: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """VICReg (Bardes et al. 2022) on two views' embeddings (B, d): MSE between views + variance
    hinge and off-diagonal covariance of each view (via `covariance_loss`); default weights of the paper."""
    inv = F.mse_loss(z_a, z_b)
    cov_a, var_a = covariance_loss(z_a)
    cov_b, var_b = covariance_loss(z_b)
    var_term, cov_term = var_a + var_b, cov_a + cov_b
    total = invariance * inv + variance * var_term + covariance * cov_term
    return total, {"invariance": float(inv.detach()), "variance": float(var_term.detach()), "covariance": float(cov_term.detach())}


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of logits (B, n_classes) against integer labels (B,)."""
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def high_pass(x: torch.Tensor, sigma: float = DETAIL_SIGMA) -> torch.Tensor:
    """x (B, 1, S, S) minus its separable Gaussian blur of `sigma` px (reflected border)."""
    from core.data.observe import gaussian_blur

    return x - gaussian_blur(x, torch.full((x.shape[0],), float(sigma)))


def detail_loss(recon: torch.Tensor, x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Relative squared error of the fine detail (see the module docstring), mean over the batch."""
    target = high_pass(x)
    error = (high_pass(recon) - target).pow(2).flatten(1).sum(1)
    return (error / (target.pow(2).flatten(1).sum(1) + eps)).mean()


@dataclass
class LossConfig(PlainConfig):
    mse: float = 0.0  # weight of plain MSE
    focal_mse: float = 1.0  # weight of the focal MSE
    focal_gamma: float = 5.0  # focal MSE sharpness: a pixel off by r counts exp(gamma * r) times more
    ms_ssim: float = 0.1  # weight of 1 - MS-SSIM (perceptual / structural term)
    ssim: float = 0.0  # weight of 1 - SSIM
    detail: float = 0.0  # weight of the relative error of the fine detail (detail_loss: rings and gaps)
    covariance: float = 0.01  # weight of the off-diagonal latent covariance term
    variance: float = 0.01  # weight of the latent variance hinge
    target_std: float = 1.0  # per-dimension latent std below which the hinge pushes


def autoencoder_loss(recon: torch.Tensor, x: torch.Tensor, z: torch.Tensor, cfg: LossConfig | None = None):
    """Weighted sum of the configured terms -> (total scalar tensor, {name: float} of every term used).

    recon, x: (B, 1, S, S) in [0, 1]; z: (B, d) latent batch. Terms with weight 0 are skipped.
    """
    cfg = cfg or LossConfig()
    parts: dict[str, torch.Tensor] = {}
    if cfg.mse:
        parts["mse"] = mse(recon, x)
    if cfg.focal_mse:
        parts["focal_mse"] = focal_mse(recon, x, cfg.focal_gamma)
    if cfg.ms_ssim:
        parts["ms_ssim"] = ms_ssim_loss(recon, x)
    if cfg.ssim:
        parts["ssim"] = ssim_loss(recon, x)
    if cfg.detail:
        parts["detail"] = detail_loss(recon, x)
    if (cfg.covariance or cfg.variance) and z.shape[0] >= 2:
        parts["covariance"], parts["variance"] = covariance_loss(z, cfg.target_std)
    weights = {"mse": cfg.mse, "focal_mse": cfg.focal_mse, "ms_ssim": cfg.ms_ssim, "ssim": cfg.ssim, "detail": cfg.detail,
               "covariance": cfg.covariance, "variance": cfg.variance}
    total = sum(weights[k] * v for k, v in parts.items())
    if not parts:
        total = recon.new_zeros(())
    return total, {k: float(v.detach()) for k, v in parts.items()}
