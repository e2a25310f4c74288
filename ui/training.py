"""Training runs started from the browser: one background thread at a time per server.

A module-level lock admits one run per server process (the machine's cores are shared by
every visitor); the run's state lives in a `TrainJob` that any session can poll, so the
page shows the same progress to whoever opens it. The thread never touches Streamlit: it
calls `core.train.fit` with plain callbacks and writes into the job. The finished checkpoint
is registered in `runs/index.json` by `fit`, so every model picker lists it on its next render.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from core import paths
from core.errors import InputError

DATA_DIR = paths.DATA_DIR  # where the page's small simulated sets are written
DATA_DIRS = (paths.DATA_DIR, paths.CACHE_DIR / "reference")  # where simulated sets are listed from
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_LOCK = threading.Lock()  # held while a run is in progress
_JOB: TrainJob | None = None  # the latest run of this server, running or finished


@dataclass
class TrainJob:
    """What a run is doing; written by the training thread, read by every session."""

    name: str
    summary: str  # one line: model, group, data, epochs
    status: str = "starting"  # starting | simulating | training | done | stopped | failed
    message: str = ""
    done: int = 0  # progress units done (batches, or images while simulating)
    total: int = 1
    history: dict = field(default_factory=dict)  # per-epoch lists from core.train.fit
    checkpoint: str | None = None  # path of the written checkpoint
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.finished is None

    def fraction(self) -> float:
        return min(max(self.done / max(self.total, 1), 0.0), 1.0)


def datasets() -> list[Path]:
    """Simulated data sets on this server: folders with a manifest.json under data/ and cache/reference/."""
    found = set()
    for base in DATA_DIRS:
        if base.is_dir():
            found.update(p.parent for p in base.glob("**/manifest.json"))
    return sorted(found)


def current() -> TrainJob | None:
    """The running run, or the last finished one, or None."""
    return _JOB


def stop() -> None:
    """Ask the running run to stop after the current batch; it still writes its best checkpoint."""
    if _JOB is not None and _JOB.running:
        _JOB.stop_event.set()
        _JOB.message = "stopping after this batch…"


def start(*, name: str, model: str, group: str | None, data: str | None, simulate: dict | None,
          epochs: int, batch_size: int = 16, max_minutes: float | None = None) -> TrainJob:
    """Start a run in a background thread; InputError if one is already running or the input is bad.

    Either `data` (a folder listed by `datasets()`) or `simulate` ({"kind", "n", "size", "seed"}:
    a small set simulated into `data/app-<kind>-v<simulator version>-n<n>-seed<seed>/` first) gives the images.
    """
    global _JOB
    from core.checkpoints import RUNS_DIR, SHIPPED
    from core.models.registry import is_equivariant
    from core.train.config import from_dict

    if not NAME_RE.match(name):
        raise InputError("The run name may use letters, digits, '-', '_' and '.', up to 64 characters; "
                         "for example 'my-d4-ae'.")
    if name in SHIPPED:
        raise InputError(f"'{name}' is a shipped checkpoint's name; choose another name for your run.")
    if data is None and simulate is None:
        raise InputError("Choose a data set or ask for a small simulated one.")
    if simulate is not None:
        from core.data.simulate import version_of

        data = str(DATA_DIR / f"app-{simulate['kind']}-v{version_of(simulate['kind'])}-n{simulate['n']}-seed{simulate['seed']}")
    model_config = {"group": group} if group and is_equivariant(model) else {}
    config = from_dict({"data": data, "model": model, "model_config": model_config, "epochs": int(epochs),
                        "batch_size": int(batch_size), "name": name, "out": str(RUNS_DIR), "work_dir": str(RUNS_DIR / name),
                        "threads": 1, "max_minutes": max_minutes, "resume": False})
    if not _LOCK.acquire(blocking=False):
        raise InputError("A training run is already in progress on this server; wait for it to finish or stop it.")
    group_txt = f" {group}" if model_config else ""
    job = TrainJob(name=name, summary=f"{model}{group_txt} on {Path(data).name}, {epochs} epochs")
    _JOB = job
    thread = threading.Thread(target=_run, args=(job, config, simulate), name=f"train-{name}", daemon=True)
    try:
        thread.start()
    except BaseException:
        _LOCK.release()
        raise
    return job


def _run(job: TrainJob, config, simulate: dict | None) -> None:
    from core.train.fit import fit

    def progress(done: int, total: int, message: str) -> None:
        job.done, job.total, job.message = done, total, message

    def on_epoch(history: dict) -> None:
        job.history = history

    try:
        if simulate is not None and not (Path(config.data) / "manifest.json").is_file():
            from core.data.simulate import simulate_dataset

            job.status = "simulating"
            simulate_dataset(simulate["kind"], int(simulate["n"]), int(simulate["size"]), int(simulate["seed"]),
                             config.data, workers=1, progress=progress)
        job.status, job.done, job.total = "training", 0, 1
        path = fit(config, progress=progress, should_stop=job.stop_event.is_set, on_epoch=on_epoch)
        job.checkpoint = str(path) if path else None
        job.status = "stopped" if job.stop_event.is_set() else "done"
        job.message = f"checkpoint '{job.name}' written; it is now in every model picker"
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:  # InputError is a ValueError
        job.status, job.error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - report any crash to the page, full trace to the log
        traceback.print_exc(file=sys.stderr)
        job.status, job.error = "failed", f"Training crashed ({type(exc).__name__}: {exc}); see the server log."
    finally:
        job.finished = time.time()
        _LOCK.release()
