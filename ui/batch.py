"""Batch evaluation in the browser: a labelled zip, or the labelled images of the session's list ->
core.analysis.evaluate.evaluate_dataset (the CLI's code path).

`evaluate_dataset` reads a folder, so each evaluation writes its data set into a temporary folder
of its own (`scratch`, under TEMP_DIR) and removes it when the evaluation ends, whether it
succeeds, fails or is stopped: nothing stays on disk. The data set's unpacked size is capped
(`max_bytes`: 256 MB on a hosted demo), and on a hosted demo the evaluation is one heavy job
(`ui.jobs.heavy_job`), so a server holds at most `ui.jobs.SLOTS` such folders at once. Picking the
default model needs only the zip's classes: they come from its file names alone (`zip_classes`,
no image decompressed). Results are kept in the session per (source, checkpoint), so switching
models back and forth or opening the page again costs nothing.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from ui.errors import call
from ui.jobs import heavy_job
from ui.resources import loaded_model

RESULTS_KEY = "batch_results"
CLASSES_KEY = "batch_zip_classes"  # session_state: (sha256 of the last zip, its classes)
MAX_KEPT = 4  # results kept per session
TEMP_DIR: Path | None = None  # parent of the evaluations' temporary folders (None: the system's; tests point it elsewhere)
HOSTED_MAX_BYTES = 256 * 2**20  # a data set's unpacked size on a hosted demo (uploads are at most 50 MB)


def max_bytes() -> int:
    """The largest unpacked data set one evaluation writes: 2 GiB on a laptop, HOSTED_MAX_BYTES hosted."""
    from core.data.dataset_zip import MAX_UNPACKED_BYTES
    from core.settings import settings

    return HOSTED_MAX_BYTES if settings().hosted else MAX_UNPACKED_BYTES


def scratch() -> tempfile.TemporaryDirectory:
    """A temporary folder for one evaluation's data set, removed when its `with` block ends."""
    return tempfile.TemporaryDirectory(prefix="equiscope-batch-", dir=TEMP_DIR)


@dataclass
class BatchSource:
    """What the page evaluates: a labelled zip or the labelled images of the session's list."""

    key: str  # stable id of the content (results are kept per source and checkpoint)
    name: str  # for messages and the CSV's file name
    write: Callable[[Path], Path]  # writes the data set into an empty folder; returns its root
    classes: list[str]  # class labels, for the default model
    shown: Callable[[str], str] = lambda file: file  # name shown for a file relative to the root


def unpack(raw: bytes, name: str, folder: Path) -> Path:
    """The data-set root of an uploaded zip unpacked into `folder` (at most `max_bytes()` unpacked)."""
    from core.data.dataset_zip import unpack_dataset_zip

    return unpack_dataset_zip(raw, folder, name, max_bytes=max_bytes())


def zip_classes(raw: bytes, name: str) -> list[str]:
    """The class labels of a data-set zip, read from its layout: the images' paths (written as empty
    files), labels.csv and manifest.json; no image is decompressed. InputError for an unusable zip."""
    from core.data.dataset_zip import KEEP_NAMES
    from core.data.datasets import scan_dataset
    from core.io.zip_images import zip_images

    archive = zip_images(raw, name, max_bytes=max_bytes(), keep=KEEP_NAMES)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as skeleton:
        for member in archive.members:
            skeleton.writestr(member.path, archive.read(member) if member.name in KEEP_NAMES else b"")
    with scratch() as folder:
        return list(scan_dataset(unpack(buf.getvalue(), name, Path(folder))).classes)


def zip_source(raw: bytes, name: str) -> BatchSource:
    digest = hashlib.sha256(raw).hexdigest()
    known = st.session_state.get(CLASSES_KEY)
    if known is None or known[0] != digest:
        try:
            classes = zip_classes(raw, name)
        except ValueError:
            classes = []  # evaluate() shows the error
        st.session_state[CLASSES_KEY] = known = (digest, classes)
    return BatchSource(digest, name.rsplit(".", 1)[0], lambda folder: unpack(raw, name, folder), list(known[1]))


def list_source(entries) -> BatchSource:
    """The labelled entries of the image list, written as a class-folder data set when evaluated
    (`ui.training.save_images_dataset`: the k-th image as `<class>/<k:06d>.npy`); the table shows each
    image by its name in the list (`lenses.zip/cdm/000.npy`)."""
    images = [(np.ascontiguousarray(e.loaded.data, dtype=np.float32), e.label) for e in entries]
    names = [e.name for e in entries]
    digest = hashlib.sha256()
    for data, label in images:
        digest.update(f"{data.shape}{label}".encode())
        digest.update(data.tobytes())

    def write(folder: Path) -> Path:
        from ui import training

        size, limit = sum(data.nbytes for data, _ in images), max_bytes()
        if size > limit:
            raise InputError(f"The labelled images of the list take {size / 2**20:,.0f} MB, more than the limit of "
                             f"{limit / 2**20:,.0f} MB for one evaluation; remove some images from the list.")
        return training.save_images_dataset(images, parent=folder)

    return BatchSource(f"list-{digest.hexdigest()}", "image-list", write, sorted({e.label for e in entries}),
                       lambda file: names[int(PurePosixPath(file).stem)])


def source_picker() -> BatchSource | None:
    """The data to evaluate: an uploaded zip, or the labelled images already in the session's list."""
    from ui import image_list

    labelled = image_list.labelled_entries()
    options = ["list", "zip"] if labelled else ["zip"]
    labels = {"zip": "A labelled zip", "list": f"The labelled images of the list ({len(labelled)})"}
    choice = st.radio("Data", options, format_func=labels.get, horizontal=True, key="batch_source",
                      help="Images of the list carry a label when they came from a zip's or folder's class folders.")
    if choice == "list":
        return list_source(labelled)
    upload = st.file_uploader("Labelled data set (.zip)", type=["zip"], key="batch_zip")
    return zip_source(upload.getvalue(), upload.name) if upload is not None else None


def data_kind(classes) -> str | None:
    """"lens" or "disk" when the classes are lens or disk classes, else None."""
    from core.analysis.familiarity import KIND_OF_DATA
    from core.data.datasets import DISK_CLASSES, LENS_CLASSES, canonical_class

    classes = {canonical_class(c) for c in classes}
    for data, known in (("lenses", LENS_CLASSES), ("disks", DISK_CLASSES)):
        if classes and classes <= set(known):
            return KIND_OF_DATA[data]
    return None


def evaluate(source: BatchSource, entry: dict, slot):
    """The `BatchEvaluation` of checkpoint `entry` on the source, with a progress bar in `slot` while it runs.

    One heavy job (queued on a hosted demo); the data set lives in a temporary folder for the
    evaluation only."""
    key = (source.key, entry["name"], entry.get("sha256"))
    results = st.session_state.setdefault(RESULTS_KEY, {})
    if key in results:
        return results[key]
    with heavy_job("batch evaluation"):
        result = _run(source, entry, slot)
    result.files = [source.shown(f) for f in result.files]
    for row, shown in zip(result.rows, result.files, strict=True):
        row["file"] = shown
    slot.empty()
    while len(results) >= MAX_KEPT:
        results.pop(next(iter(results)))
    results[key] = result
    return result


def _run(source: BatchSource, entry: dict, slot):
    from core.analysis.evaluate import evaluate_dataset
    from core.analysis.model_choice import data_of
    from ui.reference import familiarity_reference

    bar = slot.progress(0.0, text="Unpacking the archive…")

    def stage(start: float, span: float):
        def progress(done: int, total: int, message: str) -> None:
            bar.progress(min(start + span * done / max(total, 1), 1.0), text=message)
        return progress

    with scratch() as folder:  # removed here, also when a call below stops the page
        root = call(source.write, Path(folder))
        loaded = loaded_model(entry["name"], entry.get("sha256"))
        reference = call(familiarity_reference, entry["name"], entry.get("sha256"), data_of(entry), stage(0.0, 0.3),
                         stop=False)
        return call(evaluate_dataset, loaded, root, progress=stage(0.3, 0.7), reference=reference)


def roc_curves(result) -> dict:
    """{class: (fpr, tpr, auc)} one-vs-rest for a labelled classifier evaluation."""
    from core.analysis.metrics import roc_report

    labelled = result.y >= 0
    report = roc_report(result.y[labelled], result.probs[labelled], result.classes)
    return {c.class_name: (c.fpr, c.tpr, c.auc) for c in report.curves}


def table(result) -> pd.DataFrame:
    return pd.DataFrame(result.rows)


def gallery(result, indices, caption, n_cols: int = 6, limit: int = 24, outputs: bool = False) -> None:
    """Thumbnails (model grid) of files `indices`, captions from `caption(i)`; reconstructions beside when `outputs`."""
    indices = list(indices)[:limit]
    cols = st.columns(n_cols)
    for n, i in enumerate(indices):
        col = cols[n % n_cols]
        image = result.inputs[i]
        if outputs:
            image = np.concatenate([image, np.ones((image.shape[0], 2), np.float32), result.outputs[i]], axis=1)
        col.image(np.flipud(image), caption=caption(i), clamp=True, width="stretch")
