"""The steps of `fit`, one at a time: data, fold start, epoch, resume, plan (a fake clock),
batch-norm recalibration, record, held-out metrics and save. Tiny models and images."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from test_train import _cfg, make_disk_folder
from torch import nn

from core.atomic import atomic_save_npy
from core.errors import InputError
from core.train.budget import plan
from core.train.ddp import DistInfo
from core.train.fold import Fold, cpu_state, record, start_fold, train_epoch
from core.train.train_data import load_data

torch.set_num_threads(1)
CPU = torch.device("cpu")
TINY_CLASSIFIER = dict(model="cnn_classifier", model_config={"image_size": 33, "channels": [4, 4], "hidden": 8}, loss={})


@pytest.fixture
def disk_folder(tmp_path):
    return make_disk_folder(tmp_path / "data")


class Opaque:
    """An object torch.load(weights_only=True) refuses to unpickle."""


def _fold(n_epochs: int = 8, **kw) -> Fold:
    """A fold of a 2 -> 1 linear model under a cosine schedule, without data (for the bookkeeping steps)."""
    model = nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs, eta_min=0.01)
    return Fold(0, model, opt, sched, False, None, None, None, n_epochs, cpu_state(model), **kw)


# ---------------------------------------------------------------------------- data


def test_load_data_puts_the_images_on_the_model_grid_and_draws_seeded_splits(tmp_path, disk_folder):
    data = load_data(_cfg(tmp_path))
    assert data.X.shape == (24, 1, 33, 33) and data.kind == "autoencoder" and data.classes is None
    ((train, val),) = data.splits
    assert len(val) == 6 and sorted([*train, *val]) == list(range(24))  # 25 % held out, disjoint
    folds = load_data(_cfg(tmp_path, folds=3)).splits
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(24))  # every image held out once
    half = load_data(_cfg(tmp_path, train_fraction=0.5)).splits[0][0]
    assert len(half) == 9 and set(half) <= set(train)  # a seeded subset of the same training split

    labelled = load_data(_cfg(tmp_path, **TINY_CLASSIFIER))
    assert labelled.classes == ["planets_0", "planets_1"] and labelled.mcfg["n_classes"] == 2
    assert np.bincount(labelled.y[labelled.splits[0][1]].numpy()).tolist() == [3, 3]  # stratified
    for i in range(4):
        atomic_save_npy(tmp_path / "flat" / f"{i}.npy", np.random.default_rng(i).random((33, 33), np.float32))
    with pytest.raises(InputError, match="needs labelled images"):
        load_data(_cfg(tmp_path, data=str(tmp_path / "flat"), **TINY_CLASSIFIER))


# ---------------------------------------------------------------------------- fold and epoch


def test_a_fold_starts_from_weights_seeded_by_seed_and_fold(tmp_path, disk_folder):
    cfg = _cfg(tmp_path, folds=2)
    data = load_data(cfg)
    a, again, other = (start_fold(cfg, data, k, CPU, None, 3) for k in (0, 0, 1))
    assert all(torch.equal(v, again.best_state[k]) for k, v in a.best_state.items())
    assert any(not torch.equal(v, other.best_state[k]) for k, v in a.best_state.items())
    assert (a.n_epochs, a.done, a.best_val, len(a.train_set)) == (cfg.epochs, 0, math.inf, 12)


def test_restore_continues_the_fold_where_last_pt_left_it(tmp_path, disk_folder):
    from core.train.losses import make_loss
    from core.train.resume import load_resume, restore, resume_state, save_resume

    cfg = _cfg(tmp_path, epochs=3)
    data = load_data(cfg)
    loss_fn, steps, fingerprint = make_loss(data.kind, cfg.loss), 5, data.index.fingerprint

    def epoch(f):
        f.done += 1
        return train_epoch(f, cfg, loss_fn, CPU, DistInfo())

    straight = start_fold(cfg, data, 0, CPU, None, steps)
    epoch(straight)
    epoch(straight)
    first = start_fold(cfg, data, 0, CPU, None, steps)
    record({}, first, epoch(first), {"loss": 0.25}, 1e-2, 1.0, keep_last=False)
    save_resume(cfg, resume_state(cfg, fingerprint, first, [], {"epoch": [1]}, elapsed=12.5))

    state = load_resume(cfg, fingerprint)
    resumed = start_fold(cfg, data, 0, CPU, None, steps)
    restore(resumed, state, steps)
    assert (resumed.done, resumed.start_epoch, resumed.best_val, state["elapsed"]) == (1, 1, 0.25, 12.5)
    assert resumed.sched.last_epoch == 1 and resumed.opt.state_dict()["state"][0]["step"] == steps
    epoch(resumed)  # the second epoch, as the uninterrupted fold trained it (same batches, same Adam moments)
    for name, tensor in cpu_state(straight.model).items():
        torch.testing.assert_close(cpu_state(resumed.model)[name], tensor, atol=1e-6, rtol=1e-5, msg=name)

    assert load_resume(cfg, "other images") is None
    assert load_resume(_cfg(tmp_path, epochs=3, lr=0.5), fingerprint) is None  # another config starts afresh
    assert load_resume(_cfg(tmp_path, epochs=3, resume=False), fingerprint) is None
    assert load_resume(_cfg(tmp_path, epochs=3, max_minutes=5.0), fingerprint)["epoch"] == 1  # a free option


def test_record_keeps_the_best_weights_and_counts_epochs_without_improvement():
    f, history = _fold(), {}
    f.done = 1
    record(history, f, {"loss": 2.0}, {"loss": 1.0, "mse": 0.5}, 0.1, 3.0, keep_last=False)
    best = {k: v.clone() for k, v in f.best_state.items()}
    with torch.no_grad():
        f.model.weight.add_(1.0)
    f.done = 2
    record(history, f, {"loss": 1.5}, {"loss": 1.2, "mse": 0.6}, 0.05, 3.0, keep_last=False)
    assert (f.best_val, f.bad_epochs) == (1.0, 1) and torch.equal(f.best_state["weight"], best["weight"])
    assert history == {"fold": [0, 0], "epoch": [1, 2], "lr": [0.1, 0.05], "seconds": [3.0, 3.0], "train_loss": [2.0, 1.5],
                       "val_loss": [1.0, 1.2], "val_mse": [0.5, 0.6]}
    record(history, f, {"loss": 1.5}, {"loss": 9.0}, 0.05, 3.0, keep_last=True)  # domain-adapted: the last weights
    assert (f.best_val, f.bad_epochs) == (9.0, 0) and torch.equal(f.best_state["weight"], f.model.weight.detach())


# ---------------------------------------------------------------------------- plan


def test_plan_cuts_the_epochs_to_the_time_budget_by_the_clock_passed_in():
    cfg, solo = _cfg_plain(epochs=8), DistInfo()
    f = _fold(n_epochs=8, done=1, started=100.0)
    # the first epoch took 40 s of a 100 s budget: 1 + 60 // 40 = 2 epochs fit, and the cosine anneals over 2
    assert plan(cfg, f, 100.0, lambda: 140.0, False, solo) == (False, False)
    assert (f.n_epochs, f.sched.T_max) == (2, 2)
    f.done = 2
    assert plan(cfg, f, 100.0, lambda: 180.0, False, solo) == (False, False) and f.n_epochs == 2  # a done plan is final
    fast = _fold(n_epochs=8, done=1, started=0.0)
    assert plan(cfg, fast, 100.0, lambda: 5.0, False, solo) == (False, False) and fast.n_epochs == 8  # never past cfg.epochs
    assert plan(cfg, fast, None, lambda: 1e9, False, solo) == (False, False) and fast.n_epochs == 8  # no budget
    over = _fold(n_epochs=8, done=1, started=0.0)
    assert plan(cfg, over, 100.0, lambda: 101.0, False, solo) == (True, False) and over.n_epochs == 8
    onecycle = _fold(n_epochs=8, done=1, started=0.0)
    assert plan(_cfg_plain(epochs=8, schedule="onecycle"), onecycle, 100.0, lambda: 40.0, False, solo) == (False, False)
    assert onecycle.n_epochs == 8  # only a cosine is re-planned


def test_plan_stops_on_patience_and_on_the_users_stop():
    solo = DistInfo()
    assert plan(_cfg_plain(patience=2), _fold(done=3, bad_epochs=2), None, lambda: 0.0, False, solo) == (True, False)
    assert plan(_cfg_plain(patience=2), _fold(done=3, bad_epochs=1), None, lambda: 0.0, False, solo) == (False, False)
    assert plan(_cfg_plain(), _fold(done=1), None, lambda: 0.0, True, solo) == (True, True)


def _cfg_plain(**kw):
    from core.train.config import TrainConfig

    return TrainConfig(data="d", **kw)


def test_fit_times_its_epochs_by_the_clock_passed_in(tmp_path, disk_folder):
    from core.train.fit import fit

    calls = []
    ticks = itertools.count(0, 7.0)  # every reading 7 s later: an epoch (train to validation) takes one tick
    path = fit(_cfg(tmp_path, epochs=8, max_minutes=1.0), progress=lambda *a: calls.append(a), clock=ticks.__next__)
    raw = torch.load(path, weights_only=True)
    assert raw["history"]["epoch"] == [1, 2] and raw["history"]["seconds"] == [7.0, 7.0]  # 21 s of 60 s after one: 2 fit
    assert calls[0] == (1, 40, calls[0][2]) and "epoch 1/8" in calls[0][2] and "epoch 2/2" in calls[-1][2]
    assert calls[-1][:2] == (10, 40)  # progress counts over the epochs first planned


# ---------------------------------------------------------------------------- recalibrate


def test_recalibration_replaces_stale_running_stats_by_those_of_the_first_n_images():
    from torch.utils.data import TensorDataset

    from core.train.fit import recalibrate_batch_norm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    X = torch.cat([torch.rand(50, 1, 8, 8), torch.rand(50, 1, 8, 8) + 4.0])  # the last 50 images are much brighter
    with torch.no_grad():
        for _ in range(3):  # stale running averages (momentum 0.1), as after an epoch of moving weights
            model(X[50:])
    model.eval()
    stale = model[1].running_mean.clone()
    recalibrate_batch_norm(model, TensorDataset(X, torch.zeros(100)), CPU, n=50, batch_size=64)
    with torch.no_grad():
        features = model[0](X[:50])
    assert not torch.allclose(model[1].running_mean, stale)
    torch.testing.assert_close(model[1].running_mean, features.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, features.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert not model.training and model[1].momentum == 0.1
    before = model[1].running_mean.clone()
    recalibrate_batch_norm(model, TensorDataset(X[:0], torch.zeros(0)), CPU)  # no images: nothing to change
    assert torch.equal(model[1].running_mean, before)


# ---------------------------------------------------------------------------- evaluate and save


def test_held_out_metrics_score_each_member_on_its_own_split(tmp_path, disk_folder):
    from core.models.registry import build_model
    from core.train.held_out import metrics_on_test_sets, validation_metrics

    cfg = _cfg(tmp_path, folds=2, test_data=str(disk_folder))
    data = load_data(cfg)
    members = [build_model(cfg.model, data.mcfg).state_dict() for _ in range(2)]
    pooled = validation_metrics(cfg, data, members, CPU, None)
    assert (pooled["n"], pooled["split"]) == (24, "out-of-fold")
    assert validation_metrics(cfg, data, members[:1], CPU, None)["n"] == 12  # a run stopped after its first fold
    assert metrics_on_test_sets(cfg, data, members, CPU, None)["test"]["n"] == 24
    assert metrics_on_test_sets(_cfg(tmp_path, folds=2), data, members, CPU, None) == {}


def test_save_writes_atomically_and_the_checkpoint_loads_with_weights_only(tmp_path, disk_folder, monkeypatch):
    from core.errors import CheckpointError
    from core.models.registry import build_model
    from core.train.fit import save
    from core.train.resume import save_resume

    cfg = _cfg(tmp_path)
    data = load_data(cfg)
    members = [build_model(cfg.model, data.mcfg).state_dict()]
    path = save(cfg, data, members, {"mse": 0.5}, {"epoch": [1]}, "python -m core train --epochs 1")
    raw = torch.load(path, weights_only=True)
    assert raw["metrics"]["mse"] == 0.5 and raw["history"] == {"epoch": [1]} and raw["train_config"]["name"] == "tiny"
    assert raw["data_manifest"]["fingerprint"] == data.index.fingerprint and raw["command"].endswith("--epochs 1")
    assert [e["name"] for e in json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"]] == ["tiny"]
    save_resume(cfg, {"epoch": 1})  # last.pt, as after the first epoch

    def torn(obj, fh, *args, **kwargs):  # a writer killed half-way
        fh.write(b"half a file")
        raise OSError("disk full")

    def unloadable(out, **kwargs):
        torch.save({"model_name": cfg.model, "members": [Opaque()]}, out)

    with monkeypatch.context() as patch:
        patch.setattr("core.train.fit.save_checkpoint", unloadable)
        with pytest.raises(CheckpointError, match="unreadable"):
            save(_cfg(tmp_path, name="opaque"), data, members, {}, {}, "")
    (tmp_path / "out" / "opaque.pt").unlink()
    assert [e["name"] for e in json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"]] == ["tiny"]

    files = {p: p.read_bytes() for folder in (tmp_path / "out", tmp_path / "work") for p in folder.iterdir()}
    monkeypatch.setattr(torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        save(cfg, data, members, {"mse": 0.1}, {"epoch": [1, 2]}, "again")
    with pytest.raises(OSError, match="disk full"):
        save_resume(cfg, {"epoch": 2})
    assert {p: p.read_bytes() for p in files} == files  # the previous files, whole
    assert sorted({*(tmp_path / "out").iterdir(), *(tmp_path / "work").iterdir()}) == sorted(files)  # no partial leftovers
