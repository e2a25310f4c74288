"""Batch evaluation's results: `evaluate` runs core.analysis.evaluate.evaluate_dataset on a source
(`ui.batch_data`) as one heavy job and keeps the result in the session per (source, checkpoint), so switching
models back and forth or opening the page again costs nothing; the ROC curves, the per-file table, the
gallery, and `inspect`, which shows one gallery image large with its answer and makes it the current image
of the session's list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from ui.batch_data import BatchSource, scratch
from ui.errors import call
from ui.jobs import heavy_job
from ui.markdown import md_escape
from ui.resources import loaded_model

RESULTS_KEY = "batch_results"
OPEN_KEY = "batch_open"  # the gallery image shown large
NOTE_KEY = "batch_open__note"  # what the last "make it the current image" did
MAX_KEPT = 4  # results kept per session


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
        return call(evaluate_dataset, loaded, root, progress=stage(0.3, 0.7), reference=reference, kind_source=root)


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
        col.image(np.flipud(image), caption=md_escape(caption(i)), clamp=True, width="stretch")  # file names: literal


def inspect(result, indices, source: BatchSource) -> None:
    """One image of the gallery `indices`, large (model grid), with its answer: true and predicted class and
    every class's probability (classifiers), or its reconstruction and scores (autoencoders); a button
    makes it the current image of the session's list (every page then works on it)."""
    indices = [int(i) for i in indices]
    if not indices:
        return
    if st.session_state.get(OPEN_KEY) not in indices:
        st.session_state[OPEN_KEY] = indices[0]
    i = st.selectbox("Open an image of the gallery", indices, key=OPEN_KEY, format_func=lambda k: result.files[k])
    row, file = result.rows[i], result.files[i]
    left, right = st.columns(2)
    image = result.inputs[i]
    if result.outputs is not None and result.kind == "autoencoder":
        image = np.concatenate([image, np.ones((image.shape[0], 2), np.float32), result.outputs[i]], axis=1)
    left.image(np.flipud(image), caption=f"{md_escape(file)} on the model grid", clamp=True, width="stretch")
    if result.kind == "classifier":
        right.markdown(f"True class **{md_escape(row['true'])}**, predicted **{md_escape(row['predicted'])}** "
                       f"(probability {row['probability']:.2f})")
        right.dataframe(pd.DataFrame({"class": result.classes, "probability": np.round(result.probs[i], 4)}),
                        hide_index=True, key="batch_open_probs")
    else:
        right.markdown(f"MSE {row['mse']:.2e}" + (f", SSIM {row['ssim']:.3f}" if "ssim" in row else ""))
    if source.open is not None:
        right.button("Make it the current image", key="batch_open_use", on_click=_open, args=(source, file, row.get("true")),
                     help="Adds it to the image list (sidebar) as the current image, with its label: the Lenses, "
                          "Reconstruct and other pages then work on it.")
    note = st.session_state.pop(NOTE_KEY, None)
    if note:
        (right.error if note[0] == "error" else right.success)(note[1])


def _open(source: BatchSource, file: str, label) -> None:
    """The button's callback: `source.open`, and one sentence on what it did."""
    from core.data.datasets import canonical_class

    label = canonical_class(str(label)) if isinstance(label, str) and label else None
    try:
        name = source.open(file, label)
    except (InputError, ValueError) as exc:
        st.session_state[NOTE_KEY] = ("error", md_escape(str(exc)))
        return
    st.session_state[NOTE_KEY] = ("success", f"{md_escape(name)} is the current image.")
