"""Load a model or give the reason: the one place pages learn whether a checkpoint works on this server.

`problem(entry)` loads a checkpoint once per process (`ui.resources.loaded_model`) and returns None
when it loads, else one sentence for the page (the traceback goes to the server log). Outcomes are
kept per process, keyed by name, index sha256 and file time, so a restored or re-trained file is
tried afresh. `working(...)` keeps the entries that load; `serve` / `attempt` run a model's
inference and turn a failure into one sentence in that model's place. `panel()` is the sidebar's
"Models on this server".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import streamlit as st

from ui.errors import LOG, USER_ERRORS, sentence
from ui.resources import loaded_model

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _outcomes() -> dict:
    """(name, sha256, file time) -> None (loads) or the sentence saying why not; one per server."""
    return {}


def _key(entry: dict) -> tuple:
    try:
        mtime = os.stat(entry["path"]).st_mtime_ns
    except (KeyError, OSError):
        mtime = None
    return entry["name"], entry.get("sha256"), mtime


def why_not(entry: dict, exc: BaseException) -> str:
    """One sentence on why checkpoint `entry` cannot answer, naming it; the traceback goes to the server log."""
    if isinstance(exc, USER_ERRORS):  # others are logged by `sentence`, traceback included
        LOG.warning("Checkpoint %s cannot answer", entry["name"], exc_info=exc)
    text = sentence(exc)
    return text if entry["name"] in text else f"{entry['name']}: {text}"


def checked(entry: dict) -> bool:
    """Whether this server already knows if the checkpoint loads (no loading)."""
    return _key(entry) in _outcomes()


def problem(entry: dict, keep: bool = True) -> str | None:
    """None when checkpoint `entry` loads on this server, else why not (loads it the first time only).

    With `keep`, the model stays in the page cache (`loaded_model`); without, it is loaded, checked
    and dropped (the models panel checks every checkpoint without pushing the pages' models out)."""
    outcomes, key = _outcomes(), _key(entry)
    if key not in outcomes:
        try:
            if keep:
                loaded_model(entry["name"], entry.get("sha256"))
            else:
                from core.checkpoints import load_model

                load_model(entry["name"])
            outcomes[key] = None
        except Exception as exc:  # noqa: BLE001 - any failure: one sentence, the traceback logged
            outcomes[key] = why_not(entry, exc)
    return outcomes[key]


def working(*entries: dict | None) -> list[dict]:
    """The given checkpoints (None skipped) that load on this server."""
    return [e for e in entries if e is not None and problem(e) is None]


def first_that_loads(entries: list[dict], order: Iterable[int]) -> int | None:
    """The first index of `order` whose checkpoint loads (loading them in turn), or None."""
    return next((i for i in order if problem(entries[i]) is None), None)


def attempt(entry: dict, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """`fn(*args, **kwargs)` for checkpoint `entry`; on failure one sentence (st.error) in its place and None."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Streamlit's stop and rerun are BaseExceptions and pass
        st.error(why_not(entry, exc))
        return None


def serve(entry: dict, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """`fn(name, sha256, *args, **kwargs)`, as the cached functions of ui.inference take them; see `attempt`."""
    return attempt(entry, fn, entry["name"], entry.get("sha256"), *args, **kwargs)


def panel() -> None:
    """The sidebar's "Models on this server": every checkpoint, whether it loads, and why not.

    Checking loads every model once per server (minutes on a cold machine), so it waits for the button;
    what the pages already loaded is shown at once."""
    from ui.resources import listed_checkpoints

    with st.sidebar.expander("Models on this server"):
        try:
            entries = listed_checkpoints()
        except Exception as exc:  # noqa: BLE001 - a broken index is one sentence too
            st.error(sentence(exc))
            return
        if st.session_state.get("models_check"):  # the button below was pressed
            unknown = [e for e in entries if not checked(e)]
            bar = st.progress(0.0)
            for n, entry in enumerate(unknown):
                bar.progress(n / len(unknown), text=f"Loading {entry['name']}…")
                problem(entry, keep=False)
            bar.empty()
        unknown = [e for e in entries if not checked(e)]
        if unknown:
            st.button(f"Check the {len(unknown)} unchecked models", key="models_check",
                      help="Loads each checkpoint once (the answers are kept for every visitor of this server).")
        rows = [{"loads": ("yes" if problem(e) is None else "no") if checked(e) else "not checked", "model": e["name"],
                 "kind": e.get("kind", "?")} for e in entries]  # the answer first: the sidebar is narrow
        st.dataframe(rows, hide_index=True, key="models_table",
                     column_config={"loads": st.column_config.TextColumn(width="small")})
        for e in entries:
            if checked(e) and problem(e) is not None:
                st.caption(f":red[✗] {problem(e)}")
        if not entries:
            st.caption("No checkpoints: `checkpoints/` is empty and none has been trained here.")
