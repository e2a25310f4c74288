"""Distributed data parallel set-up for `torchrun` (gloo on CPU; nccl + gloo on CUDA).

Under `torchrun --nproc_per_node=N -m core train ...` every process runs the same `fit`;
the environment variables RANK / WORLD_SIZE / LOCAL_RANK tell them apart. Only rank 0
writes files. Without those variables everything here is a no-op (world size 1).

Backends: on CUDA the group is started as "cpu:gloo,cuda:nccl", so DDP's gradient
all-reduce on CUDA tensors goes through NCCL while the small control collectives here
(stop decision, epoch plan, weight checksums) use CPU tensors and go through gloo. NCCL
alone rejects CPU tensors; keeping the control values on the CPU avoids moving a scalar
to the GPU and back for every decision. On CPU the group is plain gloo.

Every collective must be entered by every rank in the same order, so a decision that
changes which collectives run next (stop now, how many epochs) is taken on rank 0 and
broadcast (`broadcast_ints`), never computed from each rank's own clock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

CONTROL_DEVICE = torch.device("cpu")  # where the control collectives' tensors live (gloo on every backend below)


def backend_for(device: torch.device) -> str:
    """The process-group backend for training on `device` (see the module docstring)."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0  # this process, 0 .. world_size-1
    world_size: int = 1  # number of processes
    local_rank: int = 0  # process index on this machine (selects the CUDA device)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; returns this process's place in it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend_for(device), rank=info.rank, world_size=world)
    return info


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_ints(values: Sequence[int], info: DistInfo) -> list[int]:
    """Rank 0's values (e.g. stop now, epochs planned) for every rank."""
    if not info.enabled:
        return [int(v) for v in values]
    t = torch.tensor([int(v) for v in values], dtype=torch.int64, device=CONTROL_DEVICE)
    dist.broadcast(t, src=0)
    return [int(v) for v in t.tolist()]


def weights_checksum(model: torch.nn.Module) -> float:
    """A float64 sum over every parameter; equal on all ranks when they are in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def assert_in_sync(model: torch.nn.Module, info: DistInfo) -> None:
    """Raise if the ranks' parameters differ (a DDP run must end with identical weights)."""
    if not info.enabled:
        return
    mine = torch.tensor([weights_checksum(model)], dtype=torch.float64, device=CONTROL_DEVICE)
    gathered = [torch.zeros_like(mine) for _ in range(info.world_size)]
    dist.all_gather(gathered, mine)
    values = [float(g.item()) for g in gathered]
    if max(values) - min(values) > 1e-9 * max(1.0, abs(values[0])):
        raise RuntimeError(f"DDP ranks ended with different weights (checksums {values}).")
