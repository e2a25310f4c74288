"""One image on the Data page: viewer, facts, pixel statistics, FITS header, disk cutout and the actions.

The Upload, Examples and Simulate tabs (ui.upload_tab, ui.examples_tab, ui.simulate_tab) each draw
their image with `image_panel`; "Use this image" adds it to the session's image list (ui.image_list)
through `use`, and a refusal (list full) is said in the tab where the user clicked (`refusal_here`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np
import streamlit as st

from core.data.cutout import DEFAULT_GRID
from core.errors import InputError
from core.io import LoadedImage, fits_bytes
from core.io.headers import plane_cards
from ui import disk_input, image_list, state, viewer, widgets
from ui.images import pixel_statistics
from ui.markdown import markdown_table, md_escape

HEADER_ROWS_SHOWN = 12  # a longer header scrolls inside a box of fixed height
USE_MESSAGE_KEY = "data_use_message"  # (tab, text): "Use this image" refused
KIND_NAMES = {"disk": "a protoplanetary disk", "lens": "a strong lens", "other": "something else"}


def _fmt(value: float | None, unit: str, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g} {unit}".strip()


def pixel_scale_fact(scale: float | None, user_scale: float | None = None) -> str:
    """The pixel-scale row: the file's, else what the lens models do without one (the Lenses page's field)."""
    if scale:
        return _fmt(scale, "arcsec/px")
    if user_scale:
        return f"none in the file; the lens models use the {user_scale:g} arcsec/px you set on the Lenses page"
    return "none in the file: lens models see its pixels as they are (set one on the Lenses page)"


def facts_rows(meta, shape: tuple[int, int], user_scale: float | None = None) -> list[tuple[str, str]]:
    """What the file says about itself: format, shapes, units, pixel scale, beam, WCS, filled pixels.
    `user_scale`: the pixel scale the user set for files without one (ui.state.pixel_scale)."""
    beam = "—"
    if meta.beam is not None:
        bmaj, bmin, bpa = meta.beam
        beam = f'{bmaj:.4g}" × {bmin:.4g}", PA {bpa:.4g}°'
    where = f"HDU {meta.hdu_index}" if meta.hdu_index is not None else ""
    if meta.n_planes > 1:
        where += f"{', ' if where else ''}plane {meta.plane if meta.plane is not None else 'sum'} of {meta.n_planes}"
    rows = [
        ("format", meta.source_format.upper() + (f" ({where})" if where else "")),
        ("stored shape / type", f"{meta.original_shape} {meta.original_dtype}"),
        ("image shown", f"{shape[0]} × {shape[1]} px, float32"),
        ("unit (BUNIT)", meta.bunit or "—"),
        ("pixel scale", pixel_scale_fact(meta.pixel_scale_arcsec, user_scale)),
        ("beam (FWHM)", beam),
        ("sky coordinates (WCS)", "yes" if meta.has_wcs else "no"),
        (
            "NaN/Inf pixels filled",
            f"{meta.n_nonfinite:,}"
            + ("" if meta.fill_value is None else f" with {meta.fill_value:.4g}"),
        ),
    ]
    return rows


def search_cards(cards, query: str) -> list:
    """The header cards whose keyword, value or comment contains `query` (case-insensitive)."""
    query = query.strip().lower()
    if not query:
        return list(cards)
    return [card for card in cards if any(query in str(part).lower() for part in card)]


def header_panel(cards, key: str) -> None:
    """The FITS header: collapsed, with a search box; a long header scrolls in a box of fixed height."""
    with st.expander(f"FITS header ({len(cards)} cards)", expanded=False):
        query = st.text_input("Search the header", key=f"{key}-header-q", placeholder="keyword, value or comment",
                              help="For example BMAJ, CDELT or a word of a comment.")
        rows = search_cards(cards, query)
        if query.strip():
            st.caption(f"{len(rows)} of {len(cards)} cards match.")
        if not rows:
            return
        box = st.container(height=420) if len(rows) > HEADER_ROWS_SHOWN else st.container()
        box.markdown(markdown_table(rows, ("keyword", "value", "comment")))


def image_panel(loaded: LoadedImage, key: str, name: str, *, kind: str | None, kind_fixed: bool = False,
                selectors: Callable[[], None] | None = None, current: bool = False,
                on_use: Callable | None = None, use_args: tuple = (), on_kind: Callable | None = None) -> None:
    """Stretch chooser, image with colour bar, facts, statistics, header, and the actions.

    `selectors` draws extra widgets (HDU / plane) under the image; `kind` is the preselected image
    kind ("disk", "lens" or None), fixed for examples and simulations. `on_use(*use_args)` adds the
    image to the list as the current one ("Use this image"); `on_kind(kind)` relabels it.
    """
    meta, data = loaded.meta, loaded.data
    left, right = st.columns([3, 2], gap="medium")
    with left:
        cut, problem = None, None
        if kind == "disk":
            try:
                cut = disk_input.disk_cutout(data, DEFAULT_GRID, meta.pixel_scale_arcsec, meta.fill_value,
                                             widgets.shared_cutout_box())
            except ValueError as exc:  # e.g. a box in arcsec without a pixel scale: said under the box, not as an error
                problem = str(exc)
        viewer.show(data, key=key, meta=meta, bunit=meta.bunit,  # zoom, cuts, colour maps, WCS hover, beam
                    box=cut["box"] if cut else None, box_label=f"cutout ({cut['source']})" if cut else "cutout")
        if kind == "disk":
            widgets.cutout_box(f"{key}-box")
            if cut:
                st.caption("The dashed square is what the disk models see (Reconstruct uses the same box): "
                           + " ".join(cut["notes"][-2:-1]))
            elif problem:
                st.caption(f"No cutout box: {problem}")
        if selectors is not None:
            selectors()
    with right:
        user_scale, origin = state.pixel_scale({"meta": meta})
        st.markdown(markdown_table(facts_rows(meta, data.shape, user_scale if origin == "user" else None),
                                   ("file", "value")))
        unit = f" ({meta.bunit})" if meta.bunit else ""
        stats = [(stat, f"{value:.4g}") for stat, value in pixel_statistics(data).items()]
        st.markdown(markdown_table(stats, ("pixel statistics" + unit, "value")))
    for note in meta.notes:
        st.caption(note)
    if meta.header:
        header_panel(meta.header, key)
    a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
    kind_key = f"{key}-kind"
    options = ["disk", "lens", "other"]
    a.selectbox("This image shows", options, index=options.index(kind or "other"), key=kind_key,
                disabled=kind_fixed, format_func=KIND_NAMES.get,
                on_change=(lambda: on_kind(_kind_value(kind_key))) if on_kind else None)  # fmt: skip
    if on_use is not None or current:
        b.button("Current image ✓" if current else "Use this image", key=f"{key}-use", type="primary",
                 disabled=current, on_click=on_use, args=use_args,
                 help="Adds it to the image list (sidebar) as the current image: every other page works on it.")  # fmt: skip
    stem = PurePosixPath(name).name.rsplit(".", 1)[0]
    c.download_button("Download as FITS", lambda: plane_fits(data, meta.header), file_name=f"{stem}.fits",
                      mime="application/fits", key=f"{key}-download", on_click="ignore",
                      help="The image shown (float32, NaN/Inf filled) with the original header cards, its sky "
                           "coordinates (WCS) cut to the plane's two axes.")  # fmt: skip


def plane_fits(data: np.ndarray, header) -> bytes:
    """The plane shown as a FITS file: the file's cards with a 2-D WCS (`plane_cards`: a cube's spectral and
    Stokes axes dropped), as every other FITS download writes."""
    return fits_bytes(data, plane_cards(list(header or [])))


def _kind_value(kind_key: str) -> str | None:
    kind = st.session_state.get(kind_key)
    return None if kind == "other" else kind


def use(tab: str, add: Callable, *args) -> None:
    """A "Use this image" callback: add to the list; a refusal (list full) is shown in its tab."""
    try:
        add(*args)
        st.session_state.pop(USE_MESSAGE_KEY, None)
    except InputError as exc:
        st.session_state[USE_MESSAGE_KEY] = (tab, md_escape(str(exc)))


def current_identity() -> str | None:
    entry = image_list.current_entry()
    return entry.identity if entry is not None else None


def refusal_here(tab: str) -> None:
    """A refusal of "Use this image" (list full) shown in the tab where the user clicked."""
    where, text = st.session_state.get(USE_MESSAGE_KEY) or (None, "")
    if where == tab:
        st.error(text)
