"""Shared by the analysis tests: tiny checkpoints saved with core.checkpoints, tiny data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.checkpoints import load_model, save_checkpoint
from core.models import build_model, model_kind

# Three stride-2 blocks on a 33-px grid (33 -> 17 -> 9 -> 5), as in tests/test_models.py.
TINY = {
    "equivariant_ae": {"image_size": 33, "fields": (1, 2, 2), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)},
    "equivariant_classifier": {"image_size": 33, "fields": (1, 2, 2), "hidden": 8},
    "cnn_ae": {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)},
    "cnn_classifier": {"image_size": 33, "channels": (2, 4, 4), "hidden": 8},
}


def tiny_checkpoint(folder: Path, name: str, seed: int = 0, **config) -> Path:
    """Save a freshly initialised tiny model (weights from `seed`) as a checkpoint file."""
    torch.manual_seed(seed)
    cfg = {**TINY[name], **config}
    model = build_model(name, cfg)
    path = Path(folder) / f"{name}_{seed}_{'_'.join(f'{k}{v}' for k, v in sorted(config.items()))}.pt"
    classes = ["no_sub", "cdm", "vortex"] if model_kind(name) == "classifier" else None
    save_checkpoint(path, model_name=name, config=model.config.to_dict(), state_dict=model.state_dict(),
                    metrics={}, data_manifest={}, command="test", history={}, classes=classes)
    return path


def tiny_loaded(folder: Path, name: str, seed: int = 0, **config):
    return load_model(tiny_checkpoint(folder, name, seed, **config))


def disk_like(size: int, rng: np.random.Generator, ring_radius: float) -> np.ndarray:
    """An inclined ring with a bright off-centre clump (not symmetric under any rotation)."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(xx, yy * 1.4)
    img = np.exp(-0.5 * ((r - ring_radius) / 2.0) ** 2)
    img += 0.8 * np.exp(-0.5 * ((xx - 0.3 * size) ** 2 + (yy + 0.1 * size) ** 2) / 4.0)
    return (img + 0.05 * rng.random((size, size))).astype(np.float32)


def tiny_dataset(folder: Path, n_per_class: int = 4, size: int = 40, seed: int = 0) -> Path:
    """A class-folder data set of .npy images: planets_0 (ring at 6 px) and planets_1 (ring at 12 px)."""
    rng = np.random.default_rng(seed)
    for cls, radius in (("planets_0", 6.0), ("planets_1", 12.0)):
        (Path(folder) / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            np.save(Path(folder) / cls / f"{i:03d}.npy", disk_like(size, rng, radius + rng.normal()))
    return Path(folder)
