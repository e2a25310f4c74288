"""Distributed data parallel set-up for `torchrun` (gloo on CPU, nccl on CUDA).

Under `torchrun --nproc_per_node=N -m core train ...` every process runs the same `fit`;
the environment variables RANK / WORLD_SIZE / LOCAL_RANK tell them apart. Only rank 0
writes files. Without those variables everything here is a no-op (world size 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, rank=info.rank, world_size=world)
    return info


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's decision (e.g. stop now) for every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    dist.broadcast(t, src=0)
    return bool(t.item())


def weights_checksum(model: torch.nn.Module) -> float:
    """A float64 sum over every parameter; equal on all ranks when they are in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def assert_in_sync(model: torch.nn.Module, info: DistInfo) -> None:
    """Raise if the ranks' parameters differ (a DDP run must end with identical weights)."""
    if not info.enabled:
        return
    mine = torch.tensor([weights_checksum(model)], dtype=torch.float64)
    gathered = [torch.zeros_like(mine) for _ in range(info.world_size)]
    dist.all_gather(gathered, mine)
    values = [float(g.item()) for g in gathered]
    if max(values) - min(values) > 1e-9 * max(1.0, abs(values[0])):
        raise RuntimeError(f"DDP ranks ended with different weights (checksums {values}).")
