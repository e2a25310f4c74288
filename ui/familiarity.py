"""Honest answers on the page: familiarity of the input and the notes of core.analysis.familiarity.

`notes_for(entry, image)` computes (cached per checkpoint and image) how familiar the image
is to the checkpoint and returns the notes for its answer; `show(notes)` draws them: a
warning for each problem, a caption otherwise. Pages call `answer_notes(entry, image, ...)`,
which does both.

What an image is compared with: a shipped checkpoint's reference set of its kind of data
(ui/reference.py); a run trained on this server (runs/), the images it was trained on (its data
folder, `own_data`), so that an image of its own training set is familiar to it. An
autoencoder's familiarity note agrees with its reconstruction: when the reconstruction is poor
(the Reconstruct page's warning), the latent is not called familiar. A disk model's image is the disk cut
out of it, as the model sees it (ui.disk_input). The kind check (core.analysis.kind: galaxy, velocity
map, disk or lens, from the file's metadata and its pixels) goes with every answer: on an image of
another kind than the model's training data (a disk or velocity map on a lens finder, a galaxy on a lens-only
classifier), or a galaxy a lens-finding finder calls a lens, it is a warning and the answer is never called
familiar (`core.analysis.kind.kind_notes`). A sky-trained finder makes the lens-vs-galaxy call itself: the check's
lean is an information line, and familiarity is the finder's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core.analysis.familiarity import Familiarity, Note
from core.analysis.kind import KindCheck
from ui.resources import build_once, loaded_model

MAX_OWN = 1000  # training images encoded at most for a run's own reference (a seeded sample beyond)


@st.cache_data(max_entries=256, show_spinner=False)
def familiarity(name: str, sha256: str | None, generator: str, image: np.ndarray) -> Familiarity:
    """How familiar the raw 2-D `image` is to checkpoint `name` (against its reference set of `generator`)."""
    from core.analysis.encode import encode_images
    from ui.reference import familiarity_reference

    ref = familiarity_reference(name, sha256, generator)
    return ref.score(encode_images(loaded_model(name, sha256), [image]))[0]


def own_data(entry: dict) -> Path | None:
    """The folder a run of this server (runs/) was trained on, when it still holds images; None for a
    shipped checkpoint or when the folder is gone."""
    import core.checkpoints as ck
    from core.paths import REPO_ROOT

    path = entry.get("path")
    if not path or not Path(path).resolve().is_relative_to(Path(ck.RUNS_DIR).resolve()):
        return None
    folder = (entry.get("data") or {}).get("path")
    if not folder:
        return None
    folder = Path(folder) if Path(folder).is_absolute() else REPO_ROOT / folder
    return folder if folder.is_dir() else None


def own_reference(name: str, sha256: str | None, folder: str, progress=None):
    """core.analysis.familiarity.FamiliarityReference of the latents of the images in `folder` (a run's training
    data, at most MAX_OWN of them, seeded), under checkpoint `name`; once per server."""
    return build_once("own_familiarity_reference", (name, sha256, folder),
                      lambda: _own_reference(name, sha256, folder, progress))


def _own_reference(name: str, sha256: str | None, folder: str, progress=None):
    from core.analysis.encode import encode_images
    from core.analysis.familiarity import FamiliarityReference
    from core.data.datasets import scan_dataset
    from core.io import read_image

    files = scan_dataset(folder).files
    if len(files) > MAX_OWN:
        files = [files[i] for i in np.sort(np.random.default_rng(0).choice(len(files), MAX_OWN, replace=False))]
    loaded = loaded_model(name, sha256)
    z = []
    for start in range(0, len(files), 64):
        if progress is not None:
            progress(start, len(files), f"encoding the run's training images ({start}/{len(files)})")
        z.append(encode_images(loaded, [read_image(f).data for f in files[start:start + 64]]))
    return FamiliarityReference.fit(np.concatenate(z))


@st.cache_data(max_entries=256, show_spinner=False)
def own_familiarity(name: str, sha256: str | None, folder: str, image: np.ndarray) -> Familiarity:
    """How familiar the raw 2-D `image` is to run `name` against the images it was trained on (`folder`)."""
    from core.analysis.encode import encode_images

    return own_reference(name, sha256, folder).score(encode_images(loaded_model(name, sha256), [image]))[0]


def familiarity_of(entry: dict, image: dict) -> Familiarity | None:
    """Familiarity of the current image for a checkpoint entry, building the reference with a progress bar on
    first use; None (the error shown, the page going on) if it cannot be computed."""
    from core.analysis.model_choice import data_of
    from ui.errors import call
    from ui.reference import familiarity_reference

    slot = st.empty()

    def progress(done: int, total: int, message: str) -> None:
        slot.progress(min(max(done / max(total, 1), 0.0), 1.0), text=f"Familiarity reference: {message}")

    folder = own_data(entry)
    if folder is not None:
        ref = call(own_reference, entry["name"], entry.get("sha256"), str(folder), progress, stop=False)
        slot.empty()
        return None if ref is None else call(own_familiarity, entry["name"], entry.get("sha256"), str(folder),
                                             image["data"], stop=False)
    generator = data_of(entry)
    ref = call(familiarity_reference, entry["name"], entry.get("sha256"), generator, progress, stop=False)
    slot.empty()
    if ref is None:
        return None
    seen = _model_view(entry, image)
    return None if seen is None else call(familiarity, entry["name"], entry.get("sha256"), generator, seen, stop=False)


def _model_view(entry: dict, image: dict) -> np.ndarray | None:
    """The image as the model sees it: a disk model's cutout (ui.disk_input, as Reconstruct cuts it), else the
    image as the page passed it (a lens page passes its grid view); None (said) when the cutout fails."""
    from ui import disk_input
    from ui.errors import call

    if not disk_input.sees_cutout(entry) or image.get("meta") is None:
        return image["data"]
    seen = call(disk_input.model_image, entry, image, stop=False)
    return None if seen is None else seen.data


def _ordinal(x: float) -> str:
    n = int(round(x))
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _own_text(fam: Familiarity) -> str:
    return (f"latent distance {fam.distance:.3g} to the {fam.k} nearest of the {fam.n_reference} images this run was "
            f"trained on, {_ordinal(fam.percentile)} percentile of their own distances")


def own_note(fam: Familiarity | None) -> Note | None:
    """The familiarity note of a run judged against its own training images."""
    if fam is None:
        return None
    where = _own_text(fam)
    if not fam.familiar:
        return Note("warning", f"This image is unlike the images this run was trained on ({where}). "
                               "Treat the answer as an extrapolation.")
    return Note("info", f"Familiar input: it lies among the images this run was trained on ({where}).")


def _poor_fit(entry: dict, image: dict) -> float | None:
    """An autoencoder's MS-SSIM on the current image when it is below the Reconstruct page's POOR_FIT (its
    warning), else None; the reconstruction is the page's own cached call (same cutout box)."""
    from core.analysis.reconstruct import POOR_FIT
    from core.io.stretch import saw_figures
    from ui import inference
    from ui.disk_input import brightness_facts
    from ui.errors import USER_ERRORS
    from ui.widgets import shared_cutout_box

    if entry.get("kind") != "autoencoder" or image.get("meta") is None:
        return None
    meta = image["meta"]
    try:
        result = inference.reconstruct(entry["name"], entry.get("sha256"), image["data"], meta.pixel_scale_arcsec,
                                       meta.bunit, meta.fill_value, shared_cutout_box(), brightness_facts(image),
                                       saw_figures(entry))
    except USER_ERRORS:
        return None
    ms_ssim = float(result["metrics"]["ms_ssim"])
    return ms_ssim if ms_ssim < POOR_FIT else None


def familiarity_note(entry: dict, image: dict, fam: Familiarity | None) -> Note | None:
    """The one familiarity note: against the run's own training images or the reference set, and never "familiar"
    next to the Reconstruct page's poor-reconstruction warning (then a caption that agrees with it)."""
    from core.analysis import familiarity as core_familiarity

    own = own_data(entry) is not None
    note = own_note(fam) if own else core_familiarity.familiarity_note(fam)
    if note is None or note.level == "warning":
        return note
    ms_ssim = _poor_fit(entry, image)
    if ms_ssim is None:
        return note
    where = f"the images this run was trained on ({_own_text(fam)})" if own else f"its reference images ({fam.text()})"
    return Note("info", f"Its latent lies among {where}, yet the model reconstructs it poorly (MS-SSIM {ms_ssim:.2f}): "
                        "the latent alone does not vouch for this image.")


def kind_check_of(image: dict) -> KindCheck:
    """core.analysis.kind.KindCheck of the image a page answers on: known for the app's own simulations and
    examples, else from the file's metadata, its class label and the pixels of the file as loaded (the session's
    current image when the page passed a view of it; the metadata alone when the pixels cannot be read). A kind
    the image list holds ("disk" | "lens") that differs stands (the user chose it: an upload's own guess is this
    check's, ui.upload_tab), the check's answer then given as what the pixels look like."""
    from core.analysis.kind import LIST_KIND, app_kind, listed_kind
    from ui.state import get_current_image

    given = image.get("kind")
    if image.get("source") in ("simulation", "example") and given in ("disk", "lens"):
        return app_kind(given, image["source"])
    current = get_current_image()
    if current is not None and current.get("name") == image.get("name") and current.get("meta") is image.get("meta"):
        image = current  # the pages pass a model's view of the current image; the kind is the file's
    meta = image.get("meta")
    key = None if meta is None else (meta.filename, meta.source_format, meta.bunit, meta.beam, tuple(meta.header))
    check = _kind_check(image["data"], meta, key, image.get("label"))
    if given in ("disk", "lens") and LIST_KIND.get(check.kind) != given and check.source != "label":
        return listed_kind(given, check)  # the user set it (the upload's own guess is the check's)
    return check


@st.cache_data(max_entries=256, show_spinner=False)
def _kind_check(data: np.ndarray, _meta, meta_key, label: str | None):
    from core.analysis.kind import check_kind

    return check_kind(data, _meta, label)


def finder_answer(entry: dict, image: dict) -> str | None:
    """A lens finder's answer ("lens" | "nonlens") on the image as the page passed it (its cached call), else None."""
    from core.analysis.kind import FINDER_DATA
    from ui import inference
    from ui.errors import call

    if (entry.get("data") or {}).get("generator") not in FINDER_DATA:
        return None
    probs = call(inference.class_probabilities, entry["name"], entry.get("sha256"), image["data"], stop=False)
    classes = entry.get("classes") or ["lens", "nonlens"]
    return None if probs is None else classes[int(np.argmax(probs))]


def notes_for(entry: dict, image: dict, disagreement: Note | None = None) -> list[Note]:
    """Every note for checkpoint `entry`'s answer on the current image (kind check, familiarity, disagreement),
    warnings first."""
    from core.analysis.kind import DATA_KINDS, kind_notes
    from core.analysis.model_choice import data_of

    fam = familiarity_of(entry, image)
    # a run on an upload has no kind of data to check the image against; its own training images judge it
    generator = (entry.get("data") or {}).get("generator")
    model_data = generator if own_data(entry) is not None or generator in DATA_KINDS else data_of(entry)
    note = familiarity_note(entry, image, fam)
    notes = kind_notes(kind_check_of(image), model_data, note, fam, finder_answer(entry, image)) + [disagreement]
    return sorted([n for n in notes if n is not None], key=lambda n: n.level != "warning")


def map_notes(image: dict, generator: str, fam: Familiarity | None) -> list[Note]:
    """The Latent map's notes on the current image's latent: the kind check and its familiarity, combined."""
    from core.analysis import familiarity as core_familiarity
    from core.analysis.kind import kind_notes

    notes = kind_notes(kind_check_of(image), generator, core_familiarity.familiarity_note(fam), fam)
    return sorted(notes, key=lambda n: n.level != "warning")


def show(notes: list[Note], where=None) -> None:
    """Warnings as st.warning, information as a caption."""
    where = where if where is not None else st
    for note in notes:
        if note.level == "warning":
            where.warning(note.text, icon=":material/warning:")
        else:
            where.caption(note.text)


def answer_notes(entry: dict, image: dict, disagreement: Note | None = None, where=None) -> list[Note]:
    """Compute and show the notes of one model answer; returns them."""
    notes = notes_for(entry, image, disagreement)
    show(notes, where)
    return notes


def familiar_order(entries: list[dict], image: dict | None, order: list[int]) -> list[int]:
    """`order` (indices into `entries`, the page's ranking) with the checkpoints to which the image is most
    familiar first (core.analysis.model_choice.most_familiar_first), each judging it on its own training grid;
    `order` itself without an image or where no familiarity can be computed."""
    from core.analysis.model_choice import most_familiar_first
    from ui import inference, models

    if image is None:
        return order
    fams = {}
    for i in order:
        if models.problem(entries[i]) is None:
            fams[i] = familiarity_of(entries[i], {**image, "data": inference.grid_view(entries[i], image).data})
    return most_familiar_first(order, fams)
