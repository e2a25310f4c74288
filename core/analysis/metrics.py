"""Classifier quality: one-vs-rest ROC curves, AUC and the confusion matrix.

Scores are class probabilities (or any monotone score per class), shape (N, K); labels are
class indices in 0..K-1. The macro AUC is the unweighted mean of the per-class one-vs-rest
AUCs (scikit-learn's `roc_auc_score(..., multi_class="ovr", average="macro")`); the micro AUC
pools every (sample, class) decision into one binary problem, which is the number DeepLense
papers quote as "micro-AUC".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import auc, confusion_matrix, roc_curve

from core.errors import InputError


@dataclass
class RocCurve:
    """One class against the rest: false/true positive rates at each score threshold."""

    class_name: str
    fpr: np.ndarray  # (T,) false positive rate, 0..1, increasing
    tpr: np.ndarray  # (T,) true positive rate, 0..1
    thresholds: np.ndarray  # (T,) score thresholds, decreasing
    auc: float  # area under this curve; NaN when the class is absent (or alone) in the labels


@dataclass
class RocReport:
    curves: list[RocCurve]
    macro_auc: float  # mean of the per-class AUCs that are defined
    micro_auc: float  # AUC of all (sample, class) decisions pooled
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "per_class_auc": {c.class_name: c.auc for c in self.curves},
            "macro_auc": self.macro_auc,
            "micro_auc": self.micro_auc,
            "notes": list(self.notes),
        }


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or y.ndim != 1 or len(y) != len(s):
        raise InputError(
            f"Expected labels of shape (N,) and scores of shape (N, K); got {y.shape} and {s.shape}."
        )
    if len(y) == 0:
        raise InputError("There are no samples to score; evaluate on at least one labelled image.")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise InputError(f"Labels must be class indices between 0 and {s.shape[1] - 1}.")
    return y.astype(int), s


def roc_report(y_true, scores, class_names: list[str] | None = None) -> RocReport:
    """Per-class one-vs-rest ROC curves with AUC, macro and micro AUC.

    y_true: (N,) class indices; scores: (N, K) probabilities or scores, higher = more likely.
    """
    y, s = _check(y_true, scores)
    k = s.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    onehot = np.eye(k, dtype=int)[y]  # (N, K)
    curves, notes = [], []
    for c in range(k):
        positives = int(onehot[:, c].sum())
        if positives in (0, len(y)):
            notes.append(f"Class '{names[c]}' has {'no' if positives == 0 else 'only'} samples; its AUC is undefined.")
            curves.append(RocCurve(names[c], np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([np.inf, -np.inf]), float("nan")))
            continue
        fpr, tpr, thr = roc_curve(onehot[:, c], s[:, c])
        curves.append(RocCurve(names[c], fpr, tpr, thr, float(auc(fpr, tpr))))
    defined = [c.auc for c in curves if np.isfinite(c.auc)]
    macro = float(np.mean(defined)) if defined else float("nan")
    fpr, tpr, _ = roc_curve(onehot.ravel(), s.ravel())
    micro = float(auc(fpr, tpr)) if 0 < onehot.sum() < onehot.size else float("nan")
    return RocReport(curves, macro, micro, notes)


def confusion(y_true, y_pred, n_classes: int, normalize: bool = False) -> np.ndarray:
    """(K, K) confusion matrix: row = true class, column = predicted class.

    normalize=True divides each row by its count (rows of absent classes stay 0).
    """
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(n_classes)))
    if not normalize:
        return cm
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")
