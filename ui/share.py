"""Shareable views: the address bar's query parameters carry the page, the image and the main settings.

A link such as `...?page=lenses&sim=lens&sim_lens_sub=vortex&sim_lens_seed=7&lens_model_eq=...`
reopens the same view in a new session: app.py calls `restore` before the page runs (once per
session) and `publish` after it (every run), so the address bar always holds the current view.

Parameters:
    page=<url path>                 the page ("reconstruct", "lenses", ...); absent for the Data page
    example=<file>                  a shipped example (a file of examples/manifest.json) as current image
    sim=disk|lens, sim_<kind>_*=v   a simulated image: the Simulate tab's control values, seed included
    <key>=<value>                   the page's settings: the widgets named in ui.state.PAGE_SETTINGS
    upload=<file name>              the current image was an upload: only its name travels
A link is typed by anyone: each value is taken as its widget would take it, with the widget's own bounds
(ui.state.PAGE_SETTINGS; the Simulate tab's controls for `sim_*`), clamped to its range and step or refused
for its default, one sentence in the sidebar per value changed; the address bar then shows what was taken.
Uploads do not travel in a link (their bytes stay in the uploader's session): a link made while an
upload is the current image reopens the page and the settings and asks for that file by name
(`upload_note`), and the sidebar says beforehand what a link carries (`share_note`).
"""

from __future__ import annotations

import json

import streamlit as st

from core.errors import InputError
from ui import examples_tab, image_list, simulate_tab
from ui.markdown import md_escape
from ui.state import PAGE_SETTINGS, SETTINGS

RESTORED_KEY = "share_restored"  # set once the link of this session has been applied
NOTE_KEY = "share_notes"  # what of a link could not be applied: sentences shown once in the sidebar
PAGE_KEY = "share_page"  # the url path of the page this run shows (for `stop_page`)
IMAGE_PARAMS = ("example", "sim", "upload")


def encode(value) -> str:
    """A widget value as it stands in the address bar: strings as they are, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def decode(text: str):
    """The inverse of `encode` for numbers, booleans and strings."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (bool, int, float)) else text


def page_name(page) -> str:
    """The page's url path ("data" for the default page); a string stays as it is."""
    return page if isinstance(page, str) else (page.url_path or "data")


def upload_note(name: str) -> str:
    """What a link made with an uploaded current image says to whoever opens it."""
    name = name if len(name) <= 120 else name[:120] + "…"  # a link may carry any text here
    return (f"This link was made with an uploaded file, {md_escape(name)}, which a link cannot carry: the page and "
            "its settings are restored; upload the same file on the Data page to see the same image.")


def _note(text: str) -> None:
    """A sentence on what of the link could not be applied as it stands (shown once in the sidebar)."""
    st.session_state.setdefault(NOTE_KEY, []).append(text)


def _restore_image(params: dict) -> None:
    if "example" in params:
        examples_tab.add_example(params["example"])
        st.session_state["data_tab"] = "Examples"  # the Data page opens on the tab the image came from
    elif "sim" in params:
        st.session_state["data_tab"] = "Simulate"
        kind = params["sim"]
        texts = {k: v for k, v in params.items() if k.startswith(f"sim_{kind}_")}
        values, problems = simulate_tab.checked_values(kind, {k: decode(v) for k, v in texts.items()}, texts)
        for problem in problems:
            _note(problem)
        simulate_tab.add_simulation(kind, values)
    elif "upload" in params:
        _note(upload_note(params["upload"]))


def _restore_settings(params: dict) -> None:
    """The link's page settings into their widgets, each checked against its widget's bounds first."""
    for key, spec in SETTINGS.items():
        if key in params:
            value, problem = spec.check(decode(params[key]), params[key])
            if problem:
                _note(problem)
            if value is not None:
                st.session_state[key] = value
            else:  # refused: the widget shows its default
                st.session_state.pop(key, None)


def restore(pages, page) -> None:
    """Apply the link this session was opened with: its image joins the list as the current one, its
    settings go into the widgets, and its page opens. Runs once per session."""
    st.session_state[PAGE_KEY] = page_name(page)
    if st.session_state.get(RESTORED_KEY):
        for note in st.session_state.pop(NOTE_KEY, []):  # after the link's page switch
            st.sidebar.warning(note)
        return
    st.session_state[RESTORED_KEY] = True
    params = st.query_params.to_dict()
    if not params:
        return
    try:
        _restore_image(params)
    except (InputError, ValueError) as exc:
        _note(f"The link's image could not be opened: {md_escape(str(exc))}")
    _restore_settings(params)
    wanted = params.get("page")
    if wanted and wanted != page_name(page):
        target = next((p for p in pages if page_name(p) == wanted), None)
        if target is None:
            _note(f"The link's page '{md_escape(wanted)}' does not exist on this server.")
        else:
            st.switch_page(target)
    for note in st.session_state.pop(NOTE_KEY, []):
        st.sidebar.warning(note)


def view_params(page) -> dict[str, str]:
    """The query parameters that reopen this view."""
    params: dict[str, str] = {}
    if page_name(page) != "data":
        params["page"] = page_name(page)
    entry = image_list.current_entry()
    origin = entry.origin if entry is not None else {}
    if "example" in origin:
        params["example"] = origin["example"]
    elif "sim" in origin:
        params["sim"] = origin["sim"]
        params.update({k: encode(v) for k, v in origin.get("widgets", {}).items() if k != "sim_kind"})
    elif entry is not None:  # an upload: its bytes cannot travel, its name says what to upload again
        params["upload"] = entry.name
    for key in PAGE_SETTINGS.get(page_name(page), ()):
        if key in st.session_state and st.session_state[key] is not None and key not in params:
            params[key] = encode(st.session_state[key])
    return params


def share_note(params: dict[str, str]) -> str:
    """One sentence on what the address bar's link reopens, for the sidebar."""
    if "upload" in params:
        return (f"Share this view: the address bar's link reopens this page and its settings, but not the current "
                f"image, {md_escape(params['upload'])}: uploaded files cannot travel in a link (whoever opens it is "
                "asked to upload the same file).")
    image = {"example": " the example,", "sim": " the simulated image (its sliders and seed),"}
    what = next((text for key, text in image.items() if key in params), "")
    return (f"Share this view: the address bar's link reopens this page,{what} and its settings "
            "(an uploaded file would not travel with it).")


def note(page) -> None:
    """Say in the sidebar what the link of this view carries (drawn before the page runs: a page that
    stops early still shows it; the image and settings come from callbacks, which ran before)."""
    st.sidebar.caption(share_note(view_params(page)))


def publish(page) -> None:
    """Write the view into the address bar (only when it changed)."""
    params = view_params(page)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def stop_page() -> None:
    """Stop the page here (`st.stop`), its link written first: nothing reaches the browser after a stop."""
    publish(st.session_state.get(PAGE_KEY, "data"))
    st.stop()
