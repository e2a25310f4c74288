"""Batch evaluation in the browser: a labelled zip -> core.analysis.evaluate.evaluate_dataset (the CLI's code path).

The archive is unpacked once per content (sha256) under the cache folder; results are kept
in the session per (archive, checkpoint), so switching models back and forth or opening the
page again costs nothing.
"""

from __future__ import annotations

import hashlib

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


def data_kind(raw: bytes, name: str) -> str | None:
    """"lens" or "disk" when the zip's class folders are lens or disk classes, else None (no error shown)."""
    from core.analysis.familiarity import KIND_OF_DATA
    from core.data.datasets import DISK_CLASSES, LENS_CLASSES, scan_dataset

    try:
        classes = set(scan_dataset(unpacked(raw, name)).classes)
    except ValueError:
        return None  # evaluate() shows the error
    for data, known in (("lenses", LENS_CLASSES), ("disks", DISK_CLASSES)):
        if classes and classes <= set(known):
            return KIND_OF_DATA[data]
    return None


def evaluate(raw: bytes, name: str, entry: dict, slot):
    """The `BatchEvaluation` of checkpoint `entry` on the zip, with a progress bar in `slot` while it runs."""
    from core.analysis.evaluate import evaluate_dataset
    from ui.choice import data_of
    from ui.reference import familiarity_reference

    key = (hashlib.sha256(raw).hexdigest(), entry["name"], entry.get("sha256"))
    results = st.session_state.setdefault(RESULTS_KEY, {})
    if key in results:
        return results[key]
    bar = slot.progress(0.0, text="Unpacking the archive…")

    def stage(start: float, span: float):
        def progress(done: int, total: int, message: str) -> None:
            bar.progress(min(start + span * done / max(total, 1), 1.0), text=message)
        return progress

    root = call(unpacked, raw, name)
    loaded = loaded_model(entry["name"], entry.get("sha256"))
    reference = call(familiarity_reference, entry["name"], entry.get("sha256"), data_of(entry), stage(0.0, 0.3),
                     stop=False)
    result = call(evaluate_dataset, loaded, root, progress=stage(0.3, 0.7), reference=reference)
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
