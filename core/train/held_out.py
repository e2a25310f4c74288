"""The evaluate step at the end of `fit`: the checkpoint's metrics on images no member trained on,
the validation split (out-of-fold for K > 1) and, if the config names them, the test folders."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.train import domain
from core.train.config import TrainConfig
from core.train.train_data import TrainData


def first_member(cfg: TrainConfig, data: TrainData, members: list[dict], device) -> nn.Module:
    """The first member's model on `device` (a pretrained encoder is scored alone)."""
    from core.models.registry import build_model

    model = build_model(cfg.model, data.mcfg)
    model.load_state_dict(members[0])
    model.to(device)
    return model


def validation_metrics(cfg: TrainConfig, data: TrainData, members: list[dict], device, encoder: nn.Module | None) -> dict:
    """Each member scored on its own validation split, pooled; an `encoder` (self-supervised: no outputs
    to score) by its VICReg loss and a diagnostic probe instead."""
    if encoder is None:
        return held_out_metrics(cfg, data.mcfg, data.kind, members, data.X, data.y, data.splits, data.classes, device)
    from core.train.pretrain import encoder_metrics

    val_idx = np.concatenate([v for _, v in data.splits[: len(members)]])
    metrics = encoder_metrics(encoder, data.X[val_idx], data.y[val_idx], list(data.index.classes), cfg.loss, device)
    metrics["split"] = f"validation ({cfg.val_fraction:.0%} held out, seed {cfg.seed})"
    return metrics


def metrics_on_test_sets(cfg: TrainConfig, data: TrainData, members: list[dict], device, encoder: nn.Module | None) -> dict:
    """{"test": ...} on cfg.test_data; with cfg.target_test_data, both domains' test sets with ROC points."""
    out = {}
    if cfg.test_data and encoder is not None:
        from core.data.datasets import load_tensors
        from core.train.pretrain import encoder_metrics

        X_test, y_test, test_index = load_tensors(cfg.test_data, data.image_size)
        out["test"] = encoder_metrics(encoder, X_test, y_test, list(test_index.classes), cfg.loss, device)
    elif cfg.test_data:
        from core.analysis.evaluate import evaluate_members

        out["test"] = evaluate_members(cfg.model, data.mcfg, members, cfg.test_data, data.classes, device)
    if cfg.target_test_data:  # a second domain: both test sets with the positive class's AUROC and ROC points
        out.update(domain.held_out_test_metrics(cfg, cfg.model, data.mcfg, members, data.classes, device))
    return out


@torch.no_grad()
def held_out_metrics(cfg, mcfg, kind, members, X, y, splits, classes, device) -> dict:
    """Metrics of each member on its own validation split, pooled (out-of-fold for K > 1)."""
    from core.analysis.evaluate import metrics_from_outputs, predict
    from core.models.registry import build_model

    outs, targets, labels = [], [], []
    for state, (_, val_idx) in zip(members, splits, strict=False):
        model = build_model(cfg.model, mcfg)
        model.load_state_dict(state)
        model.to(device).eval()
        outs.append(predict(model, X[val_idx], device, batch_size=cfg.batch_size * 2))
        targets.append(y[val_idx] if kind == "superres" or y.dim() == 4 else X[val_idx])  # denoising: the noise-free twins
        labels.append(X[val_idx] if kind == "superres" else y[val_idx])  # superres: the LR inputs (for bicubic)
    metrics = metrics_from_outputs(kind, torch.cat(outs), torch.cat(targets), torch.cat(labels), classes)
    metrics["split"] = "out-of-fold" if len(members) > 1 else f"validation ({cfg.val_fraction:.0%} held out, seed {cfg.seed})"
    if cfg.clean_data:
        metrics["split"] += ", against the noise-free twins"
    return metrics
