"""Cached resources shared by every visitor: loaded models, reference latents, fitted maps.

`st.cache_resource` holds objects that are expensive to build and safe to share (models in
eval mode, fitted t-SNE maps); `st.cache_data` holds plain arrays. Keys include the
checkpoint's sha256 so a re-trained checkpoint of the same name is loaded afresh. No page
builds an escnn model itself: they all come through `loaded_model()`, and ask `ui.models.problem()` first
whether a checkpoint loads on this server (a failure is kept as one sentence, not retried every run).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from ui.errors import call

T = TypeVar("T")
OWN_RUNS_KEY = "own_runs"  # session_state: names of the runs this session trained


def own_run(name: str) -> None:
    """Remember that this session trained the run `name` (the Train page calls it when its run starts): on a
    hosted demo a session's pickers list the shipped checkpoints and its own runs only."""
    st.session_state[OWN_RUNS_KEY] = {*st.session_state.get(OWN_RUNS_KEY, ()), name}


def listed_checkpoints() -> list[dict]:
    """The index entries this session may pick, read afresh: shipped, then runs/ on a laptop; on a hosted demo
    (core.settings) the shipped ones and the runs this session trained, never other visitors' runs."""
    from pathlib import Path

    import core.checkpoints as ck
    from core.settings import settings

    entries = ck.list_checkpoints()
    if not settings().hosted:
        return entries
    shipped, own = Path(ck.CHECKPOINTS_DIR).resolve(), st.session_state.get(OWN_RUNS_KEY, set())
    return [e for e in entries if Path(e["path"]).is_relative_to(shipped) or e["name"] in own]


def checkpoints(kind: str | None = None, generator: str | None = None,
                equivariant: bool | None = None) -> list[dict]:
    """Index entries (shipped, then user runs: `listed_checkpoints`), read afresh on every render.

    `kind` is "autoencoder" | "classifier" | "superres" | "encoder" (None: autoencoders and classifiers); `generator` the training data ("disks" | "lenses");
    `equivariant` keeps only escnn models (True) or only the CNN baselines (False).
    """
    entries = call(listed_checkpoints)
    out = []
    for e in entries:
        if kind is not None and e.get("kind") != kind:
            continue
        if kind is None and e.get("kind") in ("superres", "encoder"):  # pages asking for any model are built for AEs and
            continue  # classifiers; self-supervised backbones (kind "encoder") are listed when asked for by kind
        if generator is not None and (e.get("data") or {}).get("generator") not in (generator, None):
            continue
        if equivariant is not None and _is_equivariant_entry(e) != equivariant:
            continue
        out.append(e)
    return out


def _is_equivariant_entry(entry: dict) -> bool:
    from core.models.registry import MODEL_NAMES, is_equivariant

    return entry.get("model") in MODEL_NAMES and is_equivariant(entry["model"])


@st.cache_resource(show_spinner="Loading the model (once per server)…", max_entries=8)
def loaded_model(name: str, sha256: str | None):
    """The `core.checkpoints.LoadedModel` of checkpoint `name`, built once per server and shared
    (eval mode, read-only use); `sha256` from the index keys the cache, so a re-trained
    checkpoint of the same name is loaded afresh. Raises CheckpointError like `load_model`."""
    from core.checkpoints import load_model

    return load_model(name)


@st.cache_resource(show_spinner=False)
def group_elements(group: str) -> list[tuple[bool, float]]:
    """(flip, angle_deg) of each element of C_N / D_N, in the regular-field channel order."""
    from core.models.equivariant import group_elements as elements

    return call(elements, group)


def rotation_order(group: str) -> int:
    """N of C_N / D_N: the number of rotations, by 360/N degrees each."""
    return int(group[1:])


def classifier_zoo() -> list[dict]:
    """One row per classifier checkpoint with its group and recorded held-out metrics."""
    rows = []
    for e in checkpoints("classifier"):
        m = e.get("metrics") or {}
        row = {"checkpoint": e["name"], "model": e.get("model"),
               "group": (e.get("config") or {}).get("group", "—"),
               "micro AUC": m.get("micro_auc"), "macro AUC": m.get("macro_auc"), "accuracy": m.get("accuracy")}
        for cls, auc in (m.get("per_class_auc") or {}).items():
            row[f"AUC {cls}"] = auc
        row["images (held out)"] = m.get("n")
        rows.append(row)
    return rows


@st.cache_resource(show_spinner=False)
def _slot(kind: str, *key) -> dict:
    """A per-server holder for one lazily built value (see `build_once`)."""
    return {"lock": threading.Lock(), "value": None}


def build_once(kind: str, key: tuple, build: Callable[[], T]) -> T:
    """The value `build()` returns, built by the first caller only and then shared by every session.

    Unlike decorating `build` with `st.cache_resource`, `build` may report progress into
    page elements (an `st.progress` bar): it runs outside Streamlit's cache replay. Other
    callers for the same key wait for the first build and then get its result; a failed
    build is not kept, so the next caller tries again.
    """
    slot = _slot(kind, *key)
    with slot["lock"]:
        if slot["value"] is None:
            slot["value"] = build()
        return slot["value"]


_MODULES_SEEN = [0]  # len(sys.modules) at the last freeze


def freeze_after_imports() -> bool:
    """After a script run that imported modules, move every object alive into Python's permanent generation.

    Streamlit runs `gc.collect(2)` after every script run (`runner.postScriptGC`), on the script thread and
    holding the GIL, so the next rerun and the websocket wait for it. It traverses every object torch, escnn,
    scipy, plotly and astropy created at import: 0.25 s per run on this project's 2-core machine, the slow
    half of the upload -> map interaction. Frozen objects are skipped (measured: 0.7 ms). Imports happen in
    a few early runs only, so whatever else those runs froze (their sessions' values) is small and still freed
    by reference counting; only reference cycles among it are kept. Returns whether it froze.
    """
    if len(sys.modules) == _MODULES_SEEN[0]:
        return False
    _MODULES_SEEN[0] = len(sys.modules)
    gc.freeze()
    return True
