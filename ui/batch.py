"""Batch evaluation in the browser: a labelled zip, or the labelled images of the session's list ->
core.analysis.evaluate.evaluate_dataset (the CLI's code path).

`evaluate_dataset` reads a folder, so each evaluation writes its data set into a temporary folder
of its own (`scratch`, under TEMP_DIR) and removes it when the evaluation ends, whether it
succeeds, fails or is stopped: nothing stays on disk. The data set's unpacked size is capped
(`max_bytes`: 256 MB on a hosted demo), and on a hosted demo the evaluation is one heavy job
(`ui.jobs.heavy_job`), so a server holds at most `ui.jobs.SLOTS` such folders at once.

The model picker (`pick_model`) follows `core.analysis.model_choice` as the Lenses page does, with
the data set's facts in place of the current image's: the kind of its classes, its image size and
the simulator preset its manifest.json names (`zip_facts`: file names, manifest and one image's
header; nothing else decompressed), so 64-px DeepLense data get Model II and 150-px Model I. A model
the visitor picked stays when the data change, as long as it was trained on their kind of images.
Results are kept in the session per (source, checkpoint), so switching models back and forth or
opening the page again costs nothing. `inspect` shows one gallery image large, with its answer,
and makes it the current image of the session's list.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from ui.errors import call
from ui.jobs import heavy_job
from ui.markdown import md_escape
from ui.resources import loaded_model

RESULTS_KEY = "batch_results"
FACTS_KEY = "batch_zip_facts"  # session_state: (sha256 of the last zip, its ZipFacts)
MODEL_KEY = "batch_model"  # the picker (ui.state.PAGE_SETTINGS keeps it across pages and links)
AUTO_KEY = "batch_model__auto"  # (data signature, name) the picker last preselected
PICKED_KEY = "batch_model__picked"  # (name, source key) of the visitor's own pick, where it was made
OPEN_KEY = "batch_open"  # the gallery image shown large
NOTE_KEY = "batch_open__note"  # what the last "make it the current image" did
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
    shape: tuple | None = None  # the images' shape, for the default model (None: unknown)
    preset: str | None = None  # the simulator preset its manifest.json names, else None
    origin: str = "upload"  # where the images came from (image_list.SOURCES), for the default model
    open: Callable[[str, str | None], str] | None = None  # open(shown name, label): make it the current image


@dataclass
class ZipFacts:
    """What the default model needs to know about a data-set zip."""

    classes: list[str]
    shape: tuple | None = None
    preset: str | None = None
    n_unsafe: int = 0  # files skipped because their paths leave the archive ("../")


def unpack(raw: bytes, name: str, folder: Path) -> Path:
    """The data-set root of an uploaded zip unpacked into `folder` (at most `max_bytes()` unpacked)."""
    from core.data.dataset_zip import unpack_dataset_zip

    return unpack_dataset_zip(raw, folder, name, max_bytes=max_bytes())


def zip_facts(raw: bytes, name: str) -> ZipFacts:
    """The classes, image shape and preset of a data-set zip, read from its layout: the images' paths
    (written as empty files), labels.csv and manifest.json (its "size" and "preset"), else the first
    image's shape (that one image is read, with the archive's size checks). InputError for an unusable zip."""
    from core.data.dataset_zip import KEEP_NAMES
    from core.data.datasets import scan_dataset
    from core.io.zip_images import zip_images

    archive = zip_images(raw, name, max_bytes=max_bytes(), keep=KEEP_NAMES)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as skeleton:
        for member in archive.members:
            skeleton.writestr(member.path, archive.read(member) if member.name in KEEP_NAMES else b"")
    with scratch() as folder:
        index = scan_dataset(unpack(buf.getvalue(), name, Path(folder)))
    manifest = index.manifest or {}
    size = manifest.get("size")
    shape = (int(size), int(size)) if isinstance(size, int | float) and size > 0 else _first_shape(archive)
    preset = manifest.get("preset") if isinstance(manifest.get("preset"), str) else None
    return ZipFacts(list(index.classes), shape, preset, archive.n_unsafe)


def _first_shape(archive) -> tuple | None:
    """The shape of the first image of a `ZipImages` that reads (of its first three), or None."""
    from core.data.dataset_zip import KEEP_NAMES
    from core.io import read_image
    from core.settings import settings

    for member in [m for m in archive.members if m.name not in KEEP_NAMES][:3]:
        try:
            return tuple(read_image(archive.read(member), member.name, max_pixels=settings().max_pixels).data.shape)
        except (InputError, ValueError):
            continue  # not an image after all: the next one
    return None


def zip_source(raw: bytes, name: str) -> BatchSource:
    digest = hashlib.sha256(raw).hexdigest()
    known = st.session_state.get(FACTS_KEY)
    if known is None or known[0] != digest:
        try:
            facts = zip_facts(raw, name)
        except ValueError:
            facts = ZipFacts([])  # evaluate() shows the error
        st.session_state[FACTS_KEY] = known = (digest, facts)
    facts = known[1]
    if facts.n_unsafe:
        from ui.upload_tab import unsafe_sentence

        st.warning(unsafe_sentence(facts.n_unsafe, name))

    def open_file(shown: str, label: str | None) -> str:
        return _open_zip_member(raw, name, shown, label, data_kind(facts.classes))

    return BatchSource(digest, name.rsplit(".", 1)[0], lambda folder: unpack(raw, name, folder), list(facts.classes),
                       shape=facts.shape, preset=facts.preset, open=open_file)


def _open_zip_member(raw: bytes, name: str, shown: str, label: str | None, kind: str | None) -> str:
    """Add file `shown` (relative to the data set's root) of the zip to the image list as the current image;
    returns its name in the list. InputError when it cannot be read or the list is full."""
    from core.io import read_image
    from core.io.zip_images import zip_images
    from core.settings import settings
    from ui import image_list

    archive = zip_images(raw, name, max_bytes=max_bytes())
    member = next((m for m in archive.members if m.path == shown or m.path.endswith(f"/{shown}")), None)
    if member is None:
        raise InputError(f"{shown} is no longer in {name}; upload the zip again.")
    loaded = read_image(archive.read(member), member.name, max_pixels=settings().max_pixels)
    entry = image_list.add_image(loaded, f"{name}/{member.path}", kind=kind, source="upload", label=label)
    return entry.name


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

    def open_entry(shown: str, label: str | None) -> str:
        from ui import image_list

        entry = next((e for e in image_list.image_list() if e.name == shown), None)
        if entry is None:
            raise InputError(f"{shown} is no longer in the image list.")
        image_list.select(entry.id)
        return entry.name

    shapes = Counter(data.shape for data, _ in images)
    origins = {e.source for e in entries}
    return BatchSource(f"list-{digest.hexdigest()}", "image-list", write, sorted({e.label for e in entries}),
                       lambda file: names[int(PurePosixPath(file).stem)],
                       shape=shapes.most_common(1)[0][0] if shapes else None,
                       origin=origins.pop() if len(origins) == 1 else "upload", open=open_entry)


def source_picker() -> BatchSource | None:
    """The data to evaluate: an uploaded zip, or the labelled images already in the session's list."""
    from ui import image_list, state

    labelled = image_list.labelled_entries()
    spec = state.SETTINGS["batch_source"]  # its label and choices, which a link's value is checked against
    options = [o for o in spec.choices() if labelled or o != "list"]
    labels = {"zip": "A labelled zip", "list": f"The labelled images of the list ({len(labelled)})"}
    choice = st.radio(spec.label, options, format_func=labels.get, horizontal=True, key="batch_source",
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


def pick_model(source: BatchSource | None) -> dict:
    """The model picker: its default follows the data (`core.analysis.model_choice.default_order` with
    the data set's kind, image size, origin and preset; the first that loads on this server), and a
    model the visitor (or a link) picked stays when the data change if it suits their kind of images."""
    from core.analysis.model_choice import default_order, suits
    from ui import models, resources
    from ui.share import stop_page

    entries = resources.checkpoints()
    if not entries:
        st.info("No checkpoint exists yet: the shipped ones are not in `checkpoints/` and none has been trained "
                "on the Train page.")
        stop_page()
    names = [e["name"] for e in entries]
    kind = data_kind(source.classes) if source is not None else None
    facts = (source.shape, source.origin, source.preset) if source is not None else (None, None, None)
    order = default_order(entries, None, None, kind, *facts)
    signature = repr((kind, *facts))
    auto = st.session_state.get(AUTO_KEY) or ("", None)
    current, where = st.session_state.get(MODEL_KEY), source.key if source is not None else None
    note = None
    if current in names and current != auto[1]:  # the visitor's own pick (or a link's)
        picked = st.session_state.get(PICKED_KEY)
        if not picked or picked[0] != current:
            st.session_state[PICKED_KEY] = picked = (current, where)
        if picked[1] == where or suits(entries[names.index(current)], kind):
            st.session_state[PICKED_KEY] = (current, where)
            st.session_state[AUTO_KEY] = (signature, None)  # the visitor is in charge: any value is their pick
            return _model_box(entries, names, entries[order[0]], None)
        note = f"{current} was trained on {_data_words(entries[names.index(current)])}, not on these images"
        st.session_state.pop(PICKED_KEY, None)
    if note or auto[0] != signature or auto[1] not in names or current not in names:
        index = models.first_that_loads(entries, order)
        auto = (signature, names[order[0] if index is None else index])
        st.session_state[AUTO_KEY] = auto
    st.session_state[MODEL_KEY] = auto[1]
    return _model_box(entries, names, entries[order[0]], note and f"{note}: {auto[1]} fits them.")


def _data_words(entry: dict) -> str:
    from core.analysis.model_choice import data_of

    return {"disks": "disk images", "lenses": "lens images", "lensfinding": "lens-finding images"}.get(data_of(entry), "other images")


def _model_box(entries: list[dict], names: list[str], first: dict, note: str | None) -> dict:
    """The selectbox (its value already in session_state) and the sentence on a model that does not load."""
    from ui import widgets

    name = st.selectbox("Model", names, key=MODEL_KEY,
                        help="The first offered fits the data: their kind (lens or disk classes) and, for lenses, "
                             "their size and simulator (64 px DeepLense Model II, 150 px Model I, or this project's "
                             "lenses when the zip's manifest.json says so). Your own pick stays when you change the "
                             "data, if it was trained on their kind of images.")
    if note:
        st.caption(note)
    return widgets.say_if_broken(entries[names.index(name)], first)


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
