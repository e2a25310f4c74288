"""Self-supervised pretraining (VICReg on two instrument views): the loss the trainer uses for
models of kind "encoder", and the held-out metrics of such a run.

Recipe: every batch x (B, 1, S, S) gets two independent instrument views
(`core.data.instrument_views.instrument_view`: sub-pixel shift, PSF blur jitter, flux gain + sky offset,
Poisson-like + Gaussian noise); both go through the backbone and its projector in ONE forward
pass (batch 2B, so DDP and batch norm see one call); `core.models.losses.vicreg_loss` pulls the
two projections together while keeping every dimension's variance up and the dimensions
decorrelated. Labels are never read. The equivariant backbone gets no rotations or flips (its
embedding is invariant to the group's 90-degree elements by construction); the CNN twin gets an
independent random D4 element per view (`e2 = true` in the loss table) so that it is asked to
learn the same invariance from data.

Loss table (`[loss]` of the TOML): VICReg weights `invariance`, `variance`, `covariance`
(defaults 25 / 25 / 1, the paper's) and every `ViewConfig` field.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from core.data.instrument_views import ViewConfig, instrument_view

VICREG_DEFAULTS = {"invariance": 25.0, "variance": 25.0, "covariance": 1.0}
PROBE_CHECK_SEED = 0  # split of the validation images for the diagnostic probe in the metrics


def split_loss_settings(weights: dict | None) -> tuple[dict, ViewConfig]:
    """The loss table -> (VICReg weights, ViewConfig); an unknown key is one sentence."""
    weights = dict(weights or {})
    view_keys = {f.name for f in dataclasses.fields(ViewConfig)}
    unknown = sorted(set(weights) - set(VICREG_DEFAULTS) - view_keys)
    if unknown:
        raise ValueError(f"Unknown loss setting(s) {', '.join(unknown)} for pretraining; known: "
                         f"{', '.join([*VICREG_DEFAULTS, *sorted(view_keys)])}.")
    vic = {k: float(weights.get(k, v)) for k, v in VICREG_DEFAULTS.items()}
    views = ViewConfig(**{k: v for k, v in weights.items() if k in view_keys})
    return vic, views


def vicreg_loss_fn(weights: dict | None = None):
    """`loss_fn(model, x, y)` for the engine: VICReg between two instrument views of x (y unused)."""
    from core.models.losses import vicreg_loss

    vic, views = split_loss_settings(weights)

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        b = x.shape[0]
        pair = torch.cat([instrument_view(x, views), instrument_view(x, views)])  # (2B, 1, S, S)
        z = model(pair).float()  # (2B, d_proj)
        total, parts = vicreg_loss(z[:b], z[b:], **vic)
        return total, parts

    return loss_fn


@torch.no_grad()
def encoder_metrics(model: nn.Module, X: torch.Tensor, y: torch.Tensor, classes: list[str] | None,
                    weights: dict | None, device, batch_size: int = 128) -> dict:
    """Held-out metrics of a pretrained encoder on images X (N, 1, S, S): its VICReg loss on seeded
    views, the spread of the embedding, and (when labelled, as a diagnostic only; pretraining never
    reads labels) the macro AUC of a linear probe fitted on half of these images, tested on the other half."""
    from core.analysis.probe import few_label_split, fit_probe, macro_auc

    model.eval()
    loss_fn = vicreg_loss_fn(weights)
    torch.manual_seed(PROBE_CHECK_SEED)
    losses, embs = [], []
    for i in range(0, len(X), batch_size):
        xb = X[i : i + batch_size].to(device)
        if len(xb) > 1:
            losses.append((float(loss_fn(model, xb, None)[0]), len(xb)))
        embs.append(model.embed(xb).float().cpu())
    z = torch.cat(embs).numpy()
    metrics = {
        "vicreg_loss": sum(v * n for v, n in losses) / max(1, sum(n for _, n in losses)),
        "embedding_std": float(z.std(axis=0).mean()),
        "embedding_dim": int(z.shape[1]),
        "n": len(X),
    }
    labels = y.numpy() if y is not None else None
    if classes and labels is not None and (labels >= 0).all() and len(set(labels.tolist())) > 1:
        names = [classes[i] for i in labels]
        per_class = min(np.bincount(labels).min() // 2, 1000)
        if per_class >= 1:
            train, rest = few_label_split(names, int(per_class), seed=PROBE_CHECK_SEED)
            probe = fit_probe(z[train], [names[i] for i in train], classes=classes)
            metrics["probe_macro_auc"] = macro_auc(probe.predict_proba(z[rest]), [names[i] for i in rest], classes)
            metrics["probe_labels_per_class"] = int(per_class)
    return metrics
