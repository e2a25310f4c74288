"""Batch evaluation's data: a labelled zip, or the labelled images of the session's list, as a `BatchSource`
that `ui.batch_results.evaluate` hands to core.analysis.evaluate.evaluate_dataset (the CLI's code path).

`evaluate_dataset` reads a folder, so each evaluation writes its data set into a temporary folder
of its own (`scratch`, under TEMP_DIR) and removes it when the evaluation ends, whether it
succeeds, fails or is stopped: nothing stays on disk. The data set's unpacked size is capped
(`max_bytes`: 256 MB on a hosted demo), and on a hosted demo the evaluation is one heavy job
(`ui.jobs.heavy_job`), so a server holds at most `ui.jobs.SLOTS` such folders at once.

A source also carries what the default model needs (`ui.batch_model`): its classes, image size and the
simulator preset its manifest.json names (`zip_facts`: file names, manifest and one image's header;
nothing else decompressed), and how to make one of its images the current image (`BatchSource.open`).
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
import streamlit as st

from core.errors import InputError

FACTS_KEY = "batch_zip_facts"  # session_state: (sha256 of the last zip, its ZipFacts)
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
