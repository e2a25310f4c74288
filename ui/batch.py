"""Batch evaluation in the browser: a labelled zip, or the labelled images of the session's list ->
core.analysis.evaluate.evaluate_dataset (the CLI's code path).

The archive is unpacked once per content (sha256) under the cache folder, the list's images written
there once per content; results are kept in the session per (source, checkpoint), so switching
models back and forth or opening the page again costs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.atomic import atomic_write_bytes
from ui.errors import call
from ui.resources import loaded_model

RESULTS_KEY = "batch_results"
MAX_KEPT = 4  # results kept per session


def unpacked(raw: bytes, name: str):
    """The data-set root of an uploaded zip, unpacked under cache/batch/<sha256>/ (once per content)."""
    from core.analysis.archive import unpack_dataset_zip
    from ui import reference

    digest = hashlib.sha256(raw).hexdigest()[:20]
    folder = reference.CACHE / "batch" / digest  # the app's cache folder (tests point it elsewhere)
    done = folder / ".unpacked"  # holds the data-set root relative to the folder
    if done.is_file():
        return folder / done.read_text()
    root = unpack_dataset_zip(raw, folder, name)
    atomic_write_bytes(done, root.relative_to(folder).as_posix().encode())
    return root


@dataclass
class BatchSource:
    """What the page evaluates: a labelled zip or the labelled images of the session's list."""

    key: str  # stable id of the content (results are kept per source and checkpoint)
    name: str  # for messages and the CSV's file name
    root: Callable[[], Path]  # the data set's folder (written on first use)
    classes: list[str]  # class labels, for the default model
    names: dict[str, str] = field(default_factory=dict)  # file relative to the root -> name shown (list entries)


def zip_source(raw: bytes, name: str) -> BatchSource:
    from core.data.datasets import scan_dataset

    try:
        classes = list(scan_dataset(unpacked(raw, name)).classes)
    except ValueError:
        classes = []  # evaluate() shows the error
    return BatchSource(hashlib.sha256(raw).hexdigest(), name.rsplit(".", 1)[0], lambda: unpacked(raw, name), classes)


def list_source(entries) -> BatchSource:
    """The labelled entries of the image list as a class-folder data set under cache/batch/list-<sha>/;
    the table shows each image by its name in the list (`lenses.zip/cdm/000.npy`)."""
    from ui import reference, training

    root = training.save_images_dataset([(e.loaded.data, e.label) for e in entries], parent=reference.CACHE / "batch")
    names = {}
    for path in sorted(root.rglob("*.npy")):
        names[path.relative_to(root).as_posix()] = entries[int(path.stem)].name
    return BatchSource(root.name, "image-list", lambda: root, sorted({e.label for e in entries}), names)


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
    """The `BatchEvaluation` of checkpoint `entry` on the source, with a progress bar in `slot` while it runs."""
    from core.analysis.evaluate import evaluate_dataset
    from ui.choice import data_of
    from ui.reference import familiarity_reference

    key = (source.key, entry["name"], entry.get("sha256"))
    results = st.session_state.setdefault(RESULTS_KEY, {})
    if key in results:
        return results[key]
    bar = slot.progress(0.0, text="Unpacking the archive…")

    def stage(start: float, span: float):
        def progress(done: int, total: int, message: str) -> None:
            bar.progress(min(start + span * done / max(total, 1), 1.0), text=message)
        return progress

    root = call(source.root)
    loaded = loaded_model(entry["name"], entry.get("sha256"))
    reference = call(familiarity_reference, entry["name"], entry.get("sha256"), data_of(entry), stage(0.0, 0.3),
                     stop=False)
    result = call(evaluate_dataset, loaded, root, progress=stage(0.3, 0.7), reference=reference)
    if source.names:
        result.files = [source.names.get(f, f) for f in result.files]
        for row, shown in zip(result.rows, result.files, strict=True):
            row["file"] = shown
    slot.empty()
    while len(results) >= MAX_KEPT:
        results.pop(next(iter(results)))
    results[key] = result
    return result


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
