"""ROC / AUC / confusion matrix agree with scikit-learn and with hand-computed values."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.analysis.metrics import accuracy, confusion, roc_report
from core.errors import InputError


def test_auc_of_hand_computed_toy_case():
    # class 0 scores: positives 0.9, 0.4; negatives 0.6, 0.1 -> 3 of 4 pairs ordered -> AUC 0.75
    y = np.array([0, 0, 1, 1])
    p0 = np.array([0.9, 0.4, 0.6, 0.1])
    scores = np.stack([p0, 1 - p0], axis=1)
    rep = roc_report(y, scores, ["a", "b"])
    assert rep.curves[0].auc == pytest.approx(0.75)
    assert rep.curves[1].auc == pytest.approx(0.75)
    assert rep.curves[0].fpr[0] == 0 and rep.curves[0].tpr[-1] == 1


def test_macro_and_micro_auc_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=200)
    logits = rng.normal(size=(200, 3)) + 1.5 * np.eye(3)[y]
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    rep = roc_report(y, scores, ["no_sub", "cdm", "vortex"])
    assert rep.macro_auc == pytest.approx(roc_auc_score(y, scores, multi_class="ovr", average="macro"), abs=1e-12)
    assert rep.micro_auc == pytest.approx(roc_auc_score(np.eye(3)[y], scores, average="micro"), abs=1e-12)
    for c, curve in enumerate(rep.curves):
        assert curve.auc == pytest.approx(roc_auc_score(y == c, scores[:, c]), abs=1e-12)
    assert 0.7 < rep.macro_auc < 1.0  # informative but imperfect scores


def test_absent_class_gives_nan_with_a_note():
    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    rep = roc_report(y, scores, ["a", "b", "c"])
    assert np.isnan(rep.curves[2].auc)
    assert rep.macro_auc == pytest.approx(1.0)
    assert rep.notes == ["Class 'c' has no samples; its AUC is undefined."]


def test_confusion_matrix_rows_are_true_classes():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    cm = confusion(y_true, y_pred, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    norm = confusion(y_true, y_pred, 4, normalize=True)
    assert norm[2].tolist() == pytest.approx([1 / 3, 0, 2 / 3, 0])
    assert norm[3].tolist() == [0, 0, 0, 0]
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_bad_shapes_are_one_sentence():
    with pytest.raises(InputError, match=r"^Expected labels of shape \(N,\) and scores of shape \(N, K\); got \(3,\) and \(2, 2\)\.$"):
        roc_report([0, 1, 1], np.zeros((2, 2)))
    with pytest.raises(InputError, match="^Labels must be class indices between 0 and 1.$"):
        roc_report([0, 2], np.zeros((2, 2)))
