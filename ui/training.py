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

A classifier run either trains from scratch (`core.train.fit`) or, the default below
`SMALL_LABEL_SET` labelled images, starts from a shipped model (`core.train.fewlabel.transfer`):
a linear probe on its features, or a fine-tune of it. Either way the finished job holds the
checkpoint's metrics, and `chance_warning` says in one sentence when its validation accuracy is
no better than always answering the commonest class.
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
from core.train.fewlabel import SMALL_LABEL_SET  # the few-label default threshold

DATA_DIR = paths.DATA_DIR  # where the page's small simulated sets are written
DATA_DIRS = (paths.DATA_DIR, paths.CACHE_DIR / "reference")  # where simulated sets are listed from
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
METHODS = {  # what a classifier starts from
    "probe": "Linear probe on a shipped model", "finetune": "Fine-tune a shipped model",
    "scratch": "Train from scratch"}

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
    data: str = ""  # what it trains on, for a caption ("the 60 labelled list images (no_sub 20, ...)")
    checkpoint: str | None = None  # path of the written checkpoint
    metrics: dict = field(default_factory=dict)  # the checkpoint's held-out metrics, once written
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.finished is None

    def fraction(self) -> float:
        return min(max(self.done / max(self.total, 1), 0.0), 1.0)

    def progress(self, done: int, total: int, message: str) -> None:
        """The training thread's progress callback (core.progress.Progress)."""
        self.done, self.total, self.message = done, total, message


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


def shipped_backbones(equivariant: bool) -> list[str]:
    """Names of the shipped models a classifier can start from (pretrained encoders and classifiers, single
    models, equivariant or not as asked), in the index's order."""
    import core.checkpoints as ck
    from core.models.registry import is_equivariant

    return [e["name"] for e in ck.list_checkpoints([ck.CHECKPOINTS_DIR])
            if e.get("kind") in ("encoder", "classifier") and (e.get("members") or 1) == 1
            and is_equivariant(e.get("model", "")) == equivariant]


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
          epochs: int, batch_size: int = 16, max_minutes: float | None = None, replace: bool = False,
          method: str = "scratch", backbones: list[str] | None = None, description: str | None = None) -> TrainJob:
    """Start a run in a background thread; InputError if one is already running or the input is bad.

    Either `data` (a folder listed by `datasets()`) or `simulate` ({"kind", "n", "size", "seed"}:
    a small set simulated into `data/app-<kind>-v<simulator version>-n<n>-seed<seed>/` first) gives the images.
    A name that `runs/` already holds is refused unless `replace` (the user asked to overwrite it).
    `method` "scratch" trains `model` with `core.train.fit`; "probe" or "finetune" makes a classifier from the
    best of the shipped models `backbones` (`core.train.fewlabel.transfer`; `model` and `group` are then theirs).
    `description` says what the images are, for captions ("the 60 labelled list images (no_sub 20, ...)").
    """
    global _JOB
    _check_name(name, replace)
    if data is None and simulate is None:
        raise InputError("Choose a data set or ask for a small simulated one.")
    if simulate is not None:
        from core.data.simulator_versions import version_of

        data = str(DATA_DIR / f"app-{simulate['kind']}-v{version_of(simulate['kind'])}-n{simulate['n']}-seed{simulate['seed']}")
    description = description or Path(data).name
    if method == "scratch":
        task, summary = _fit_task(name, model, group, data, epochs, batch_size, max_minutes)
    else:
        task, summary = _transfer_task(name, model, data, method, backbones, epochs, batch_size, max_minutes, description)
    if not _LOCK.acquire(blocking=False):
        raise InputError("A training run is already in progress on this server; wait for it to finish or stop it.")
    job = TrainJob(name=name, summary=f"{summary}; trained on {description}", data=description)
    _JOB = job
    thread = threading.Thread(target=_run, args=(job, task, simulate, data), name=f"train-{name}", daemon=True)
    try:
        thread.start()
    except BaseException:
        _LOCK.release()
        raise
    return job


def _check_name(name: str, replace: bool) -> None:
    from core.checkpoints import SHIPPED

    if not NAME_RE.match(name):
        raise InputError("The run name may use letters, digits, '-', '_' and '.', up to 64 characters; "
                         "for example 'my-d4-ae'.")
    if name in SHIPPED:
        raise InputError(f"'{name}' is a shipped checkpoint's name; choose another name for your run.")
    if not replace and name in run_names():
        raise InputError(f"A run named '{name}' already exists in runs/; choose another name, or tick "
                         "'Replace the run of that name' to overwrite it.")


def _fit_task(name, model, group, data, epochs, batch_size, max_minutes):
    """(task(job) -> checkpoint path, summary) of a run trained from scratch by `core.train.fit`."""
    from core.checkpoints import RUNS_DIR
    from core.models.registry import is_equivariant
    from core.train.config import from_dict

    model_config = {"group": group} if group and is_equivariant(model) else {}
    config = from_dict({"data": data, "model": model, "model_config": model_config, "epochs": int(epochs),
                        "batch_size": int(batch_size), "name": name, "out": str(RUNS_DIR), "work_dir": str(RUNS_DIR / name),
                        "threads": 1, "max_minutes": max_minutes, "resume": False})

    def task(job: TrainJob):
        from core.train.fit import fit

        def on_epoch(history: dict) -> None:
            job.history = history

        return fit(config, progress=job.progress, should_stop=job.stop_event.is_set, on_epoch=on_epoch)

    group_txt = f" {group}" if model_config else ""
    return task, f"{model}{group_txt} from scratch, {epochs} epochs"


def _transfer_task(name, model, data, method, backbones, epochs, batch_size, max_minutes, description):
    """(task(job) -> checkpoint path, summary) of a classifier made from a shipped model (few-label route)."""
    from core.checkpoints import RUNS_DIR
    from core.models.registry import model_kind

    if method not in METHODS or method == "scratch":
        raise InputError(f"Unknown training method '{method}'; use one of {', '.join(METHODS)}.")
    if model_kind(model) != "classifier":
        raise InputError("Only a classifier can start from a shipped model; train an autoencoder from scratch.")
    if not backbones:
        raise InputError("No shipped model to start from is on this server; train from scratch instead.")

    def task(job: TrainJob):
        import torch

        from core.train.fewlabel import transfer

        torch.set_num_threads(1)  # as fit does for a run of the page: the cores are shared
        limit = time.monotonic() + max_minutes * 60 if max_minutes else None

        def should_stop() -> bool:
            return job.stop_event.is_set() or (limit is not None and time.monotonic() > limit)

        return transfer(data, list(backbones), name=name, out=RUNS_DIR, method=method, epochs=int(epochs),
                        batch_size=int(batch_size), description=description, progress=job.progress,
                        should_stop=should_stop)

    where = backbones[0] if len(backbones) == 1 else f"the best of {len(backbones)} shipped models (cross-validated)"
    what = {"probe": f"linear probe on {where}", "finetune": f"fine-tune of {where}, {epochs} epochs"}[method]
    return task, what


def _run(job: TrainJob, task, simulate: dict | None, data: str) -> None:
    from core.checkpoints import read_checkpoint

    try:
        if simulate is not None and not (Path(data) / "manifest.json").is_file():
            from core.data.dataset_writer import simulate_dataset

            job.status = "simulating"
            simulate_dataset(simulate["kind"], int(simulate["n"]), int(simulate["size"]), int(simulate["seed"]),
                             data, workers=1, progress=job.progress)
        job.status, job.done, job.total = "training", 0, 1
        path = task(job)
        job.checkpoint = str(path) if path else None
        job.metrics = dict(read_checkpoint(path).get("metrics") or {}) if path else {}
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


def chance_warning(metrics: dict) -> str | None:
    """One sentence when a classifier's validation accuracy is no better than always answering the commonest
    validation class (`core.train.fewlabel.chance`), with the number and what to try; else None."""
    from core.train.fewlabel import chance

    c = chance(metrics or {})
    if c is None or not c["at_chance"]:
        return None
    level = "at chance" if c["accuracy"] <= c["baseline"] else f"not above chance (p = {c['p_value']:.2f})"
    advice = ("the shipped models' features do not tell these classes apart: label more images, or check the labels"
              if metrics.get("method") in ("probe", "finetune") else
              f"start from a shipped model instead (the linear probe, the default below {SMALL_LABEL_SET} labelled images), "
              "or give it more labelled images and epochs")
    return (f"Validation accuracy {c['accuracy']:.2f} on {c['n']} held-out images is {level}: always answering the "
            f"commonest class scores {c['baseline']:.2f}, so this model has learned nothing usable; {advice}.")
