"""Batch evaluation's model picker: its default follows `core.analysis.model_choice` as the Lenses page does,
with the data set's facts (`ui.batch_data.BatchSource`) in place of the current image's: the kind of its
classes, its image size and simulator preset, so 64-px DeepLense data get Model II and 150-px Model I. A
model the visitor picked stays when the data change, as long as it was trained on their kind of images.
"""

from __future__ import annotations

import streamlit as st

from ui.batch_data import BatchSource, data_kind

MODEL_KEY = "batch_model"  # the picker (ui.state.PAGE_SETTINGS keeps it across pages and links)
AUTO_KEY = "batch_model__auto"  # (data signature, name) the picker last preselected
PICKED_KEY = "batch_model__picked"  # (name, source key) of the visitor's own pick, where it was made


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

    return {"disks": "disk images", "lenses": "lens images", "lensfinding": "lens-finding images",
            "sky": "HST / Euclid-like lens-finding images"}.get(data_of(entry), "other images")


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
