"""Widgets shared by several pages: the current image, model pickers, galleries, downloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from core.analysis.model_choice import default_order
from ui import models, resources
from ui.errors import call
from ui.state import SETTINGS, get_current_image


def current_image(required: bool = True) -> dict | None:
    """The image chosen on the Data page (`{"data", "meta", "name", "kind"}`).

    With `required`, the page stops with a hint when there is none; otherwise returns None.
    """
    image = get_current_image()
    if image is None and required:
        st.info("No image yet: load, simulate or pick an example on the Data page first.")
        st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
        from ui.share import stop_page

        stop_page()
    return image


def pick_model(kind: str | None, *, equivariant: bool | None, key: str, label: str | None = None,
               generator: str | None = None, required: bool = True, image_kind: str | None = None,
               extra_kinds: tuple[str, ...] = ()) -> dict | None:
    """A selectbox of checkpoints of one kind; returns the chosen index entry.

    Lists the index on every render, so a checkpoint trained on the Train page shows up at
    once. The default is the first of `core.analysis.model_choice.default_order` that loads on this server; a
    chosen checkpoint that does not load gets its one sentence under the picker (pages then
    leave it out: `ui.models.working`). With `required`, the page stops with a hint when none exists. `extra_kinds` appends
    checkpoints of further kinds (the Latent map: self-supervised backbones, kind "encoder").
    """
    entries = resources.checkpoints(kind, generator, equivariant)
    listed = {e["name"] for e in entries}
    entries += [e for extra in extra_kinds for e in resources.checkpoints(extra, generator, equivariant)
                if e["name"] not in listed]
    family = {True: "equivariant ", False: "CNN ", None: ""}[equivariant]
    what = f"{family}{kind or 'model'}"
    label = label or what[0].upper() + what[1:]
    if not entries:
        if required:
            st.info(f"No {what} checkpoint exists yet: the shipped ones are not in `checkpoints/` "
                    "and none has been trained on the Train page.")
            from ui.share import stop_page

            stop_page()
        st.caption(f"No {what} checkpoint yet.")
        return None
    names = [e["name"] for e in entries]
    shape = source = None
    if image_kind is None:  # the current image decides: its kind, its size (which preset), where it came from
        current = get_current_image() or {}
        image_kind, source = current.get("kind"), current.get("source")
        shape = tuple(current["data"].shape) if current.get("data") is not None else None
    signature = f"{image_kind}|{shape}|{source}"
    data_changed = st.session_state.get(f"{key}__kind", signature) != signature
    order = default_order(entries, kind, equivariant, image_kind, shape, source)
    if data_changed or st.session_state.get(key) not in names:  # first show, or other data: its default
        index = models.first_that_loads(entries, order)  # the first that loads on this server
        st.session_state[key] = names[order[0] if index is None else index]  # the browser follows
    st.session_state[f"{key}__kind"] = signature
    name = st.selectbox(label, names, key=key,
                        help="Shipped checkpoints first, then the ones trained here; the first offered "
                             "matches the current image (its kind and, for lenses, its size: 64 px DeepLense "
                             "Model II, 150 px Model I or this project's lenses) and loads on this server.")
    entry, first = entries[names.index(name)], entries[order[0]]
    return say_if_broken(entry, first)


def say_if_broken(entry: dict, first: dict) -> dict:
    """`entry`, after one sentence when it does not load, or a caption when the default `first` would
    have come first but does not load on this server."""
    reason = models.problem(entry)
    if reason is not None:
        st.error(reason)
    elif entry is not first and models.checked(first) and models.problem(first) is not None:
        st.caption(f"{first['name']} would come first but does not load on this server (Models on this server, "
                   "in the sidebar, says why).")
    return entry


def training_caption(entry: dict) -> str:
    """What a checkpoint was trained on and how it scored there (its held-out test set)."""
    from core.checkpoints import data_description

    test = (entry.get("metrics") or {}).get("test") or {}
    score = f"; test macro AUC {test['macro_auc']:.3f} on {test.get('n', '?')} unseen images of that simulator" if "macro_auc" in test else ""
    return f"**{entry['name']}** was trained on {data_description(entry)}{score}."


def model_caption(entry: dict) -> str:
    """One line describing a checkpoint: architecture, group, training data, ensemble size."""
    cfg = entry.get("config") or {}
    data = entry.get("data") or {}
    parts = [entry.get("model", "?")]
    if cfg.get("group"):
        parts.append(f"group {cfg['group']}")
    if data.get("generator"):
        parts.append(f"trained on {data.get('n') or '?'} simulated {data['generator']}")
    if (entry.get("members") or 1) > 1:
        parts.append(f"ensemble of {entry['members']}")
    return " · ".join(parts)


def generator_of(entry: dict) -> str:
    """The kind of images a checkpoint was trained on: "disks" or "lenses"."""
    from core.analysis.model_choice import data_of

    return data_of(entry)


def build_with_progress(slot, fn: Callable, *args):
    """Call a once-per-server builder that takes `progress`, showing a progress bar in `slot` meanwhile.
    Errors reach the caller (wrap in `ui.errors.call` or `ui.models.attempt`)."""
    bar = slot.progress(0.0, text="Preparing…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(max(done / max(total, 1), 0.0), 1.0), text=message)

    try:
        return fn(*args, progress=progress)
    finally:
        slot.empty()


def selected_indices(event) -> list[int]:
    """Reference indices of the points a box/lasso/click selection picked on a latent map."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    out = []
    for p in points:
        custom = p.get("customdata")
        if isinstance(custom, list):
            custom = custom[0] if custom else None
        if custom is not None:
            out.append(int(custom))
    return sorted(set(out))


def gallery(ref, indices: Sequence[int], n_cols: int = 6, limit: int = 24) -> None:
    """Thumbnails of the first `limit` reference images of `indices`, with label and file name."""
    from ui.reference import thumbnail

    if len(indices) > limit:
        st.caption(f"Showing the first {limit} of {len(indices)}.")
    indices = list(indices)[:limit]
    cols = st.columns(n_cols)
    labels = ref.latents.labels
    for i, idx in enumerate(indices):
        path = ref.latents.files[idx]
        thumb = call(thumbnail, path, stop=False)
        if thumb is None:
            continue
        caption = (f"{labels[idx]} · " if labels else "") + path.rsplit("/", 1)[-1]
        # row 0 at the bottom, as in the plotly heatmaps (the FITS convention)
        cols[i % n_cols].image(np.flipud(thumb), caption=caption, clamp=True, width="stretch")


def pick_stretch(key: str) -> str:
    """The display stretch (linear, log, sqrt, asinh, z-scale) of ui/images; label and choices are
    ui.state.SETTINGS' (the Super-resolution page's spec, which a shared link is checked against)."""
    from ui.images import STRETCH_HELP

    spec = SETTINGS["sr_stretch"]
    options = spec.choices()
    return st.segmented_control(spec.label, options, default=options[0], key=key, help=STRETCH_HELP) or options[0]


def fits_download(data: np.ndarray, image: dict, model_name: str, key: str, box: tuple | None = None) -> None:
    """A button that downloads `data` (the current image on the model grid) as FITS, its header
    made true for that grid (core.io.headers.regridded_header), or for the cutout `box`
    (row0, row1, col0, col1) that was put on the grid."""
    from core.io import fits_bytes
    from core.io.headers import regridded_header

    data = np.asarray(data, dtype=np.float32)
    cards = regridded_header(image["meta"].header, image["data"].shape, data.shape[-1], box)
    cards.append(("HISTORY", f"EquiScope: reconstruction by the model {model_name}", ""))
    payload = call(fits_bytes, data, cards, stop=False)
    if payload is None:
        return
    stem = image["name"].rsplit(".", 1)[0]
    st.download_button("Download as FITS", payload, file_name=f"{stem}_{model_name}_reconstruction.fits",
                       mime="application/fits", key=key,
                       help="The reconstruction on the model grid, values in [0, 1]; the WCS and pixel "
                            "scale of the original header are rescaled to this grid (or removed when they cannot be).")


def warn_if_other_kind(image: dict | None, generator: str) -> None:
    """A warning when the current image is not the kind of image the model was trained on."""
    from core.analysis.familiarity import kind_note

    note = kind_note((image or {}).get("kind"), generator)
    if note is not None:
        st.warning(note.text)


CUTOUT_BOX_STATE = "cutout_box"  # (side, unit, distance_pc): the one box the Data and Reconstruct pages share
BOX_UNITS = ("px", "arcsec", "au")


def shared_cutout_box() -> tuple | None:
    """The user's cutout box as `ui.inference.reconstruct` takes it, (side, unit, None, None, distance_pc or None),
    or None (automatic): set on the Data page or the Reconstruct page, the same for both."""
    side, unit, distance = st.session_state.get(CUTOUT_BOX_STATE, (0.0, "px", 0.0))
    return (float(side), unit, None, None, float(distance) or None) if side > 0 else None


def cutout_box(key: str, *, expanded: bool = False) -> tuple | None:
    """An expander where the user may replace the automatic disk cutout by a box (see `shared_cutout_box`).

    The widgets (keys `<key>_side`, `<key>_unit`, `<key>_distance`) start from the shared box and write
    back to it, so a box set on one page holds on the other (widget state itself ends with its page)."""
    keys = (f"{key}_side", f"{key}_unit", f"{key}_distance")
    for k, value in zip(keys, st.session_state.get(CUTOUT_BOX_STATE, (0.0, "px", 0.0)), strict=True):
        if st.session_state.get(k) != value:
            st.session_state[k] = value

    def store() -> None:
        side, unit, distance = (st.session_state[k] for k in keys)
        st.session_state[CUTOUT_BOX_STATE] = (float(side), unit, float(distance))

    with st.expander("Cutout box (automatic unless you set a side)", expanded=expanded):
        cols = st.columns(3)
        cols[0].number_input("Side (0 = automatic)", min_value=0.0, key=keys[0], on_change=store,
                             help="The square the disk models see, centred on the detected disk.")
        cols[1].selectbox("Unit", BOX_UNITS, key=keys[1], on_change=store,
                          help="arcsec needs the header's pixel scale; au also the distance.")
        cols[2].number_input("Distance (pc, for au)", min_value=0.0, key=keys[2], on_change=store)
    return shared_cutout_box()
