"""`fit(config) -> checkpoint path`: data, splits, training loop, early stopping, resume, DDP.

Steps: the dataset folder is scanned and every image preprocessed once to the model grid
(kept in memory as a (N, 1, S, S) tensor in [0, 1]); a seeded validation split (or K folds)
is drawn; each fold trains with AdamW and a cosine / one-cycle schedule, keeps its best
weights by validation loss and stops early after `patience` epochs without improvement;
the checkpoint holds the best weights of every fold (an ensemble when K > 1), with metrics
measured on the held-out images (out-of-fold for K > 1) and, if given, on `test_data`.

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
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from core.atomic import atomic_open
from core.checkpoints import read_checkpoint, register, save_checkpoint, summarize_manifest
from core.data.datasets import load_tensors
from core.device import pick_device
from core.errors import InputError
from core.json_values import to_plain
from core.models.registry import model_kind
from core.paths import repo_relative
from core.progress import Progress
from core.train import ddp, domain
from core.train.config import PATH_FIELDS, TrainConfig, command_for
from core.train.engine import evaluate, train_one_epoch
from core.train.losses import ReconWithLatent, make_loss, training_module

# Options that may change between a run and its resumption without invalidating last.pt.
RESUME_FREE = {"resume", "device", "num_workers", "threads", "max_minutes", "test_data", "target_test_data", "out"}


# ---------------------------------------------------------------------------- data


def _splits(n: int, labels: np.ndarray | None, cfg: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train_idx, val_idx)] of length 1 (val_fraction) or K (folds), seeded, stratified when labelled."""
    from core.data.datasets import kfold_indices, split_indices

    if cfg.folds > 1:
        folds = kfold_indices(n, cfg.folds, seed=cfg.seed, labels=labels)
    else:
        folds = [split_indices(n, cfg.val_fraction, seed=cfg.seed, labels=labels)]
    out = []
    for train_idx, val_idx in folds:
        train_idx = np.asarray(train_idx)
        if cfg.train_fraction < 1.0:  # a seeded subset, the same for every model trained with this seed
            keep = max(1, int(round(cfg.train_fraction * len(train_idx))))
            train_idx = np.sort(np.random.default_rng(cfg.seed + 17).permutation(train_idx)[:keep])
        out.append((train_idx, np.asarray(val_idx)))
    return out


class _Augmented:
    """A loader whose training batches get a random E(2) element per image."""

    def __init__(self, loader, augment):
        self.loader, self.augment = loader, augment

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            yield self.augment(x, y) if getattr(self.augment, "paired", False) else (self.augment(x), y)


def _make_augment(cfg: TrainConfig, kind: str):
    """Random rotation (+ mirror) of every training image; draws from torch's global RNG (seeded per epoch).
    Super-resolution and (noisy, noise-free) autoencoder pairs: the same exact D4 element for input and target."""
    from core.data.transforms import RandomE2Augment

    if kind == "superres" or cfg.clean_data:
        from core.data.pairs import PairAugment

        return PairAugment(cfg.clean_input_fraction if cfg.clean_data else 0.0)

    return RandomE2Augment(rotations=cfg.augment_rotations, flips=True)


# ---------------------------------------------------------------------------- model / optimiser


def _clean_twins(cfg: TrainConfig, kind: str, index, image_size: int) -> torch.Tensor:
    """The noise-free twins (N, 1, S, S) of the training images, in the same order; InputError unless they match."""
    if kind != "autoencoder":
        raise InputError(f"clean_data (noise-free targets) is for autoencoders; {cfg.model} is a {kind}.")
    Xc, _, clean_index = load_tensors(cfg.clean_data, image_size)
    params = lambda ix: [e.get("params") for e in (ix.manifest or {}).get("images", [])]  # noqa: E731
    if ([Path(f).relative_to(clean_index.root) for f in clean_index.files] != [Path(f).relative_to(index.root) for f in index.files]
            or params(clean_index) != params(index)):
        raise InputError(f"{cfg.clean_data} does not hold the same files as {cfg.data}; simulate it with the same "
                         "command and seed plus --noise none.")
    return Xc


def model_config(cfg: TrainConfig, classes: list[str] | None) -> dict:
    """The model's full config as plain values: defaults, then the TOML overrides, then n_classes."""
    from core.models.registry import make_config

    values = dict(cfg.model_config)
    fields = make_config(cfg.model).to_dict()
    if "n_classes" in fields and classes:
        values["n_classes"] = len(classes)
    return make_config(cfg.model, values).to_dict()


def _optimizer_and_schedule(model, cfg: TrainConfig, steps_per_epoch: int):
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr * 0.01)
        per_step = False
    elif cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1
        )
        per_step = True
    else:
        sched, per_step = None, False
    return opt, sched, per_step


def _inner(model):
    """The registry model inside DDP and the autoencoder's ReconWithLatent wrapper."""
    model = domain.inner(_unwrap(model))
    return model.ae if isinstance(model, ReconWithLatent) else model


def _cpu_state(model) -> dict:
    return {k: v.detach().to("cpu").clone() for k, v in _inner(model).state_dict().items()}


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


# ---------------------------------------------------------------------------- resume state


def _comparable(cfg: TrainConfig) -> dict:
    return {k: v for k, v in to_plain(cfg.to_dict()).items() if k not in RESUME_FREE}


def _load_resume(cfg: TrainConfig, data_fingerprint: str) -> dict | None:
    """last.pt of the same config AND the same training images (dataset fingerprint), else None."""
    last = cfg.work_path / "last.pt"
    if not cfg.resume or not last.is_file():
        return None
    state = torch.load(last, map_location="cpu", weights_only=True)
    if state.get("config") != _comparable(cfg):
        print(f"note: {last} was written with a different config; starting afresh.", file=sys.stderr)
        return None
    if state.get("data_fingerprint") != data_fingerprint:
        print(f"note: {last} was trained on other images than {cfg.data} holds now; starting afresh.", file=sys.stderr)
        return None
    return state


def _save_resume(cfg: TrainConfig, state: dict) -> None:
    with atomic_open(cfg.work_path / "last.pt", "wb") as fh:
        torch.save(state, fh)


# ---------------------------------------------------------------------------- fit


def default_command(cfg: TrainConfig) -> str:
    """A `python -m core train` command line that reproduces `cfg` without a config file."""
    return command_for(None, cfg)


def fit(config: TrainConfig, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
        on_epoch: Callable[[dict], None] | None = None, command: str | None = None) -> Path | None:
    """Train as `config` says and write `<out>/<name>.pt` (+ index entry); returns its path.

    `progress(done, total, message)` after every batch (total = all batches of all epochs and
    folds); `on_epoch(history)` after every epoch with the loss history so far (dict of lists).
    Under DDP, ranks other than 0 return None.
    """
    cfg = config
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = pick_device(cfg.device)
    info = ddp.setup(device)
    try:
        result = _fit(cfg, device, info, progress, should_stop, on_epoch, command or default_command(cfg))
        ddp.barrier(info)  # ranks leave together: a rank tearing down while rank 0 still saves can abort under load
        return result
    finally:
        ddp.cleanup(info)


def _fit(cfg, device, info, progress, should_stop, on_epoch, command) -> Path | None:
    from core.models.registry import build_model

    started = time.monotonic()
    probe_cfg = model_config(cfg, None)
    image_size = int(probe_cfg.get("image_size", 129))
    kind = model_kind(cfg.model)
    if kind == "superres":  # x = LR normalised by its own range, y = HR on the same scale
        from core.data.pairs import load_pairs

        X, y, index = load_pairs(cfg.data, progress if info.is_main else None)
    else:
        X, y, index = load_tensors(cfg.data, image_size, progress if info.is_main else None)
    if cfg.clean_data:  # denoising autoencoder: y = the noise-free twin of each image
        y = _clean_twins(cfg, kind, index, image_size)
    classes_probe = list(index.classes) if kind == "classifier" else None
    if kind == "classifier" and (index.labels is None or (y < 0).any()):
        raise InputError(f"Training a classifier needs labelled images; {cfg.data} has no class folders or labels.csv.")
    mcfg = model_config(cfg, classes_probe)
    labels = y.numpy() if kind == "classifier" else None
    splits = _splits(len(X), labels, cfg)
    loss_fn = make_loss(kind, cfg.loss)
    domain.check(cfg)
    target = domain.load_target(cfg, image_size)  # None unless domain_adaptation
    if cfg.domain_adaptation == "dann":
        loss_fn = domain.dann_loss_fn(loss_fn, float(cfg.loss.get("label_smoothing", 0.0)))
    augment = _make_augment(cfg, kind) if cfg.augment else None
    use_amp = cfg.amp and device.type == "cuda"

    resume = _load_resume(cfg, index.fingerprint)
    members: list[dict] = list(resume["members"]) if resume else []
    history: dict[str, list] = resume["history"] if resume else {}
    elapsed_before = float(resume["elapsed"]) if resume else 0.0
    budget = cfg.max_minutes * 60.0 / len(splits) if cfg.max_minutes else None
    steps_per_epoch = [math.ceil(len(tr) / (cfg.batch_size * info.world_size)) for tr, _ in splits]
    total_steps = sum(s * cfg.epochs for s in steps_per_epoch)
    done_steps = 0
    stopped_by_user = False

    for fold, (train_idx, val_idx) in enumerate(splits):
        if fold < len(members):
            done_steps += steps_per_epoch[fold] * cfg.epochs
            continue
        torch.manual_seed(cfg.seed * 1009 + fold)
        model = training_module(build_model(cfg.model, mcfg)).to(device)
        if cfg.init_from:  # escnn's cached eval-mode filters are rebuilt from the weights by .train() / .eval()
            missing, unexpected = _inner(model).load_state_dict(initial_state(cfg.init_from, cfg.model, mcfg), strict=False)
            if unexpected or any(not k.endswith((".filter", ".expanded_bias")) for k in missing):
                raise InputError(f"init_from {cfg.init_from} does not hold every weight of this model; fine-tune from the same model and config.")
            model.train()
        model = domain.attach(model, cfg, target, steps_per_epoch[fold] * cfg.epochs)
        opt, sched, per_step = _optimizer_and_schedule(model, cfg, steps_per_epoch[fold])
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        best_state, best_val, bad_epochs, start_epoch = _cpu_state(model), math.inf, 0, 0
        n_epochs = cfg.epochs  # may shrink to fit max_minutes (cosine schedule only)
        if resume and resume["fold"] == fold:
            _inner(model).load_state_dict(resume["model"])
            opt.load_state_dict(resume["optimizer"])
            if sched is not None and resume.get("scheduler"):
                sched.load_state_dict(resume["scheduler"])
            if scaler is not None and resume.get("scaler"):
                scaler.load_state_dict(resume["scaler"])
            best_state, best_val = resume["best"], float(resume["best_val"])
            bad_epochs, start_epoch = int(resume["bad_epochs"]), int(resume["epoch"])
            n_epochs = int(resume.get("n_epochs", cfg.epochs))
            if isinstance(model, domain.DannModule):
                model.steps = start_epoch * steps_per_epoch[fold]  # the reversal weight's ramp continues
        if info.enabled:
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[info.local_rank] if device.type == "cuda" else None)
        train_set = TensorDataset(X[train_idx], y[train_idx])
        val_loader = DataLoader(TensorDataset(X[val_idx], y[val_idx]), batch_size=cfg.batch_size * 2)
        fold_started = time.monotonic()
        done_steps += start_epoch * steps_per_epoch[fold]

        epoch = start_epoch - 1
        while epoch + 1 < n_epochs:
            epoch += 1
            epoch_seed = cfg.seed * 1_000_003 + fold * 10_007 + epoch
            torch.manual_seed(epoch_seed)
            if info.enabled:
                sampler = DistributedSampler(train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=epoch_seed)
                loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers)
            else:
                gen = torch.Generator().manual_seed(epoch_seed)
                loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
            if augment is not None:
                loader = _Augmented(loader, augment)
            lr = opt.param_groups[0]["lr"]
            t0 = time.monotonic()
            base = done_steps

            def step_progress(done, total, message, base=base, epoch=epoch, fold=fold, n_epochs=n_epochs):
                if progress is not None and info.is_main:
                    fold_txt = f"fold {fold + 1}/{len(splits)} " if len(splits) > 1 else ""
                    progress(base + done, total_steps, f"{fold_txt}epoch {epoch + 1}/{n_epochs} {message}")

            # Under DDP a rank leaving mid-epoch would strand the others in the gradient all-reduce:
            # a stop request is honoured at the end of the epoch instead (rank 0's, below).
            train = train_one_epoch(model, loader, opt, loss_fn, device, scaler=scaler, progress=step_progress,
                                    scheduler=sched if per_step else None, should_stop=None if info.enabled else should_stop)
            done_steps += steps_per_epoch[fold]
            if sched is not None and not per_step:
                sched.step()
            recalibrate_batch_norm(_unwrap(model), domain.bn_images(train_set, target, cfg.domain_adaptation), device)
            val = evaluate(_unwrap(model), val_loader, loss_fn, device)
            seconds = time.monotonic() - t0
            for key, value in [("fold", fold), ("epoch", epoch + 1), ("lr", lr), ("seconds", seconds)]:
                history.setdefault(key, []).append(value)
            for key, value in train.items():
                history.setdefault(f"train_{key}", []).append(value)
            for key, value in val.items():
                history.setdefault(f"val_{key}", []).append(value)
            if val["loss"] < best_val or target is not None:  # adapted runs keep their last weights: source loss says nothing of the target
                best_val, best_state, bad_epochs = val["loss"], _cpu_state(model), 0
            else:
                bad_epochs += 1
            # Stop or not, and how many epochs: rank 0 decides (its clock, its Stop button) for every rank.
            user_stop = bool(should_stop and should_stop())
            fold_seconds = time.monotonic() - fold_started
            over_budget = budget is not None and fold_seconds > budget
            planned = n_epochs
            if budget is not None and cfg.schedule == "cosine" and not over_budget:
                planned = _epochs_within_budget(n_epochs, cfg.epochs, epoch + 1, epoch + 1 - start_epoch, fold_seconds, budget)
            stop = user_stop or over_budget or bool(cfg.patience and bad_epochs >= cfg.patience)
            user_stop, stop, planned = ddp.broadcast_ints([user_stop, stop, planned], info)
            if planned != n_epochs:  # the cosine's T_max follows, so the LR still anneals to its floor
                sched.T_max, n_epochs = max(planned, 1), planned
            if info.is_main:
                print(f"[{cfg.name}] fold {fold + 1}/{len(splits)} epoch {epoch + 1}/{n_epochs} "
                      f"train {train['loss']:.5f} val {val['loss']:.5f} lr {lr:.2e} {seconds:.0f}s"
                      + "".join(f" {k} {train[k]:.3f}" for k in domain.LOGGED if k in train), file=sys.stderr, flush=True)
                _save_resume(cfg, {
                    "config": _comparable(cfg), "data_fingerprint": index.fingerprint, "fold": fold, "epoch": epoch + 1, "members": members,
                    "model": _cpu_state(model), "best": best_state, "best_val": best_val, "bad_epochs": bad_epochs, "n_epochs": n_epochs,
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched is not None else None,
                    "scaler": scaler.state_dict() if scaler is not None else None, "history": history,
                    "elapsed": elapsed_before + time.monotonic() - started,
                })
                if on_epoch is not None:
                    on_epoch(copy.deepcopy(history))
            if stop:
                stopped_by_user = stopped_by_user or bool(user_stop)
                break
        ddp.assert_in_sync(model, info)
        members.append(best_state)
        if stopped_by_user:
            break

    if not info.is_main:
        return None
    if kind == "encoder":  # self-supervised: no outputs to score, the VICReg loss and a diagnostic probe instead
        from core.train.pretrain import encoder_metrics

        val_idx = np.concatenate([v for _, v in splits[: len(members)]])
        model = build_model(cfg.model, mcfg)
        model.load_state_dict(members[0])
        model.to(device)
        metrics = encoder_metrics(model, X[val_idx], y[val_idx], list(index.classes), cfg.loss, device)
        metrics["split"] = f"validation ({cfg.val_fraction:.0%} held out, seed {cfg.seed})"
    else:
        metrics = held_out_metrics(cfg, mcfg, kind, members, X, y, splits, classes_probe, device)
    metrics["train_seconds"] = round(elapsed_before + time.monotonic() - started, 1)
    metrics["epochs_run"] = len(history.get("epoch", []))
    metrics["n_train"] = int(sum(len(tr) for tr, _ in splits[: len(members)]) / max(1, len(members)))
    metrics["stopped_by_user"] = stopped_by_user
    if info.enabled:
        metrics["ddp_world_size"] = info.world_size
    if cfg.test_data and kind == "encoder":
        from core.train.pretrain import encoder_metrics

        X_test, y_test, test_index = load_tensors(cfg.test_data, image_size)
        metrics["test"] = encoder_metrics(model, X_test, y_test, list(test_index.classes), cfg.loss, device)
    elif cfg.test_data:
        from core.analysis.evaluate import evaluate_members

        metrics["test"] = evaluate_members(cfg.model, mcfg, members, cfg.test_data, classes_probe, device)
    if cfg.target_test_data:  # a second domain: both test sets with the positive class's AUROC and ROC points
        metrics.update(domain.held_out_test_metrics(cfg, cfg.model, mcfg, members, classes_probe, device))
    data = summarize_manifest(index.manifest, n=len(X), path=cfg.data, fingerprint=index.fingerprint)
    out = cfg.out_path / f"{cfg.name}.pt"
    save_checkpoint(out, model_name=cfg.model, config=mcfg, state_dict=members, metrics=metrics, data_manifest=data,
                    command=command, history=history, train_config=_portable(cfg.to_dict()), classes=classes_probe)
    read_checkpoint(out)  # it must load with weights_only=True before it is registered
    register(out, cfg.name)
    return out


def initial_state(name_or_path: str, model_name: str, mcfg: dict) -> dict:
    """The state dict of a trained checkpoint (its first member) to fine-tune from; one sentence if it does not fit."""
    from core.checkpoints import load_model
    from core.json_values import to_plain

    loaded = load_model(name_or_path, export=False)
    entry = loaded.entry
    if entry.get("model") != model_name or to_plain(entry.get("config", {})) != to_plain(mcfg):
        raise InputError(f"init_from {name_or_path} is a {entry.get('model')} with another config; fine-tune only from the same "
                         f"model ({model_name}) and model_config.")
    model = loaded.model
    members = getattr(model, "members", None)
    return (members[0] if members is not None else model).state_dict()


def _epochs_within_budget(n_epochs, max_epochs, done, done_here, seconds, budget) -> int:
    """The number of epochs (at most `max_epochs`) that fits the time budget, from the mean
    epoch time so far. A plan whose last epoch is done is final."""
    if done >= n_epochs:
        return n_epochs  # the LR has annealed to its floor: extending would only add floor-LR epochs
    fit_epochs = done + int((budget - seconds) // (seconds / max(done_here, 1)))
    return max(done, min(max_epochs, fit_epochs))


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


def _portable(values: dict) -> dict:
    """The config as a checkpoint stores it: folders inside the repository written relative to it."""
    return {k: repo_relative(v) if k in PATH_FIELDS and v else v for k, v in values.items()}
