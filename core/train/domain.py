"""Domain adaptation for classifiers: adversarial feature alignment (DANN, Ganin et al. 2016).

`domain_adaptation = "dann"` in a training config, with `target_data` = a folder of images of the
target domain (labels, if any, are never read): every training batch of labelled source images is
joined by as many target images drawn at random; both go through the classifier's `embed` in one
batch (batch norm sees both domains, as at test time after `bn_images`), the source half through
the head to the cross-entropy, and the whole embedding through a gradient-reversal layer into a
small domain classifier (source 0 / target 1, binary cross-entropy). The encoder therefore learns
an invariant embedding that is also indistinguishable between the domains. The reversal weight
ramps as in the paper, lambda(p) = w (2 / (1 + exp(-10 p)) - 1) over the training steps p in
[0, 1] (`domain_weight` = w). The log shows `domain` (the domain loss; near ln 2 = 0.693 when
the domains are aligned), `domain_acc` and `lambda` per epoch.

`domain_adaptation = "adabn"` (Li et al. 2016, adaptive batch norm) trains on the source as usual and
sets every batch norm's statistics from the target images alone after each epoch: no domain loss, the
encoder's weights see only source labels.

Only the classifier is saved; the domain head is training machinery. The run keeps its last weights,
not the epoch with the lowest source validation loss (core/train/fit.py): without target labels the
source loss is no criterion for the target domain, and it favours the least-adapted early epochs. `evaluate_finder` adds the
ROC points of the positive class to the test metrics (stored in the checkpoint, so the app plots
them without evaluating).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError

METHODS = ("none", "dann", "adabn")
LOGGED = ("domain", "domain_acc", "lambda")  # training parts the epoch line of the log shows
ROC_POINTS = 101  # false-positive-rate grid of the stored ROC curves


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times -lambda backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


class DannModule(nn.Module):
    """A classifier (with `embed` and `head`) plus a domain head; `forward` is the classifier's."""

    def __init__(self, classifier: nn.Module, target: torch.Tensor, weight: float, total_steps: int):
        super().__init__()
        self.classifier = classifier
        width = int(classifier.config.hidden)
        self.domain_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
        self.target = target  # (M, 1, S, S) target-domain images in [0, 1]; not a buffer (not saved)
        self.weight = float(weight)
        self.total_steps = max(int(total_steps), 1)
        self.steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def lam(self) -> float:
        """The reversal weight at the current step: w (2 / (1 + exp(-10 p)) - 1)."""
        p = min(1.0, self.steps / self.total_steps)
        return self.weight * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)

    def target_batch(self, n: int, device) -> torch.Tensor:
        """n target images drawn with torch's global RNG (seeded per epoch by the trainer)."""
        idx = torch.randint(len(self.target), (n,))
        return self.target[idx].to(device)


def inner(model: nn.Module) -> nn.Module:
    """The classifier inside a DannModule; any other module as it is."""
    return model.classifier if isinstance(model, DannModule) else model


def check(cfg) -> None:
    """One sentence if the domain-adaptation settings do not fit together."""
    if cfg.domain_adaptation not in METHODS:
        raise InputError(f"Unknown domain_adaptation '{cfg.domain_adaptation}'; use one of {', '.join(METHODS)}.")
    if cfg.domain_adaptation != "none" and not cfg.target_data:
        raise InputError("domain_adaptation needs target_data: a folder of (unlabelled) images of the target domain.")
    if cfg.domain_adaptation != "none" and cfg.folds > 1:
        raise InputError("domain_adaptation trains one model; set folds = 1.")


def load_target(cfg, image_size: int, progress=None) -> torch.Tensor | None:
    """The target-domain images (M, 1, S, S) on the model grid; their labels are not read."""
    if cfg.domain_adaptation == "none":
        return None
    from core.data.datasets import load_tensors

    X, _, _ = load_tensors(cfg.target_data, image_size, progress)
    return X


def attach(model: nn.Module, cfg, target: torch.Tensor | None, total_steps: int) -> nn.Module:
    """Wrap the classifier for DANN training (or return it unchanged)."""
    if target is None or cfg.domain_adaptation != "dann":
        return model
    if not all(hasattr(model, a) for a in ("embed", "head")):
        raise InputError(f"domain_adaptation works on classifiers with an embedding and a head; {cfg.model} has none.")
    return DannModule(model, target, cfg.domain_weight, total_steps)


def dann_loss_fn(base_loss, label_smoothing: float = 0.0):
    """The engine loss: cross-entropy on the source half + the domain loss through the reversal layer
    when training; the base classification loss in eval mode (validation is on source images)."""

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        m = model.module if hasattr(model, "module") else model
        if not (isinstance(m, DannModule) and m.training):
            return base_loss(inner(m), x, y)
        b = x.shape[0]
        emb = m.classifier.embed(torch.cat([x, m.target_batch(b, x.device)]))  # (2B, hidden)
        logits = m.classifier.head(emb[:b]).float()  # (B, K)
        ce = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        lam = m.lam()
        m.steps += 1
        d = m.domain_head(GradientReversal.apply(emb, lam)).squeeze(1).float()  # (2B,)
        domain_y = torch.cat([torch.zeros(b), torch.ones(b)]).to(d.device)
        domain = F.binary_cross_entropy_with_logits(d, domain_y)
        parts = {"ce": ce.item(), "acc": (logits.argmax(1) == y).float().mean().item(), "domain": domain.item(),
                 "domain_acc": ((d > 0).float() == domain_y).float().mean().item(), "lambda": lam}
        return ce + domain, parts

    return loss_fn


def bn_images(train_set, target: torch.Tensor | None, method: str = "dann", n: int = 2048):
    """The images batch norm is recalibrated on: the training images; under DANN source and target
    images interleaved (the mixed statistics the encoder was trained with); under AdaBN the target's."""
    if target is None:
        return train_set
    from torch.utils.data import TensorDataset

    if method == "adabn":
        return TensorDataset(target[:n], torch.zeros(min(n, len(target)), dtype=torch.int64))

    half = min(n // 2, len(train_set), len(target))
    src = train_set[:half][0]
    mixed = torch.stack([src, target[:half]], dim=1).flatten(0, 1)  # (2 half, 1, S, S): s, t, s, t, ...
    return TensorDataset(mixed, torch.zeros(len(mixed), dtype=torch.int64))


def roc_points(curve, n: int = ROC_POINTS) -> dict:
    """A `core.analysis.metrics.RocCurve` on a grid of `n` false-positive rates: {"fpr": [...], "tpr": [...], "auc"}."""
    grid = np.linspace(0.0, 1.0, n)
    return {"fpr": grid.round(4).tolist(), "tpr": np.interp(grid, curve.fpr, curve.tpr).round(4).tolist(), "auc": curve.auc}


def evaluate_finder(model_name: str, config: dict, members: list[dict], folder, classes: list[str], device="cpu",
                    positive: str = "lens") -> dict:
    """`evaluate_members` metrics of a binary classifier on a labelled folder, plus `auroc` and
    `roc` (ROC points) of the `positive` class."""
    from core.analysis.evaluate import classifier_metrics, predict
    from core.analysis.metrics import roc_report
    from core.checkpoints import build_from_checkpoint
    from core.data.datasets import load_tensors

    model = build_from_checkpoint({"model_name": model_name, "config": config, "members": members}, device=device)
    X, labels, _ = load_tensors(folder, int(config.get("image_size", 129)), classes=classes)
    logits = predict(model, X, device, 64)
    metrics = classifier_metrics(logits, labels, classes)
    k = classes.index(positive) if positive in classes else len(classes) - 1
    roc = roc_points(roc_report(labels.numpy(), logits.float().softmax(1).numpy(), classes).curves[k])
    metrics["auroc"], metrics["roc"], metrics["positive_class"] = roc.pop("auc"), roc, classes[k]
    return metrics


def held_out_test_metrics(cfg, model_name: str, config: dict, members: list[dict], classes: list[str], device) -> dict:
    """{"test": source test, "test_target": target test} with ROC points, for the folders the config names,
    and the `domain_adaptation` the model was trained with."""
    out = {"domain_adaptation": cfg.domain_adaptation}
    for key, folder in (("test", cfg.test_data), ("test_target", cfg.target_test_data)):
        if folder:
            out[key] = evaluate_finder(model_name, config, members, folder, classes, device)
    return out
