"""Honest answers on the page: familiarity of the input and the notes of core.analysis.familiarity.

`notes_for(entry, image)` computes (cached per checkpoint and image) how familiar the image
is to the checkpoint and returns the notes for its answer; `show(notes)` draws them: a
warning for each problem, a caption otherwise. Pages call `answer_notes(entry, image, ...)`,
which does both.

What an image is compared with: a shipped checkpoint's reference set of its kind of data
(ui/reference.py); a run trained on this server (runs/), the images it was trained on (its data
folder, `own_data`), so that an image of its own training set is familiar to it. An
autoencoder's familiarity note agrees with its reconstruction: when the reconstruction is poor
(the Reconstruct page's warning), the latent is not called familiar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core.analysis.familiarity import Familiarity, Note
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
    return call(familiarity, entry["name"], entry.get("sha256"), generator, image["data"], stop=False)


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
    from ui import inference
    from ui.errors import USER_ERRORS
    from ui.widgets import shared_cutout_box

    if entry.get("kind") != "autoencoder" or image.get("meta") is None:
        return None
    meta = image["meta"]
    try:
        result = inference.reconstruct(entry["name"], entry.get("sha256"), image["data"], meta.pixel_scale_arcsec,
                                       meta.bunit, meta.fill_value, shared_cutout_box())
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


def notes_for(entry: dict, image: dict, disagreement: Note | None = None) -> list[Note]:
    """Every note for checkpoint `entry`'s answer on the current image (kind, familiarity, disagreement), warnings first."""
    from core.analysis.familiarity import kind_note
    from core.analysis.model_choice import data_of

    fam = familiarity_of(entry, image)
    # a run on an upload has no kind of data to check the image against; its own training images judge it
    model_data = (entry.get("data") or {}).get("generator") if own_data(entry) is not None else data_of(entry)
    notes = [kind_note(image.get("kind"), model_data), familiarity_note(entry, image, fam), disagreement]
    return sorted([n for n in notes if n is not None], key=lambda n: n.level != "warning")


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
