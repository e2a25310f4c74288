"""A reproducible background CPU load for the app benchmarks ("with another training job on the cores").

    with CpuLoad("train") as load:   # or "matmul"
        ...                          # measure; load.cores() = cores the load used meanwhile
    python -m bench.cpu_load {train,matmul} DIR [--threads 2]    # the worker, as CpuLoad starts it

- "train": a real training job, the kind the project runs beside the app: a D8-equivariant classifier
  of 64 px lenses on the 65 px grid (as DeepLense Model II's), batch 32, augmentation on, 2 torch
  threads, on 96 freshly simulated project lenses (seed 0), through `core.train.fit.fit` (what
  `python -m core train` calls; `train_command` is that command line). Its checkpoint and resume
  state go to DIR, never to runs/ or checkpoints/ of the repository, and it runs until stopped.
- "matmul": 512 x 512 float32 matrix products in a loop on 2 torch threads: the same load on any
  machine, nothing read or written.

The worker writes DIR/ready once its first training batch (or product) is done, so the measurements
start with the load running, not while it imports torch or simulates its data. It runs in a process
group of its own; `stop` ends that group (by its id) and nothing else.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.paths import REPO_ROOT

KINDS = ("train", "matmul")
THREADS = 2
READY = "ready"
TRAIN_IMAGES = 96  # simulated lenses the training job learns from (a small set: the job is the load, not the model)
TRAIN_SIZE = 64


def train_overrides(folder: Path, threads: int = THREADS, size: int = TRAIN_SIZE, model: str = "equivariant_classifier",
                    model_config: dict | None = None) -> dict:
    """The TrainConfig fields of the "train" load, everything written under `folder` (the model and its
    config can be made tiny for a test)."""
    return {"data": str(folder / "data"), "model": model,
            "model_config": model_config or {"image_size": size + 1, "group": "D8"},
            "epochs": 100_000, "batch_size": 32, "lr": 5e-4, "val_fraction": 0.25, "seed": 0, "threads": threads,
            "augment": True, "augment_rotations": "right", "max_minutes": 24 * 60.0, "resume": False,
            "name": "bench-cpu-load", "out": str(folder / "out"), "work_dir": str(folder / "work")}


def train_command(folder: Path, threads: int = THREADS) -> str:
    """The `python -m core simulate ... && python -m core train ...` lines equivalent to the "train" load."""
    from core.train.config import command_for, load_config

    simulate = f"python -m core simulate lenses --n {TRAIN_IMAGES} --size {TRAIN_SIZE} --seed 0 --out DIR/data"
    cfg = load_config(None, train_overrides(folder, threads))
    return simulate + " && " + command_for(None, cfg).replace(str(folder), "DIR")


# ---------------------------------------------------------------- the worker (its own process)


def _mark_ready(folder: Path) -> None:
    (folder / READY).write_text(str(os.getpid()))


def run_train(folder: Path, threads: int = THREADS, n_images: int = TRAIN_IMAGES, size: int = TRAIN_SIZE,
              once: bool = False, **model) -> None:
    """Simulate the data set (once per folder), then train until the process is stopped (`once`: stop
    after the first batch; `model`: train_overrides' model and model_config)."""
    from core.cli import main as core_main
    from core.train.config import load_config
    from core.train.fit import fit

    if not (folder / "data").exists():
        code = core_main(["simulate", "lenses", "--n", str(n_images), "--size", str(size), "--seed", "0",
                          "--out", str(folder / "data"), "--workers", "1", "--no-progress"])
        if code:
            raise SystemExit(f"simulating the load's data set failed (exit {code})")
    cfg = load_config(None, train_overrides(folder, threads, size, **model))
    seen = []

    def progress(done: int, total: int, message: str) -> None:
        if not seen and "epoch " in message:  # a training batch (load_data reports its reading too)
            seen.append(done)
            _mark_ready(folder)

    while True:  # a finished run (it would take a day) starts again
        fit(cfg, progress=progress, should_stop=(lambda: bool(seen)) if once else None)
        if once:
            return


def run_matmul(folder: Path, threads: int = THREADS, side: int = 512) -> None:
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(side, side)
    b = a @ a
    _mark_ready(folder)
    while True:
        b = (a @ b).clamp_(-1.0, 1.0)


# ---------------------------------------------------------------- the parent's handle


class CpuLoad:
    """The worker as a subprocess in a process group of its own; a context manager.

    `start` returns once the worker wrote its ready marker (RuntimeError with its log if it exits or
    takes longer than `timeout_s`); `cores()` is the CPU the load used since the last `mark()` (cores,
    user + system time over wall time); `stop` ends the worker's process group."""

    def __init__(self, kind: str, threads: int = THREADS, folder: str | Path | None = None):
        if kind not in KINDS:
            raise ValueError(f"Unknown load {kind!r}; choose one of {', '.join(KINDS)}.")
        self.kind, self.threads = kind, threads
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="equiscope-cpu-load-")
        self.folder = Path(folder or self._tmp.name)
        self.proc: subprocess.Popen | None = None
        self._mark = (0.0, 0.0)

    def describe(self) -> str:
        if self.kind == "matmul":
            return f"512 × 512 float32 matrix products in a loop on {self.threads} torch threads (bench/cpu_load.py)"
        return (f"a training job on {self.threads} torch threads (bench/cpu_load.py), equivalent to "
                f"`{train_command(self.folder, self.threads)}`")

    def start(self, timeout_s: float = 600.0) -> CpuLoad:
        from bench._server import cpu_seconds

        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / READY).unlink(missing_ok=True)
        log = open(self.folder / "load.log", "wb")  # noqa: SIM115 - the child holds its own descriptor
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.cpu_load", self.kind, str(self.folder),
                                      "--threads", str(self.threads)], cwd=REPO_ROOT, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while not (self.folder / READY).exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.folder / "load.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the {self.kind} load did not start within {timeout_s:.0f} s: {tail}")
            time.sleep(0.2)
        self._mark = (time.monotonic(), cpu_seconds(self.proc.pid))
        return self

    def mark(self) -> None:
        from bench._server import cpu_seconds

        self._mark = (time.monotonic(), cpu_seconds(self.proc.pid))

    def cores(self) -> float:
        """Cores the load used on average since `start` or the last `mark`."""
        from bench._server import cpu_seconds

        t0, c0 = self._mark
        return (cpu_seconds(self.proc.pid) - c0) / max(time.monotonic() - t0, 1e-9)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the worker's own group: its id is its pid
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> CpuLoad:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The background CPU load's worker (started by CpuLoad).")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    (run_train if args.kind == "train" else run_matmul)(args.folder, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
