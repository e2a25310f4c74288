"""`fit(config) -> checkpoint path`: data, splits, training loop, early stopping, resume, DDP.

The loop, one named step at a time (`_fit`):
- data (`core.train.train_data`): the dataset folder is scanned and every image preprocessed once
  to the model grid (kept in memory as a (N, 1, S, S) tensor in [0, 1]); a seeded validation
  split (or K folds) is drawn;
- plan the run (`_start_run`): loss, augmentation, the resume state, each fold's share of `max_minutes`;
- per fold (`core.train.fold`): a model seeded by (seed, fold), AdamW and a cosine / one-cycle schedule,
  resumed from last.pt when it stopped inside this fold (`core.train.resume.restore`);
- per epoch (`_epoch`): train, recalibrate batch norm, validate (best weights by validation loss),
  plan (stop on the user's Stop, the time budget or `patience`; re-plan epochs to fit the budget,
  `core.train.budget`), save the resume state;
- evaluate (`core.train.held_out`) and save: the checkpoint holds the best weights of every fold
  (an ensemble when K > 1), with metrics measured on the held-out images (out-of-fold for K > 1)
  and, if given, on `test_data`.

After every epoch the resume state (`<work_dir>/last.pt`: weights, optimizer, scheduler,
scaler, history) is written atomically; a later `fit` with the same config continues from
it. Randomness is re-seeded from (seed, fold, epoch) at each epoch, so a resumed run draws
the same batches and augmentations as an uninterrupted one.

`should_stop()` returning True ends training after the current batch; the run then keeps
its best weights so far and still writes the checkpoint (the app's Stop button).
Under `torchrun`, every rank trains on its DistributedSampler shard; only rank 0 writes.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.checkpoints import read_checkpoint, register, save_checkpoint, summarize_manifest
from core.device import pick_device
from core.paths import repo_relative
from core.progress import Progress
from core.train import ddp, domain
from core.train.budget import plan
from core.train.config import PATH_FIELDS, TrainConfig, command_for
from core.train.ddp import DistInfo
from core.train.engine import evaluate
from core.train.fold import Fold, make_augment, record, start_fold, train_epoch, unwrap, wrap_ddp
from core.train.held_out import first_member, metrics_on_test_sets, validation_metrics
from core.train.losses import make_loss
from core.train.resume import load_resume, restore, resume_state, save_resume
from core.train.train_data import TrainData, load_data

Clock = Callable[[], float]  # seconds, monotonic (time.monotonic; tests pass a fake one)


def default_command(cfg: TrainConfig) -> str:
    """A `python -m core train` command line that reproduces `cfg` without a config file."""
    return command_for(None, cfg)


def fit(config: TrainConfig, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
        on_epoch: Callable[[dict], None] | None = None, command: str | None = None,
        clock: Clock = time.monotonic) -> Path | None:
    """Train as `config` says and write `<out>/<name>.pt` (+ index entry); returns its path.

    `progress(done, total, message)` after every batch (total = all batches of all epochs and
    folds); `on_epoch(history)` after every epoch with the loss history so far (dict of lists).
    `clock` times the epochs against `max_minutes`. Under DDP, ranks other than 0 return None.
    """
    cfg = config
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = pick_device(cfg.device)
    info = ddp.setup(device)
    try:
        run = _start_run(cfg, device, info, clock, progress, should_stop, on_epoch)
        result = _fit(run, command or default_command(cfg))
        ddp.barrier(info)  # ranks leave together: a rank tearing down while rank 0 still saves can abort under load
        return result
    finally:
        ddp.cleanup(info)


@dataclass
class Run:
    """What `fit` carries across folds and epochs."""

    cfg: TrainConfig
    device: torch.device
    info: DistInfo
    clock: Clock
    data: TrainData
    loss_fn: Callable  # the engine's loss_fn(model, x, y) -> (loss, parts)
    target: torch.Tensor | None  # target-domain images (domain adaptation), else None
    augment: Callable | None  # random E(2) elements for training batches, or None
    resume: dict | None  # last.pt to continue from
    members: list[dict]  # best weights of the finished folds
    history: dict[str, list]  # per-epoch values of every fold, as the checkpoint stores them
    started: float  # clock reading at the start of this process's run
    elapsed_before: float  # seconds spent before a resumption
    budget: float | None  # seconds each fold may take (max_minutes split evenly); None: no limit
    steps_per_epoch: list[int]  # batches per epoch of each fold (on each rank)
    progress: Progress | None = None
    should_stop: Callable[[], bool] | None = None
    on_epoch: Callable[[dict], None] | None = None
    done_steps: int = 0  # batches done, for progress
    stopped_by_user: bool = False

    @property
    def total_steps(self) -> int:
        return sum(s * self.cfg.epochs for s in self.steps_per_epoch)


def _start_run(cfg, device, info, clock, progress, should_stop, on_epoch) -> Run:
    """Data, loss, augmentation and the resume state; the plan: each fold's batches and time budget."""
    started = clock()
    data = load_data(cfg, progress if info.is_main else None)
    loss_fn = make_loss(data.kind, cfg.loss)
    domain.check(cfg)
    target = domain.load_target(cfg, data.image_size)  # None unless domain_adaptation
    if cfg.domain_adaptation == "dann":
        loss_fn = domain.dann_loss_fn(loss_fn, float(cfg.loss.get("label_smoothing", 0.0)))
    augment = make_augment(cfg, data.kind) if cfg.augment else None
    resume = load_resume(cfg, data.index.fingerprint)
    return Run(
        cfg, device, info, clock, data, loss_fn, target, augment, resume,
        members=list(resume["members"]) if resume else [],
        history=resume["history"] if resume else {},
        started=started,
        elapsed_before=float(resume["elapsed"]) if resume else 0.0,
        budget=cfg.max_minutes * 60.0 / len(data.splits) if cfg.max_minutes else None,
        steps_per_epoch=[math.ceil(len(tr) / (cfg.batch_size * info.world_size)) for tr, _ in data.splits],
        progress=progress, should_stop=should_stop, on_epoch=on_epoch,
    )


def _fit(run: Run, command: str) -> Path | None:
    """Every fold, epoch by epoch, then (rank 0) the metrics and the checkpoint."""
    for fold in range(len(run.data.splits)):
        if fold < len(run.members):  # finished before a resumption
            run.done_steps += run.steps_per_epoch[fold] * run.cfg.epochs
            continue
        f = _start_fold(run, fold)
        while f.done < f.n_epochs:
            f.done += 1
            if _epoch(run, f):
                break
        ddp.assert_in_sync(f.model, run.info)
        run.members.append(f.best_state)
        if run.stopped_by_user:
            break
    if not run.info.is_main:
        return None
    return save(run.cfg, run.data, run.members, _metrics(run), run.history, command)


def _start_fold(run: Run, fold: int) -> Fold:
    """Fold `fold` fresh, or where last.pt left it; under DDP, wrapped for the gradient all-reduce."""
    steps = run.steps_per_epoch[fold]
    f = start_fold(run.cfg, run.data, fold, run.device, run.target, steps)
    if run.resume and run.resume["fold"] == fold:
        restore(f, run.resume, steps)
    f.model = wrap_ddp(f.model, run.info, run.device)
    f.started = run.clock()
    run.done_steps += f.start_epoch * steps
    return f


def _epoch(run: Run, f: Fold) -> bool:
    """Epoch `f.done` of fold `f`: train, recalibrate, validate, plan, save. True: the fold stops here."""
    cfg, info, device = run.cfg, run.info, run.device
    progress = _epoch_progress(run, f)
    lr, t0 = f.opt.param_groups[0]["lr"], run.clock()
    train = train_epoch(f, cfg, run.loss_fn, device, info, run.augment, progress, run.should_stop)
    run.done_steps += run.steps_per_epoch[f.index]
    recalibrate_batch_norm(unwrap(f.model), domain.bn_images(f.train_set, run.target, cfg.domain_adaptation), device)
    val = evaluate(unwrap(f.model), f.val_loader, run.loss_fn, device)
    seconds = run.clock() - t0
    record(run.history, f, train, val, lr, seconds, keep_last=run.target is not None)  # adapted runs keep their last weights
    user_stop = bool(run.should_stop and run.should_stop())
    stop, user_stop = plan(cfg, f, run.budget, run.clock, user_stop, info)
    if info.is_main:
        _log_epoch(cfg, f, len(run.data.splits), train, val, lr, seconds)
        elapsed = run.elapsed_before + run.clock() - run.started
        save_resume(cfg, resume_state(cfg, run.data.index.fingerprint, f, run.members, run.history, elapsed))
        if run.on_epoch is not None:
            run.on_epoch(copy.deepcopy(run.history))
    run.stopped_by_user = run.stopped_by_user or (stop and user_stop)
    return stop


def _epoch_progress(run: Run, f: Fold) -> Progress | None:
    """progress(done, total, message) over the whole run for the batches of this epoch (rank 0 only)."""
    if run.progress is None or not run.info.is_main:
        return None
    base, epoch, n_epochs, n_folds = run.done_steps, f.done, f.n_epochs, len(run.data.splits)
    fold_txt = f"fold {f.index + 1}/{n_folds} " if n_folds > 1 else ""

    def step(done: int, total: int, message: str) -> None:
        run.progress(base + done, run.total_steps, f"{fold_txt}epoch {epoch}/{n_epochs} {message}")

    return step


def _log_epoch(cfg: TrainConfig, f: Fold, n_folds: int, train: dict, val: dict, lr: float, seconds: float) -> None:
    print(f"[{cfg.name}] fold {f.index + 1}/{n_folds} epoch {f.done}/{f.n_epochs} "
          f"train {train['loss']:.5f} val {val['loss']:.5f} lr {lr:.2e} {seconds:.0f}s"
          + "".join(f" {k} {train[k]:.3f}" for k in domain.LOGGED if k in train), file=sys.stderr, flush=True)


def _metrics(run: Run) -> dict:
    """The checkpoint's metrics: held-out validation, the run's facts, then the test sets."""
    cfg, data, members = run.cfg, run.data, run.members
    encoder = first_member(cfg, data, members, run.device) if data.kind == "encoder" else None
    metrics = validation_metrics(cfg, data, members, run.device, encoder)
    metrics["train_seconds"] = round(run.elapsed_before + run.clock() - run.started, 1)
    metrics["epochs_run"] = len(run.history.get("epoch", []))
    metrics["n_train"] = int(sum(len(tr) for tr, _ in data.splits[: len(members)]) / max(1, len(members)))
    metrics["stopped_by_user"] = run.stopped_by_user
    if run.info.enabled:
        metrics["ddp_world_size"] = run.info.world_size
    metrics.update(metrics_on_test_sets(cfg, data, members, run.device, encoder))
    return metrics


def save(cfg: TrainConfig, data: TrainData, members: list[dict], metrics: dict, history: dict, command: str) -> Path:
    """Write `<out>/<name>.pt` atomically, check it loads with weights_only=True, then register it in the index."""
    manifest = summarize_manifest(data.index.manifest, n=len(data.X), path=cfg.data, fingerprint=data.index.fingerprint)
    out = cfg.out_path / f"{cfg.name}.pt"
    save_checkpoint(out, model_name=cfg.model, config=data.mcfg, state_dict=members, metrics=metrics, data_manifest=manifest,
                    command=command, history=history, train_config=_portable(cfg.to_dict()), classes=data.classes)
    read_checkpoint(out)  # it must load with weights_only=True before it is registered
    register(out, cfg.name)
    return out


def _portable(values: dict) -> dict:
    """The config as a checkpoint stores it: folders inside the repository written relative to it."""
    return {k: repo_relative(v) if k in PATH_FIELDS and v else v for k, v in values.items()}


BN_RECALIBRATION_IMAGES = 2048  # training images whose batch statistics replace the running ones after each epoch


@torch.no_grad()
def recalibrate_batch_norm(model: torch.nn.Module, train_set, device, n: int = BN_RECALIBRATION_IMAGES, batch_size: int = 64) -> None:
    """Precise batch norm: set every BatchNorm's running mean/var to the exact average over `n`
    training images under the final weights of the epoch.

    The running averages (momentum 0.1) mix statistics of weights that kept moving during the
    epoch; for the escnn models this lag cost most of the eval-mode accuracy (DeepLense Model II,
    D8: 72 % with the running averages, 92 % recalibrated, the same weights; Wu & Johnson 2021,
    "Rethinking Batch in BatchNorm").
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(train_set) == 0:
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for start in range(0, min(n, len(train_set)), batch_size):
        batch = train_set[start : min(start + batch_size, n, len(train_set))][0]
        model(batch.to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
