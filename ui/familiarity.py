"""Honest answers on the page: familiarity of the input and the notes of core.analysis.familiarity.

`notes_for(entry, image)` computes (cached per checkpoint and image) how familiar the image
is to the checkpoint and returns the notes for its answer; `show(notes)` draws them: a
warning for each problem, a caption otherwise. Pages call `answer_notes(entry, image, ...)`,
which does both.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis.familiarity import Familiarity, Note
from ui.resources import loaded_model


@st.cache_data(max_entries=256, show_spinner=False)
def familiarity(name: str, sha256: str | None, generator: str, image: np.ndarray) -> Familiarity:
    """How familiar the raw 2-D `image` is to checkpoint `name` (against its reference set of `generator`)."""
    from core.analysis.encode import encode_images
    from ui.reference import familiarity_reference

    ref = familiarity_reference(name, sha256, generator)
    return ref.score(encode_images(loaded_model(name, sha256), [image]))[0]


def familiarity_of(entry: dict, image: dict) -> Familiarity | None:
    """Familiarity of the current image for a checkpoint entry, building the reference set with a
    progress bar on first use; None (the error shown, the page going on) if it cannot be computed."""
    from core.analysis.model_choice import data_of
    from ui.errors import call
    from ui.reference import familiarity_reference

    generator = data_of(entry)
    slot = st.empty()

    def progress(done: int, total: int, message: str) -> None:
        slot.progress(min(max(done / max(total, 1), 0.0), 1.0), text=f"Familiarity reference: {message}")

    ref = call(familiarity_reference, entry["name"], entry.get("sha256"), generator, progress, stop=False)
    slot.empty()
    if ref is None:
        return None
    return call(familiarity, entry["name"], entry.get("sha256"), generator, image["data"], stop=False)


def notes_for(entry: dict, image: dict, disagreement: Note | None = None) -> list[Note]:
    """Every note for checkpoint `entry`'s answer on the current image (kind, familiarity, disagreement)."""
    from core.analysis.familiarity import answer_notes
    from core.analysis.model_choice import data_of

    return answer_notes(familiarity_of(entry, image), image_kind=image.get("kind"), model_data=data_of(entry),
                        disagreement=disagreement)


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
