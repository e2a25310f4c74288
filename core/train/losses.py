"""Training losses as `loss_fn(model, x, y) -> (loss, parts)` for the engine.

The terms and their settings live in `core.models.losses` (focal MSE, MS-SSIM with a 7-pixel
window, VICReg-style latent covariance, cross-entropy); this module only wires them to a
model. Autoencoders are trained through `ReconWithLatent`, whose `forward` returns the
reconstruction and the latent together, so that the latent terms also work under DDP (DDP
only synchronises gradients of what runs through the wrapped module's `forward`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CLS_DEFAULTS = {
    "label_smoothing": 0.0,  # cross-entropy label smoothing in [0, 1)
    "resample_consistency": 0.0,  # weight of the logits' squared relative change under one more resampling (0 = off)
}


class ReconWithLatent(nn.Module):
    """Wraps an autoencoder: x (B, 1, S, S) -> (recon (B, 1, S, S), z (B, latent_dim))."""

    def __init__(self, autoencoder: nn.Module):
        super().__init__()
        self.ae = autoencoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.ae, "encode_pose"):  # equivariant AE: invariant z + pose logits
            z, pose = self.ae.encode_pose(x)  # (B, d), (B, |G|)
            return self.ae.decode(z, pose), z
        z = self.ae.encode(x)  # (B, d)
        return self.ae.decode(z), z


def autoencoder_loss_fn(weights: dict | None = None):
    """Weighted `core.models.losses.autoencoder_loss`; `parts` always includes the plain MSE.

    `vicreg` (weight, default 0): while training, each batch also gets a second view of every
    disk observed again (`core.data.nuisance_views.nuisance_view`: wider beam, clean residuals, new
    noise; `vicreg_scale` = (lo, hi) also reframes it), run through the model in the same forward,
    and `vicreg * vicreg_loss(z, z_view)` is added on the first `vicreg_dims` latent dimensions
    (0 = all), so that part of the latent learns to ignore how a disk was observed while the rest
    may keep what the decoder needs. The invariance term only: the latent's variance and covariance
    terms are the autoencoder loss's own. Only the first view is reconstructed; validation (eval
    mode) scores the reconstruction terms alone.
    """
    from core.data.nuisance_views import NuisanceConfig
    from core.models.losses import LossConfig, autoencoder_loss

    weights = dict(weights or {})
    pair_weight = float(weights.pop("vicreg", 0.0))
    pair_dims = int(weights.pop("vicreg_dims", 0))
    views = NuisanceConfig(scale=tuple(weights.pop("vicreg_scale", (1.0, 1.0))))
    cfg = LossConfig.from_dict(weights)

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        pairs = pair_weight > 0 and model.training and x.shape[0] >= 2
        if pairs:
            from core.data.nuisance_views import nuisance_view

            recon, z = model(torch.cat([x, nuisance_view(x.cpu(), config=views).to(x.device)]))  # (2B, 1, S, S), (2B, d)
            recon, z, z_view = recon[: len(x)], z[: len(x)], z[len(x) :]
        else:
            recon, z = model(x)  # (B, 1, S, S), (B, d)
        target = y if y is not None and y.dim() == 4 else x  # denoising: y = the noise-free twins
        total, parts = autoencoder_loss(recon.float(), target.float(), z.float(), cfg)
        if pairs:
            from core.models.losses import vicreg_loss

            part = slice(0, pair_dims or z.shape[1])
            pair, pair_parts = vicreg_loss(z[:, part].float(), z_view[:, part].float(), variance=0.0, covariance=0.0)
            total = total + pair_weight * pair
            parts.update({f"vicreg_{k}": v for k, v in pair_parts.items()})
        if "mse" not in parts:
            parts["mse"] = float(F.mse_loss(recon.detach().float(), target.float()))
        return total, parts

    return loss_fn


def classifier_loss_fn(weights: dict | None = None):
    """Cross-entropy (optional label smoothing); `parts` reports the batch accuracy too."""
    from core.models.losses import classification_loss

    unknown = sorted(set(weights or {}) - set(CLS_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown loss setting(s) {', '.join(unknown)} for a classifier; known: {', '.join(CLS_DEFAULTS)}.")
    w = {**CLS_DEFAULTS, **(weights or {})}

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits = model(x).float()  # (B, n_classes)
        ce = classification_loss(logits, y, label_smoothing=float(w["label_smoothing"]))
        acc = (logits.argmax(dim=1) == y).float().mean()
        parts = {"ce": ce.item(), "acc": acc.item()}
        if not w["resample_consistency"]:
            return ce, parts
        change = resample_change(model, x, logits)
        parts["resample_consistency"] = change.item()
        return ce + float(w["resample_consistency"]) * change, parts

    return loss_fn


def resample_change(model: nn.Module, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||f(r x) - f(x)||^2 / ||f(x)||^2, r a bilinear turn by any angle with a sub-pixel
    shift (core.data.observe.pipeline_resample): the squared relative change bench.rotation measures off the grid.
    Both sides carry gradients, so the term does not change when all logits are scaled: held fixed, the denominator
    let training shrink the logits instead (measured: the off-grid change rose from 0.13 to 0.20)."""
    from core.data.observe import pipeline_resample

    again = model(pipeline_resample(x, 1.0)).float()
    return (((again - logits) ** 2).sum(1) / (logits ** 2).sum(1).clamp_min(1e-6)).mean()


def superres_loss_fn(weights: dict | None = None):
    """L1 / MSE / SSIM of the upscaled LR batch x against its HR batch y (`core.models.superres.superres_loss`)."""
    from core.models.superres import SRLossConfig, superres_loss

    cfg = SRLossConfig.from_dict(weights)

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        return superres_loss(model(x).float(), y.float(), cfg)  # (B, 1, 2h, 2w) each

    return loss_fn


def make_loss(kind: str, weights: dict | None = None):
    """The engine loss for a model kind ("autoencoder" | "classifier" | "superres" | "encoder")."""
    if kind == "encoder":  # self-supervised: VICReg between two instrument views (core/train/pretrain.py)
        from core.train.pretrain import vicreg_loss_fn

        return vicreg_loss_fn(weights)
    if kind == "superres":
        return superres_loss_fn(weights)
    return autoencoder_loss_fn(weights) if kind == "autoencoder" else classifier_loss_fn(weights)


def training_module(model: nn.Module) -> nn.Module:
    """What the engine trains: the autoencoder wrapped to also return its latent; classifiers as they are."""
    return ReconWithLatent(model) if getattr(model, "kind", None) == "autoencoder" else model
