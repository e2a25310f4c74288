"""Training losses and the image-similarity settings shared with evaluation.

Images are in [0, 1] (min-max normalised, `core.data.preprocess.prepare`), so every
similarity uses data_range = 1. MS-SSIM (pytorch_msssim, 5 scales with the standard weights)
downsamples 4 times and needs an image side > (win - 1) * 16: the Gaussian window is the
largest odd size <= 11 that fits (9 on 129- and 150-pixel grids; smaller on tiny test grids).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim
from torch import nn

AE_DEFAULTS = {"mse": 1.0, "ms_ssim": 0.2}  # weight of MSE and of (1 - MS-SSIM)
CLS_DEFAULTS = {"ce": 1.0, "label_smoothing": 0.0}  # cross-entropy weight, label smoothing in [0, 1)


def ssim_window(side: int) -> int:
    """Largest odd Gaussian window <= 11 with which 5-scale MS-SSIM fits an image of this side."""
    win = 11
    while win > 3 and side <= (win - 1) * 16:
        win -= 2
    if side <= (win - 1) * 16:
        raise ValueError(f"Images of side {side} are too small for 5-scale MS-SSIM; use at least 33 pixels.")
    return win


def ms_ssim_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) pair in [0, 1] -> (B,) MS-SSIM (1 = identical)."""
    win = ssim_window(min(target.shape[-2:]))
    return ms_ssim(recon.float().clamp(0, 1), target.float(), data_range=1.0, win_size=win, size_average=False)


def ssim_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) pair in [0, 1] -> (B,) SSIM with the same window as MS-SSIM."""
    win = ssim_window(min(target.shape[-2:]))
    return ssim(recon.float().clamp(0, 1), target.float(), data_range=1.0, win_size=win, size_average=False)


def reconstruction_loss(weights: dict | None = None):
    """loss = w_mse * MSE + w_ms_ssim * (1 - MS-SSIM) of the model's reconstruction of x."""
    w = {**AE_DEFAULTS, **(weights or {})}

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        recon = model(x).float()  # (B, 1, S, S)
        mse = F.mse_loss(recon, x.float())
        loss = w["mse"] * mse
        parts = {"mse": mse.item()}
        if w["ms_ssim"]:
            msssim = ms_ssim_per_image(recon, x).mean()
            loss = loss + w["ms_ssim"] * (1.0 - msssim)
            parts["ms_ssim"] = msssim.item()
        return loss, parts

    return loss_fn


def classification_loss(weights: dict | None = None):
    """loss = w_ce * cross-entropy(logits, y) with optional label smoothing; reports accuracy."""
    w = {**CLS_DEFAULTS, **(weights or {})}

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits = model(x).float()  # (B, n_classes)
        ce = F.cross_entropy(logits, y, label_smoothing=float(w["label_smoothing"]))
        acc = (logits.argmax(dim=1) == y).float().mean()
        return w["ce"] * ce, {"ce": ce.item(), "acc": acc.item()}

    return loss_fn


def make_loss(kind: str, weights: dict | None = None):
    """The loss for a model kind ("autoencoder" | "classifier"); unknown weight names are an error."""
    defaults = AE_DEFAULTS if kind == "autoencoder" else CLS_DEFAULTS
    unknown = sorted(set(weights or {}) - set(defaults))
    if unknown:
        raise ValueError(f"Unknown loss weight(s) {', '.join(unknown)} for a {kind}; known: {', '.join(defaults)}.")
    return reconstruction_loss(weights) if kind == "autoencoder" else classification_loss(weights)
