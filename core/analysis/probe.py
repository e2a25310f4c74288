"""Linear (logistic) probe on frozen embeddings: few labels -> a classifier for every image.

One code path for the `probe` command, the benchmarks and the Latent map's "label on the map".
The probe standardises the embedding with the labelled rows' mean and scale, then fits an
L2-regularised multinomial logistic regression (scikit-learn, lbfgs). It is saved as a plain
tensor dict (`torch.load(weights_only=True)`), written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from core.analysis.metrics import roc_report
from core.atomic import atomic_write_bytes
from core.errors import CheckpointError, InputError

PROBE_FORMAT = 1


@dataclass
class LinearProbe:
    """p(class | z) = softmax(W ((z - mean) / scale) + b); binary problems keep two rows."""

    classes: list[str]
    mean: np.ndarray   # (d,)
    scale: np.ndarray  # (d,)
    weight: np.ndarray  # (n_classes, d)
    bias: np.ndarray    # (n_classes,)
    n_train: int

    def logits(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.mean.shape[0]:
            raise InputError(f"The probe expects embeddings of size {self.mean.shape[0]}, "
                             f"got shape {tuple(z.shape)}; use the backbone it was fitted on.")
        return ((z - self.mean) / self.scale) @ self.weight.T + self.bias

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        logits = self.logits(z)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, z: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(z).argmax(axis=1)]


def fit_probe(z: np.ndarray, labels: Sequence[str], *, c: float = 1.0,
              classes: Sequence[str] | None = None) -> LinearProbe:
    """Fit on rows `z` with their class names; needs at least two classes with one image each."""
    z = np.asarray(z, dtype=np.float64)
    labels = [str(x) for x in labels]
    if z.ndim != 2 or len(labels) != z.shape[0]:
        raise InputError(f"Need one label per embedding row, got {len(labels)} labels for shape {tuple(z.shape)}.")
    names = list(classes) if classes is not None else sorted(set(labels))
    present = sorted(set(labels))
    if len(present) < 2:
        raise InputError("Label images of at least two classes before fitting a probe.")
    unknown = sorted(set(present) - set(names))
    if unknown:
        raise InputError(f"Labels {unknown} are not among the classes {names}.")
    if not np.isfinite(z).all():
        raise InputError("Some embeddings are not finite; the probe cannot be fitted on them.")
    mean = z.mean(axis=0)
    scale = z.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    y = np.array([names.index(x) for x in labels])
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((z - mean) / scale, y)
    weight = np.zeros((len(names), z.shape[1]))
    bias = np.full(len(names), -1e4)  # a class without labels is never predicted
    fitted = model.classes_
    if len(fitted) == 2:  # sklearn keeps one row for a binary problem
        weight[fitted[1]], bias[fitted[1]] = model.coef_[0] / 2, model.intercept_[0] / 2
        weight[fitted[0]], bias[fitted[0]] = -model.coef_[0] / 2, -model.intercept_[0] / 2
    else:
        weight[fitted] = model.coef_
        bias[fitted] = model.intercept_
    return LinearProbe(names, mean, scale, weight, bias, n_train=len(labels))


def macro_auc(probs: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> float:
    """One-vs-rest ROC AUC averaged over the classes present (`core.analysis.metrics.roc_report`)."""
    y = np.array([list(classes).index(x) for x in labels])
    if len(set(y.tolist())) < 2:
        raise InputError("Macro AUC needs images of at least two classes among the evaluated ones.")
    return roc_report(y, probs, list(classes)).macro_auc


def few_label_split(labels: Sequence[str], per_class: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `per_class` images of each class (all if None) and of the rest, drawn with `seed`."""
    labels = np.asarray([str(x) for x in labels])
    rng = np.random.default_rng(seed)
    train: list[int] = []
    for name in sorted(set(labels)):
        idx = np.flatnonzero(labels == name)
        if per_class is not None and per_class >= len(idx):
            raise InputError(f"Class {name!r} has {len(idx)} images; {per_class} labels per class "
                             "leave none to evaluate on.")
        take = idx if per_class is None else rng.choice(idx, size=per_class, replace=False)
        train.extend(int(i) for i in take)
    train_idx = np.sort(np.array(train, dtype=int))
    rest = np.setdiff1d(np.arange(len(labels)), train_idx)
    return train_idx, rest


def probe_bytes(probe: LinearProbe, *, backbone: str | None = None) -> bytes:
    """The probe file's bytes (for a download button or `save_probe`)."""
    payload = {
        "format": PROBE_FORMAT, "kind": "linear_probe", "classes": list(probe.classes),
        "backbone": backbone, "n_train": int(probe.n_train),
        "mean": torch.from_numpy(probe.mean), "scale": torch.from_numpy(probe.scale),
        "weight": torch.from_numpy(probe.weight), "bias": torch.from_numpy(probe.bias),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def save_probe(probe: LinearProbe, path: str | Path, *, backbone: str | None = None) -> None:
    atomic_write_bytes(path, probe_bytes(probe, backbone=backbone))


def load_probe(source: str | Path | bytes) -> tuple[LinearProbe, str | None]:
    """(probe, backbone name) from a file written by `save_probe` / `probe_bytes`."""
    try:
        fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with fh:
            payload = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"Probe file {source} does not exist.") from exc
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one sentence
        raise CheckpointError("This file is not a probe saved by EquiScope (it could not be read as one).") from exc
    if not isinstance(payload, dict) or payload.get("kind") != "linear_probe":
        raise CheckpointError("This file is not a probe saved by EquiScope (it could not be read as one).")
    probe = LinearProbe(list(payload["classes"]), payload["mean"].numpy(), payload["scale"].numpy(),
                        payload["weight"].numpy(), payload["bias"].numpy(), int(payload["n_train"]))
    return probe, payload.get("backbone")
