"""DDP: two CPU processes (gloo) end with identical weights, fit writes once, and rank 0 decides
when to stop; the CUDA backend choice is checked without a GPU."""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from core.train import ddp
    from core.train.engine import train_one_epoch
    from core.train.losses import classifier_loss_fn

    ddp.setup(torch.device("cpu"))
    g = torch.Generator().manual_seed(rank)  # each rank holds different data; DDP must still keep weights equal
    x = torch.randn(64, 4, generator=g)
    y = (x.sum(dim=1) > 0).long()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        train_one_epoch(model, DataLoader(data, batch_size=8, sampler=sampler), opt, classifier_loss_fn(), torch.device("cpu"))
    torch.save(model.module.state_dict(), Path(tmp) / f"rank{rank}.pt")
    from test_train import _cfg

    from core.train.fit import fit

    result = fit(_cfg(Path(tmp), epochs=2))  # joins the existing group, checks the ranks agree, destroys the group
    (Path(tmp) / f"fit_rank{rank}.txt").write_text(str(result))


def test_two_process_ddp_keeps_ranks_identical_and_fit_writes_once(tmp_path):
    from test_train import make_disk_folder

    make_disk_folder(tmp_path / "data")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    torch.manual_seed(0)
    start = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    for name in w0:
        torch.testing.assert_close(w0[name], w1[name], atol=0, rtol=0, msg=name)
    assert all(not torch.equal(w0[k], v) for k, v in start.state_dict().items())  # training moved every tensor
    assert (tmp_path / "fit_rank1.txt").read_text() == "None"  # only rank 0 writes
    raw = torch.load((tmp_path / "fit_rank0.txt").read_text(), weights_only=True)
    assert raw["metrics"]["ddp_world_size"] == 2 and raw["history"]["epoch"] == [1, 2]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_control_collective_uses_a_device_the_backend_carries(monkeypatch, device):
    """No GPU needed: capture the backend `setup` starts and the tensors each collective helper sends."""
    from torch.distributed.distributed_c10d import BackendConfig

    from core.train import ddp

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    calls, sent = {}, []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.update(backend=backend, **kw))
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.update(cuda_device=index))
    monkeypatch.setattr(dist, "broadcast", lambda t, src: sent.append(t))
    monkeypatch.setattr(dist, "all_gather", lambda out, t: [sent.append(t)] + [o.copy_(t) for o in out])

    info = ddp.setup(torch.device(device))
    assert info == ddp.DistInfo(rank=1, world_size=2, local_rank=1)
    assert calls["rank"] == 1 and calls["world_size"] == 2
    assert calls.get("cuda_device") == (1 if device == "cuda" else None)
    backend_of = BackendConfig(dist.Backend(calls["backend"])).get_device_backend_map()
    assert backend_of[device] == ("nccl" if device == "cuda" else "gloo")  # DDP's gradients on the training device

    assert ddp.broadcast_ints([1, 0, 7], info) == [1, 0, 7]
    ddp.assert_in_sync(nn.Linear(2, 2), info)
    assert len(sent) == 2
    for t in sent:
        assert t.device.type in backend_of, f"a {t.device.type} tensor under backend {calls['backend']!r}"


def _budget_worker(rank: int, world: int, port: int, tmp: str, fast_rank: int) -> None:
    """fit under DDP where only `fast_rank`'s clock runs fast (10 000 s a tick): only it sees the budget spent."""
    import itertools

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from test_train import _cfg

    from core.train import ddp
    from core.train.fit import fit
    from core.train.fold import inner

    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))  # a hang fails
    clock = itertools.count(0, 10_000).__next__ if rank == fast_rank else time.monotonic
    in_sync = ddp.assert_in_sync

    def record(model, info):
        weights = {k: v.detach() for k, v in inner(model).named_parameters()}  # BN running stats stay per rank
        torch.save(weights, Path(tmp) / f"final_rank{rank}.pt")
        in_sync(model, info)

    ddp.assert_in_sync = record
    result = fit(_cfg(Path(tmp), epochs=3, max_minutes=60), clock=clock)
    (Path(tmp) / f"fit_rank{rank}.txt").write_text(str(result))


@pytest.mark.parametrize("fast_rank", [1, 0])
def test_ranks_disagreeing_on_the_budget_follow_rank_0_and_end_together(tmp_path, fast_rank):
    from test_train import make_disk_folder

    make_disk_folder(tmp_path / "data")
    context = mp.spawn(_budget_worker, args=(2, _free_port(), str(tmp_path), fast_rank), nprocs=2, join=False)
    deadline = time.monotonic() + 240
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the DDP ranks hung")
    w0 = torch.load(tmp_path / "final_rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "final_rank1.pt", weights_only=True)
    for name in w0:
        torch.testing.assert_close(w0[name], w1[name], atol=0, rtol=0, msg=name)
    raw = torch.load((tmp_path / "fit_rank0.txt").read_text(), weights_only=True)
    # rank 0's clock decides: within budget, all 3 epochs; over budget, both stop after the first
    assert raw["history"]["epoch"] == ([1, 2, 3] if fast_rank == 1 else [1])
    assert (tmp_path / "fit_rank1.txt").read_text() == "None"
