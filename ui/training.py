"""Training runs started from the browser: one background thread at a time per server.

A module-level lock admits one run per server process (the machine's cores are shared by
every visitor); the run's state lives in a `TrainJob` that any session can poll, so the
page shows the same progress to whoever opens it. The thread never touches Streamlit: it
calls `core.train.fit` with plain callbacks and writes into the job. The finished checkpoint
is registered in `runs/index.json` by `fit`, so every model picker lists it on its next render.

Run names are unique: `start` refuses a name that `runs/` already holds unless `replace=True`
(asked on the page), and the page's default name is `unique_name(...)` of the model's name.
Besides simulated sets, a run trains on a labelled upload: a zip of class folders
(`save_zip_dataset`) or the labelled images of the session's image list (`save_images_dataset`),
written as a class-folder data set under data/ that `core.data.datasets.scan_dataset` reads.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

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
    """Data sets on this server: simulated ones (a manifest.json) under data/ and cache/reference/, and
    the labelled uploads written by `save_zip_dataset` / `save_images_dataset` (a .complete marker)."""
    found = set()
    for base in DATA_DIRS:
        if base.is_dir():
            found.update(p.parent for p in base.glob("**/manifest.json"))
            found.update(p.parent for p in base.glob("*/.complete"))
    return sorted(found)


def run_names() -> set[str]:
    """Names of the runs already in `runs/` (its index.json, and checkpoint files without an entry)."""
    from core.checkpoints import RUNS_DIR, list_checkpoints

    names = {e.get("name") for e in list_checkpoints([RUNS_DIR])}
    names |= {p.stem for p in RUNS_DIR.glob("*.pt")} if RUNS_DIR.is_dir() else set()
    if _JOB is not None and _JOB.running:
        names.add(_JOB.name)  # registered only when it ends
    return names


def unique_name(base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first name no run in `runs/` has yet."""
    taken = run_names()
    if base not in taken:
        return base
    k = 2
    while f"{base}-{k}" in taken:
        k += 1
    return f"{base}-{k}"


def runs() -> list[dict]:
    """The index entries of the runs in `runs/` (newest first), each with an absolute `path`."""
    from core.checkpoints import RUNS_DIR, list_checkpoints

    entries = list_checkpoints([RUNS_DIR])
    return sorted(entries, key=lambda e: (e.get("created_utc") or "", e.get("name", "")), reverse=True)


def run_history(path: str) -> dict:
    """The per-epoch loss history stored in a run's checkpoint ({} when it has none)."""
    from core.checkpoints import read_checkpoint

    return dict(read_checkpoint(path).get("history") or {})


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _folder_name(label: str) -> str:
    return _SAFE.sub("_", label).strip("._") or "unlabelled"


def save_zip_dataset(raw: bytes, filename: str, max_images: int) -> Path:
    """A zip of image files (one folder per class, DeepLense names mapped) written as a data set under
    data/upload-<sha>/ (the same zip gives the same folder); returns the folder.

    Files keep their bytes and extension and are renamed `<class>/<k>.<ext>`: nothing a user named
    becomes a path on this server but the class, reduced to letters, digits, '-', '_' and '.'.
    """
    from core.atomic import atomic_write_bytes
    from core.data.datasets import canonical_class
    from core.io.zip_images import zip_images

    archive = zip_images(raw, filename)
    if len(archive.members) > max_images:
        raise InputError(f"{archive.name} holds {len(archive.members)} images, more than the {max_images} a run "
                         "started here may use; zip fewer files or train with `python -m core train`.")
    root = DATA_DIR / f"upload-{hashlib.sha256(raw).hexdigest()[:16]}"
    if not (root / ".complete").is_file():
        for k, member in enumerate(archive.members):
            folder = PurePosixPath(member.folder).name
            label = _folder_name(canonical_class(folder)) if folder else ""
            target = root / label / f"{k:06d}{PurePosixPath(member.path).suffix.lower()}"
            atomic_write_bytes(target, archive.read(member))
        atomic_write_bytes(root / ".complete", b"")
    return root


def save_images_dataset(images: list[tuple[np.ndarray, str | None]], parent: Path | None = None) -> Path:
    """Images of the session's list ((H, W) array, class label or None) written as a data set under
    `parent`/list-<sha>/ (default data/): one folder per class when they have labels, else flat, the k-th
    image as `<class>/<k:06d>.npy`; returns the folder."""
    from core.atomic import atomic_save_npy, atomic_write_bytes

    if not images:
        raise InputError("The image list is empty; upload a zip of class folders on the Data page first.")
    digest = hashlib.sha256()
    for data, label in images:
        digest.update(np.ascontiguousarray(data, dtype=np.float32).tobytes() + str(label).encode())
    root = (DATA_DIR if parent is None else Path(parent)) / f"list-{digest.hexdigest()[:16]}"
    if not (root / ".complete").is_file():
        for k, (data, label) in enumerate(images):
            folder = root / _folder_name(label) if label else root
            atomic_save_npy(folder / f"{k:06d}.npy", np.asarray(data, dtype=np.float32))
        atomic_write_bytes(root / ".complete", b"")
    return root


def current() -> TrainJob | None:
    """The running run, or the last finished one, or None."""
    return _JOB


def stop() -> None:
    """Ask the running run to stop after the current batch; it still writes its best checkpoint."""
    if _JOB is not None and _JOB.running:
        _JOB.stop_event.set()
        _JOB.message = "stopping after this batch…"


def start(*, name: str, model: str, group: str | None, data: str | None, simulate: dict | None,
          epochs: int, batch_size: int = 16, max_minutes: float | None = None, replace: bool = False) -> TrainJob:
    """Start a run in a background thread; InputError if one is already running or the input is bad.

    Either `data` (a folder listed by `datasets()`) or `simulate` ({"kind", "n", "size", "seed"}:
    a small set simulated into `data/app-<kind>-v<simulator version>-n<n>-seed<seed>/` first) gives the images.
    A name that `runs/` already holds is refused unless `replace` (the user asked to overwrite it).
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
    if not replace and name in run_names():
        raise InputError(f"A run named '{name}' already exists in runs/; choose another name, or tick "
                         "'Replace the run of that name' to overwrite it.")
    if data is None and simulate is None:
        raise InputError("Choose a data set or ask for a small simulated one.")
    if simulate is not None:
        from core.data.simulator_versions import version_of

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
            from core.data.dataset_writer import simulate_dataset

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
