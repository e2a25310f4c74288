"""One epoch of training and one pass of evaluation; every dependency is an argument.

`loss_fn(model, x, y) -> (loss, parts)`: the loss runs the model itself (an autoencoder loss
may need the latent as well as the reconstruction), `loss` is a scalar tensor and `parts` a
dict of floats (loss terms, accuracy, ...) that are averaged over the epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from core.progress import Progress

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class _Mean:
    """Running sample-weighted means of the loss and its parts."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.n = 0

    def add(self, loss: float, parts: dict[str, float], batch: int) -> None:
        self.n += batch
        for key, value in {"loss": loss, **parts}.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * batch

    def result(self) -> dict[str, float]:
        return {k: v / max(self.n, 1) for k, v in self.sums.items()}


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                    device: torch.device, scaler: torch.amp.GradScaler | None = None,
                    progress: Progress | None = None, scheduler=None, grad_clip: float | None = 1.0,
                    should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
    """Train for one pass over `loader`; returns the sample-weighted mean loss and parts.

    `scaler` (CUDA mixed precision) turns on float16 autocast; `scheduler`, if given, is
    stepped after every batch (one-cycle); `progress(done, total, message)` after every batch.
    """
    model.train()
    mean = _Mean()
    total = len(loader)
    for step, (x, y) in enumerate(loader, start=1):
        x = x.to(device, non_blocking=True)  # (B, 1, S, S)
        y = y.to(device, non_blocking=True)  # (B,)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, scaler is not None):
            loss, parts = loss_fn(model, x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The training loss became {loss.item()} at step {step}; lower the learning rate.")
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        mean.add(loss.item(), parts, x.shape[0])
        if progress is not None:
            progress(step, total, f"loss {mean.result()['loss']:.4f}")
        if should_stop is not None and should_stop():
            break
    return mean.result()


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn: LossFn, device: torch.device) -> dict[str, float]:
    """Mean loss and parts over `loader` in eval mode, without gradients."""
    model.eval()
    mean = _Mean()
    for x, y in loader:
        x = x.to(device, non_blocking=True)  # (B, 1, S, S)
        y = y.to(device, non_blocking=True)  # (B,)
        loss, parts = loss_fn(model, x, y)
        mean.add(loss.item(), parts, x.shape[0])
    return mean.result()
