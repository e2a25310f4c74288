"""The resume state of `fit`: `<work_dir>/last.pt`, written atomically after every epoch.

It holds the finished folds' best weights (`members`), the running fold's weights, optimizer,
scheduler and scaler, the loss history and the time spent. A later `fit` with the same config on
the same images (dataset fingerprint) continues from it; any other config or images start afresh.
"""

from __future__ import annotations

import sys

import torch

from core.atomic import atomic_open
from core.json_values import to_plain
from core.train import domain
from core.train.config import TrainConfig
from core.train.fold import Fold, cpu_state, inner

# Options that may change between a run and its resumption without invalidating last.pt.
RESUME_FREE = {"resume", "device", "num_workers", "threads", "max_minutes", "test_data", "target_test_data", "out"}


def comparable(cfg: TrainConfig) -> dict:
    """The config as last.pt records it, without the options that may change on resumption."""
    return {k: v for k, v in to_plain(cfg.to_dict()).items() if k not in RESUME_FREE}


def load_resume(cfg: TrainConfig, data_fingerprint: str) -> dict | None:
    """last.pt of the same config AND the same training images (dataset fingerprint), else None."""
    last = cfg.work_path / "last.pt"
    if not cfg.resume or not last.is_file():
        return None
    state = torch.load(last, map_location="cpu", weights_only=True)
    if state.get("config") != comparable(cfg):
        print(f"note: {last} was written with a different config; starting afresh.", file=sys.stderr)
        return None
    if state.get("data_fingerprint") != data_fingerprint:
        print(f"note: {last} was trained on other images than {cfg.data} holds now; starting afresh.", file=sys.stderr)
        return None
    return state


def save_resume(cfg: TrainConfig, state: dict) -> None:
    """Write last.pt in one rename: a run killed while writing leaves the previous one."""
    with atomic_open(cfg.work_path / "last.pt", "wb") as fh:
        torch.save(state, fh)


def resume_state(cfg: TrainConfig, data_fingerprint: str, f: Fold, members: list[dict], history: dict,
                 elapsed: float) -> dict:
    """What last.pt holds after epoch `f.done` of fold `f`."""
    return {
        "config": comparable(cfg), "data_fingerprint": data_fingerprint, "fold": f.index, "epoch": f.done, "members": members,
        "model": cpu_state(f.model), "best": f.best_state, "best_val": f.best_val, "bad_epochs": f.bad_epochs, "n_epochs": f.n_epochs,
        "optimizer": f.opt.state_dict(), "scheduler": f.sched.state_dict() if f.sched is not None else None,
        "scaler": f.scaler.state_dict() if f.scaler is not None else None, "history": history, "elapsed": elapsed,
    }


def restore(f: Fold, state: dict, steps_per_epoch: int) -> None:
    """Continue fold `f` where `state` (last.pt of the same fold) left it: weights, optimizer,
    schedule, scaler, best weights, early-stopping count and epoch plan."""
    inner(f.model).load_state_dict(state["model"])
    f.opt.load_state_dict(state["optimizer"])
    if f.sched is not None and state.get("scheduler"):
        f.sched.load_state_dict(state["scheduler"])
    if f.scaler is not None and state.get("scaler"):
        f.scaler.load_state_dict(state["scaler"])
    f.best_state, f.best_val = state["best"], float(state["best_val"])
    f.bad_epochs, f.start_epoch = int(state["bad_epochs"]), int(state["epoch"])
    f.done = f.start_epoch
    f.n_epochs = int(state.get("n_epochs", f.n_epochs))
    if isinstance(f.model, domain.DannModule):
        f.model.steps = f.start_epoch * steps_per_epoch  # the reversal weight's ramp continues
