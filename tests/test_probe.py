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


# ---------------------------------------------------------------------------- the Train page's few-label route


def test_chance_is_the_commonest_class_guess():
    from core.train.fewlabel import chance

    every_image_cdm = chance({"confusion": [[0, 20, 0], [0, 20, 0], [0, 20, 0]]})  # the run: 1/3, one class
    assert every_image_cdm["accuracy"] == pytest.approx(1 / 3) and every_image_cdm["baseline"] == pytest.approx(1 / 3)
    assert every_image_cdm["at_chance"] and every_image_cdm["n"] == 60
    learned = chance({"confusion": [[18, 2, 0], [3, 15, 2], [1, 2, 17]]})
    assert not learned["at_chance"] and learned["p_value"] < 1e-6
    assert chance({"confusion": [[2, 0], [1, 1]]})["at_chance"]  # 3 of 4 right: no evidence with 4 images
    assert chance({"confusion": [[5, 0], [5, 0]]})["at_chance"]  # the majority class of an unbalanced split
    assert chance({}) is None


def _separable_folder(root, n_per_class: int = 10, size: int = 20, seed: int = 2):
    """A centred blob (no_sub) and a ring (cdm): any features tell them apart."""
    from core.atomic import atomic_save_npy

    rng = np.random.default_rng(seed)
    r = np.hypot(*(np.mgrid[:size, :size] - (size - 1) / 2))
    for cls, shape in (("no_sub", np.exp(-r**2 / 18)), ("cdm", np.exp(-((r - 6) ** 2) / 2))):
        for k in range(n_per_class):
            atomic_save_npy(root / cls / f"{k:03d}.npy", (shape + 0.05 * rng.standard_normal(shape.shape)).astype(np.float32))
    return root


def _tiny_shipped(folder):
    """Two 'shipped' models of a tiny index: a random CNN classifier and a random D4 encoder (17-33 px grids),
    their batch-norm statistics set on images of the kind they will see (as a model trained on them has)."""
    import torch

    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model
    from core.train.fewlabel import load_labelled
    from core.train.fit import recalibrate_batch_norm

    seen = _separable_folder(folder / "seen", n_per_class=8, seed=7)

    models = {"tiny-cnn": ("cnn_classifier", {"image_size": 33, "channels": (2, 4, 4), "hidden": 8, "n_classes": 3}),
              "tiny-ssl": ("equivariant_encoder", {"image_size": 17, "group": "D4", "fields": (1, 2), "hidden": 8,
                                                   "projector": (16, 16)})}
    for i, (name, (model_name, config)) in enumerate(models.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config)
        recalibrate_batch_norm(model, torch.utils.data.TensorDataset(load_labelled(seen, config["image_size"])[0]), "cpu")
        classes = ["no_sub", "cdm", "vortex"] if "classifier" in model_name else None
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=model.config.to_dict(),
                               state_dict=model.state_dict(), metrics={}, data_manifest={"generator": "lenses"},
                               command="test", history={}, classes=classes)
        register(path, name)
    return list(models)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    import torch

    import core.checkpoints as ck

    torch.set_num_threads(1)
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", tmp_path / "shipped")
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    return _tiny_shipped(tmp_path / "shipped")


def test_the_probe_route_beats_chance_and_its_checkpoint_answers_as_the_probe(tmp_path, shipped):
    import torch

    from core.checkpoints import load_model
    from core.train.fewlabel import chance, embed_all, load_labelled, transfer

    data = _separable_folder(tmp_path / "data")
    path = transfer(data, shipped, name="mine", out=tmp_path / "runs", description="the 20 labelled list images")
    run = load_model("mine")
    m = run.entry["metrics"]
    assert path.name == "mine.pt" and run.kind == "classifier" and run.classes == ["no_sub", "cdm"]
    assert m["method"] == "probe" and set(m["backbone_scores"]) == set(shipped) and m["backbone"] in shipped
    assert m["n"] == 20 and m["accuracy"] >= 0.9 and not chance(m)["at_chance"]  # out-of-fold; chance is 0.5
    assert "out-of-fold" in m["split"] and "picked among 2" in m["split"]
    assert run.entry["data"]["description"] == "the 20 labelled list images"
    assert run.entry["data"]["counts"] == {"no_sub": 10, "cdm": 10} and run.entry["data"]["size"] == 20
    backbone = load_model(m["backbone"])
    X, y, classes = load_labelled(data, backbone.image_size)
    probe = fit_probe(embed_all(backbone, X), [classes[i] for i in y], classes=classes)
    with torch.no_grad():
        answers = torch.softmax(run.model(X), dim=1).numpy()
    assert np.allclose(answers, probe.predict_proba(embed_all(backbone, X)), atol=1e-4)


def test_the_finetune_route_is_scored_on_held_out_images(tmp_path, shipped):
    from core.checkpoints import load_model
    from core.train.fewlabel import transfer

    data = _separable_folder(tmp_path / "data", n_per_class=12)
    transfer(data, ["tiny-cnn"], name="tuned", out=tmp_path / "runs", method="finetune", epochs=2, batch_size=8)
    m = load_model("tuned").entry["metrics"]
    assert m["method"] == "finetune" and m["backbone"] == "tiny-cnn" and m["epochs_run"] == 2
    assert m["n"] == 6 and m["split"].startswith("validation (6 of 24 held out, stratified")
    assert m["finetune_recipe"]["steps"] == 2 * 3  # 2 passes over the 18 training images in batches of 8
    assert m["accuracy"] >= 5 / 6 and m["probe_accuracy"] >= 5 / 6


def test_the_few_label_route_refuses_in_one_sentence(tmp_path, shipped):
    from core.train.fewlabel import transfer

    data = _separable_folder(tmp_path / "data", n_per_class=1)
    with pytest.raises(InputError, match="at least 2 labelled images"):
        transfer(data, shipped, name="x", out=tmp_path / "runs")
    with pytest.raises(InputError, match="Unknown few-label method"):
        transfer(data, shipped, name="x", out=tmp_path / "runs", method="magic")
