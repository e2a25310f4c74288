"""What one image costs a model: learned parameters, floating-point operations and CPU time.

- Parameters: the learned ones, counted on the model as built for training (an escnn layer's free
  coefficients, not the expanded filters its served export convolves), times the ensemble's members.
- MFLOP: `torch.utils.flop_counter.FlopCounterMode` over one forward pass of the served model on one
  image of its grid (2 per multiply-add of convolutions and matrix products; every ensemble member).
- Milliseconds: the fastest of a few timed forward passes of a small batch, per image, on this machine as
  it is loaded now (threads as torch is set).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelCost:
    parameters: int  # learned parameters (all members of an ensemble)
    mflop: float  # per image, one forward pass of the served model
    ms: float  # per image, measured on this machine


def learned_parameters(model_name: str, config: dict, members: int = 1) -> int:
    """Learned parameters of a registry model built from its config (escnn's coefficients), times `members`."""
    from core.models.registry import build_model

    return members * sum(p.numel() for p in build_model(model_name, config).parameters() if p.requires_grad)


def mflop_per_image(model: nn.Module, size: int) -> float:
    """MFLOP of one forward pass of `model` on one (1, 1, size, size) image (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 1, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 1e6


def ms_per_image(model: nn.Module, size: int, batch: int = 4, repeats: int = 5, budget_s: float = 1.5) -> float:
    """Milliseconds per image: the fastest of up to `repeats` forward passes of `batch` images (at least two;
    no more once `budget_s` seconds are spent), after one warm-up. The fastest pass is the one least
    disturbed by other work on the machine."""
    x = torch.rand(batch, 1, size, size)
    best, spent, runs = float("inf"), 0.0, 0
    with torch.no_grad():
        model(x)
        while runs < repeats and (runs < 2 or spent < budget_s):
            start = time.perf_counter()
            model(x)
            took = time.perf_counter() - start
            best, spent, runs = min(best, took), spent + took, runs + 1
    return 1e3 * best / batch


def model_cost(loaded) -> ModelCost:
    """The cost per image of a `core.checkpoints.LoadedModel` (its served model, its entry's architecture)."""
    entry = loaded.entry
    members = int(entry.get("members") or 1)
    size = loaded.image_size
    return ModelCost(learned_parameters(entry["model"], loaded.config, members), mflop_per_image(loaded.model, size),
                     ms_per_image(loaded.model, size))
