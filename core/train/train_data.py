"""The data step of `fit`: the training images on the model grid, their targets, the model's
full config and the seeded validation split (or K folds)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.datasets import load_tensors
from core.errors import InputError
from core.models.registry import model_kind
from core.progress import Progress
from core.train.config import TrainConfig

Split = tuple[np.ndarray, np.ndarray]  # (train indices, validation indices)


@dataclass
class TrainData:
    """Everything `fit` reads from the data folders, in memory."""

    X: torch.Tensor  # (N, 1, S, S) inputs in [0, 1]
    y: torch.Tensor  # (N,) labels, or (N, 1, S', S') targets (superres HR, denoising twins)
    index: Any  # DatasetIndex (PairIndex for superres): files, classes, manifest, fingerprint of cfg.data
    kind: str  # the model's kind: autoencoder | classifier | superres | encoder
    image_size: int  # the model grid S
    mcfg: dict  # the model's full config (n_classes included)
    classes: list[str] | None  # class names of a classifier, else None
    splits: list[Split]  # one (val_fraction) or K (folds)
    twins: Any = None  # core.data.observe.Twins of X (augment_rotations "continuous-physical"), else None


def load_data(cfg: TrainConfig, progress: Progress | None = None) -> TrainData:
    """Read cfg.data (and cfg.clean_data) onto the model grid and split it; InputError if it cannot train this model."""
    image_size = int(model_config(cfg, None).get("image_size", 129))
    kind = model_kind(cfg.model)
    if kind == "superres":  # x = LR normalised by its own range, y = HR on the same scale
        from core.data.pairs import load_pairs

        X, y, index = load_pairs(cfg.data, progress)
    else:
        X, y, index = load_tensors(cfg.data, image_size, progress)
    if cfg.clean_data:  # denoising autoencoder: y = the noise-free twin of each image
        y = _clean_twins(cfg, kind, index, image_size)
    classes = list(index.classes) if kind == "classifier" else None
    if kind == "classifier" and (index.labels is None or (y < 0).any()):
        raise InputError(f"Training a classifier needs labelled images; {cfg.data} has no class folders or labels.csv.")
    mcfg = model_config(cfg, classes)
    splits = make_splits(len(X), y.numpy() if kind == "classifier" else None, cfg)
    return TrainData(X, y, index, kind, image_size, mcfg, classes, splits, physical_twins(cfg, kind, index, image_size, len(X)))


def physical_twins(cfg: TrainConfig, kind: str, index, image_size: int, n: int):
    """The noiseless twins that augment_rotations "continuous-physical" observes (core.data.observe.Twins), or None:
    without augmentation, for another setting, or (one sentence on stderr) for a data set simulated without --twins."""
    if not (cfg.augment and cfg.augment_rotations == "continuous-physical"):
        return None
    if kind == "superres" or cfg.clean_data:
        raise InputError("augment_rotations = \"continuous-physical\" observes single images again; super-resolution "
                         "pairs and clean_data twins keep the exact 90-degree turns (\"right\").")
    from core.data.datasets import load_twins

    twins = load_twins(index, image_size, limit=n)
    if twins is None:
        print(f"{cfg.data} keeps no noiseless twins (simulate it with --twins), so augmentation falls back to exact "
              "90-degree turns and flips (\"right\").", file=sys.stderr, flush=True)
    return twins


def model_config(cfg: TrainConfig, classes: list[str] | None) -> dict:
    """The model's full config as plain values: defaults, then the TOML overrides, then n_classes."""
    from core.models.registry import make_config

    values = dict(cfg.model_config)
    fields = make_config(cfg.model).to_dict()
    if "n_classes" in fields and classes:
        values["n_classes"] = len(classes)
    return make_config(cfg.model, values).to_dict()


def make_splits(n: int, labels: np.ndarray | None, cfg: TrainConfig) -> list[Split]:
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
