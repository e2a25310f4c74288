"""One fold of `fit`: its state (`Fold`), its start (fresh or fine-tuned), one epoch of training
(`train_epoch`) and the bookkeeping after validation that keeps the best weights (`record`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from core.errors import InputError
from core.progress import Progress
from core.train import domain
from core.train.config import TrainConfig
from core.train.ddp import DistInfo
from core.train.engine import train_one_epoch
from core.train.losses import ReconWithLatent, training_module
from core.train.train_data import TrainData


@dataclass
class Fold:
    """The training state of one fold; what last.pt saves of it (`core.train.resume`)."""

    index: int  # 0 .. K-1
    model: nn.Module  # as trained: ReconWithLatent / DannModule / DDP wrappers included
    opt: torch.optim.Optimizer
    sched: Any  # an LR scheduler, or None (constant)
    per_step: bool  # the schedule steps after every batch (one-cycle), else after every epoch
    scaler: torch.amp.GradScaler | None  # CUDA mixed precision
    train_set: TensorDataset
    val_loader: DataLoader
    n_epochs: int  # planned epochs; may shrink to fit max_minutes (cosine schedule only)
    best_state: dict  # CPU state dict of the best weights so far
    best_val: float = math.inf
    bad_epochs: int = 0  # epochs since the best validation loss
    start_epoch: int = 0  # epochs done before this process took over (resume)
    done: int = 0  # epochs done; during an epoch, the 1-based number of the running one
    started: float = 0.0  # clock reading when this process started the fold
    twins: Any = None  # core.data.observe.Twins of the data (continuous-physical augmentation), else None


def start_fold(cfg: TrainConfig, data: TrainData, fold: int, device, target: torch.Tensor | None,
               steps_per_epoch: int) -> Fold:
    """A fresh (or `init_from` fine-tuned) model of fold `fold` with its optimizer and schedule, seeded by (seed, fold)."""
    from core.models.registry import build_model

    torch.manual_seed(cfg.seed * 1009 + fold)
    model = training_module(build_model(cfg.model, data.mcfg)).to(device)
    if cfg.init_from:  # escnn's cached eval-mode filters are rebuilt from the weights by .train() / .eval()
        missing, unexpected = inner(model).load_state_dict(initial_state(cfg.init_from, cfg.model, data.mcfg), strict=False)
        if unexpected or any(not k.endswith((".filter", ".expanded_bias")) for k in missing):
            raise InputError(f"init_from {cfg.init_from} does not hold every weight of this model; fine-tune from the same model and config.")
        model.train()
    model = domain.attach(model, cfg, target, steps_per_epoch * cfg.epochs)
    opt, sched, per_step = optimizer_and_schedule(model, cfg, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp and device.type == "cuda" else None
    train_idx, val_idx = data.splits[fold]
    # with twins each training image also carries its index into them (the augmentation observes the twin)
    extra = (torch.as_tensor(train_idx, dtype=torch.long),) if data.twins is not None else ()
    train_set = TensorDataset(data.X[train_idx], data.y[train_idx], *extra)
    val_loader = DataLoader(TensorDataset(data.X[val_idx], data.y[val_idx]), batch_size=cfg.batch_size * 2)
    return Fold(fold, model, opt, sched, per_step, scaler, train_set, val_loader, cfg.epochs, cpu_state(model), twins=data.twins)


def wrap_ddp(model: nn.Module, info: DistInfo, device) -> nn.Module:
    """The model in DistributedDataParallel under torchrun; unchanged otherwise."""
    if not info.enabled:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[info.local_rank] if device.type == "cuda" else None)


def optimizer_and_schedule(model: nn.Module, cfg: TrainConfig, steps_per_epoch: int):
    """(AdamW, its LR schedule or None, whether the schedule steps per batch)."""
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


def initial_state(name_or_path: str, model_name: str, mcfg: dict) -> dict:
    """The state dict of a trained checkpoint (its first member) to fine-tune from; one sentence if it does not fit."""
    from core.checkpoints import load_model
    from core.json_values import to_plain
    from core.models.registry import make_config

    loaded = load_model(name_or_path, export=False)
    entry = loaded.entry

    def full(config: dict) -> dict:  # options added since the checkpoint was written take their defaults
        return to_plain(make_config(model_name, config).to_dict())

    if entry.get("model") != model_name or full(entry.get("config", {})) != full(mcfg):
        raise InputError(f"init_from {name_or_path} is a {entry.get('model')} with another config; fine-tune only from the same "
                         f"model ({model_name}) and model_config.")
    model = loaded.model
    members = getattr(model, "members", None)
    return (members[0] if members is not None else model).state_dict()


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP."""
    return model.module if hasattr(model, "module") else model


def inner(model: nn.Module) -> nn.Module:
    """The registry model inside DDP and the autoencoder's ReconWithLatent wrapper."""
    model = domain.inner(unwrap(model))
    return model.ae if isinstance(model, ReconWithLatent) else model


def cpu_state(model: nn.Module) -> dict:
    """A CPU copy of the registry model's state dict (what a checkpoint member holds)."""
    return {k: v.detach().to("cpu").clone() for k, v in inner(model).state_dict().items()}


# ---------------------------------------------------------------------------- one epoch


class Augmented:
    """A loader whose training batches get a random E(2) element per image (with twins: the batch's
    noiseless twins turned and observed afresh, `core.data.observe.SkyAugment`)."""

    def __init__(self, loader, augment):
        self.loader, self.augment = loader, augment

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if getattr(self.augment, "by_index", False):
                yield self.augment(batch[2]), batch[1]
            elif getattr(self.augment, "paired", False):
                yield self.augment(batch[0], batch[1])
            else:
                yield self.augment(batch[0]), batch[1]


@dataclass
class PhysicalAugment:
    """make_augment's answer to "continuous-physical": `bind(twins)` (a fold's) -> the augmentation that observes
    them (core.data.observe.SkyAugment), or exact 90-degree turns and flips when the data set keeps no twins."""

    shift_px: float
    psf_jitter: float
    resample_jitter: float = 0.0
    cosmic_rays: float = 0.0

    def bind(self, twins):
        from core.data.observe import ObserveConfig, SkyAugment
        from core.data.transforms import RandomE2Augment

        if twins is None:
            return RandomE2Augment(rotations="right", flips=True)
        return SkyAugment(twins, ObserveConfig(shift_px=self.shift_px, psf_jitter=self.psf_jitter,
                                                resample_jitter=self.resample_jitter, cosmic_rays=self.cosmic_rays))


def make_augment(cfg: TrainConfig, kind: str):
    """Random rotation (+ mirror) of every training image; draws from torch's global RNG (seeded per epoch).
    Super-resolution and (noisy, noise-free) autoencoder pairs: the same exact D4 element for input and target.
    "continuous-physical": a `PhysicalAugment`, bound to the fold's noiseless twins by `epoch_loader`."""
    from core.data.transforms import RandomE2Augment

    if cfg.sr_degrade_fraction > 0 and kind != "superres":
        raise InputError(f"sr_degrade_fraction degrades super-resolution pairs; {cfg.model} is a {kind}.")
    paired = kind == "superres" or bool(cfg.clean_data)  # (input, target) pairs: SR, or a denoising autoencoder
    if cfg.pair_turn_fraction > 0 and not paired:
        raise InputError(f"pair_turn_fraction turns (input, target) pairs; {cfg.model} trains on single images "
                         "(use augment_rotations = \"continuous\" or \"continuous-physical\").")
    if paired:
        from core.data.pairs import PairAugment

        return PairAugment(cfg.clean_input_fraction if cfg.clean_data else 0.0, cfg.sr_degrade_fraction, cfg.pair_turn_fraction,
                           cfg.sr_sky_turn_fraction)
    if cfg.augment_rotations == "continuous-physical":
        return PhysicalAugment(cfg.augment_shift_px, cfg.augment_psf_jitter, cfg.augment_resample_jitter, cfg.augment_cosmic_rays)
    return RandomE2Augment(rotations=cfg.augment_rotations, flips=True)


def epoch_loader(f: Fold, cfg: TrainConfig, info: DistInfo, augment, epoch_seed: int):
    """The shuffled training batches of one epoch: this rank's shard under DDP, augmented when asked."""
    if info.enabled:
        sampler = DistributedSampler(f.train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=epoch_seed)
        loader = DataLoader(f.train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers)
    else:
        gen = torch.Generator().manual_seed(epoch_seed)
        loader = DataLoader(f.train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
    if isinstance(augment, PhysicalAugment):
        augment = augment.bind(f.twins)
    return Augmented(loader, augment) if augment is not None else loader


def train_epoch(f: Fold, cfg: TrainConfig, loss_fn, device, info: DistInfo, augment=None,
                progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> dict:
    """Train epoch `f.done` (1-based) of the fold; the mean training loss and parts.

    Randomness is re-seeded from (seed, fold, epoch), so a resumed run draws the same batches and
    augmentations as an uninterrupted one. Under DDP a rank leaving mid-epoch would strand the others
    in the gradient all-reduce: `should_stop` is then left to the end of the epoch (`budget.plan`).
    """
    epoch_seed = cfg.seed * 1_000_003 + f.index * 10_007 + (f.done - 1)
    torch.manual_seed(epoch_seed)
    loader = epoch_loader(f, cfg, info, augment, epoch_seed)
    train = train_one_epoch(f.model, loader, f.opt, loss_fn, device, scaler=f.scaler, progress=progress,
                            scheduler=f.sched if f.per_step else None, should_stop=None if info.enabled else should_stop)
    if f.sched is not None and not f.per_step:
        f.sched.step()
    return train


def record(history: dict[str, list], f: Fold, train: dict, val: dict, lr: float, seconds: float, keep_last: bool) -> None:
    """Append the epoch to `history` and keep the fold's best weights by validation loss
    (`keep_last`: every epoch's, for domain-adapted runs where the source loss says nothing of the target)."""
    for key, value in [("fold", f.index), ("epoch", f.done), ("lr", lr), ("seconds", seconds)]:
        history.setdefault(key, []).append(value)
    for key, value in train.items():
        history.setdefault(f"train_{key}", []).append(value)
    for key, value in val.items():
        history.setdefault(f"val_{key}", []).append(value)
    if val["loss"] < f.best_val or keep_last:
        f.best_val, f.best_state, f.bad_epochs = val["loss"], cpu_state(f.model), 0
    else:
        f.bad_epochs += 1
