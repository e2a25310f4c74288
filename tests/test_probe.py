"""The linear probe: separable embeddings are learned from few labels, saved and reloaded exactly."""

import numpy as np
import pytest

from core.analysis.probe import (
    few_label_split,
    fit_probe,
    load_probe,
    macro_auc,
    probe_bytes,
    save_probe,
)
from core.errors import CheckpointError, InputError


def _blobs(n_per_class=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    names = ["no_sub", "cdm", "vortex"]
    centres = rng.normal(0, 4, size=(3, d))
    z = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, d)) for c in centres])
    labels = [n for n in names for _ in range(n_per_class)]
    return z, labels, names


def test_probe_learns_separable_classes_from_five_labels():
    z, labels, names = _blobs()
    train, rest = few_label_split(labels, 5, seed=1)
    assert len(train) == 15 and len(rest) == len(labels) - 15 and not set(train) & set(rest)
    probe = fit_probe(z[train], [labels[i] for i in train], classes=names)
    probs = probe.predict_proba(z[rest])
    assert np.allclose(probs.sum(axis=1), 1)
    assert macro_auc(probs, [labels[i] for i in rest], names) > 0.95


def test_binary_probe_and_unlabelled_class_never_predicted():
    z, labels, names = _blobs()
    keep = [i for i, x in enumerate(labels) if x != "vortex"]
    probe = fit_probe(z[keep], [labels[i] for i in keep], classes=names)
    probs = probe.predict_proba(z)
    assert probs[:, 2].max() < 1e-6
    assert np.mean(np.array(probe.predict(z[keep])) == np.array([labels[i] for i in keep])) > 0.9


def test_probe_round_trips_through_its_file(tmp_path):
    z, labels, names = _blobs()
    probe = fit_probe(z, labels)
    save_probe(probe, tmp_path / "p.pt", backbone="lenses-ssl-equivariant")
    again, backbone = load_probe(tmp_path / "p.pt")
    assert backbone == "lenses-ssl-equivariant"
    assert np.array_equal(again.predict_proba(z), probe.predict_proba(z))
    assert load_probe(probe_bytes(probe))[0].classes == probe.classes


def test_bad_inputs_give_one_sentence(tmp_path):
    z, labels, _ = _blobs()
    with pytest.raises(InputError, match="two classes"):
        fit_probe(z[:5], labels[:5])
    with pytest.raises(InputError, match="leave none"):
        few_label_split(labels, 40)
    probe = fit_probe(z, labels)
    with pytest.raises(InputError, match="size 8"):
        probe.predict_proba(np.zeros((2, 3)))
    (tmp_path / "junk.pt").write_bytes(b"not a probe")
    with pytest.raises(CheckpointError, match="not a probe"):
        load_probe(tmp_path / "junk.pt")


def test_vicreg_loss_rewards_matching_spread_views():
    import torch

    from core.models.losses import vicreg_loss

    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 16, generator=g)
    matched, parts = vicreg_loss(z, z + 0.01 * torch.randn(64, 16, generator=g))
    collapsed, parts_c = vicreg_loss(torch.zeros(64, 16), torch.zeros(64, 16))
    unrelated, _ = vicreg_loss(z, torch.randn(64, 16, generator=g))
    assert parts["invariance"] < 1e-3 and parts_c["variance"] > 1.5
    assert matched < unrelated and matched < collapsed
