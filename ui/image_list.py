"""The session's image list: every upload, example and simulation, shown in the sidebar of every page.

One entry is the *current image* every page works on. The list is capped per session
(`settings().max_files_per_session` entries and MAX_LIST_BYTES of pixels): the cap counts what is
in the list, not what was ever uploaded. The sidebar draws it (ui/image_list_sidebar.py), filtered and
sorted by ui/image_list_filter.py.

API for pages and other ui modules (state lives in `st.session_state`, per browser session):
    image_list() -> list[Entry]            the entries, in the order they were added
    current_entry() -> Entry | None        the entry that is the current image
    current_image() -> dict | None         the current image dict of ui.state ({"data", "meta", "name", "kind", ...})
    add_image(loaded, name, kind=..., source=..., ...) -> Entry   add (or find) an entry; InputError when full
    select(entry_id) / remove(entry_id)    what the sidebar buttons do
    update_current(loaded=None, kind=...)  the current entry read again (another FITS plane) or relabelled
    labelled_entries() -> list[Entry]      the entries with a class label (from a zip's class folders)

`ui.state.get_current_image()` keeps working: selecting an entry writes the current image there.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from core.errors import InputError
from core.io import LoadedImage
from core.settings import settings
from ui import state

LIST_KEY = "image_list"  # list[Entry]
CURRENT_ID_KEY = "image_list_current"  # id of the current entry
MAX_LIST_BYTES = 512 * 2**20  # pixels (and re-readable file bytes) kept per session; a quarter when hosted
THUMB = 48  # thumbnail side in px
SOURCES = ("upload", "example", "simulation")
_IDS = itertools.count(1)
KEEP = object()
SHORT_KINDS = {"disk": "disk", "lens": "lens", None: "kind unknown"}  # update_current: leave the kind as it is


@dataclass
class Entry:
    """One image of the list."""

    id: str  # unique in the session; widget keys derive from it
    name: str  # shown: the file name with its folder / zip path ("lenses.zip/no_sub/000.npy")
    kind: str | None  # "disk" | "lens" | None
    source: str  # "upload" | "example" | "simulation"
    loaded: LoadedImage
    label: str | None = None  # class from the folder it came from (zip class folders), else None
    raw: bytes | None = None  # the file's bytes when it can be read another way (other HDU / plane)
    origin: dict = field(default_factory=dict)  # how to make it again: {"example": file} | {"sim": kind, "values": {...}}
    identity: str = ""  # same identity = same image: adding it again selects the existing entry
    thumb: np.ndarray | None = None  # (THUMB, THUMB) uint8, row 0 at the top
    predictions: dict[str, tuple[str, float]] = field(default_factory=dict)  # model key -> (class, probability)
    _thumb_url: str = ""  # the thumbnail as a PNG data URL (the sidebar table's image column), made once

    @property
    def nbytes(self) -> int:
        return int(self.loaded.data.nbytes) + (len(self.raw) if self.raw else 0)

    def describe(self) -> str:
        """One line: kind, class label, size."""
        h, w = self.loaded.data.shape
        parts = [SHORT_KINDS[self.kind]]
        if self.label:
            parts.append(f"class {self.label}")
        parts.append(f"{h}×{w} px")
        return " · ".join(parts)


    @property
    def kind_name(self) -> str:
        return self.kind or "unknown"

    @property
    def thumb_url(self) -> str:
        """The thumbnail as a data URL of a small greyscale PNG (about 1-2 KB)."""
        if not self._thumb_url and self.thumb is not None:
            import base64
            import io

            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(self.thumb, mode="L").save(buf, format="PNG", optimize=True)
            self._thumb_url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
        return self._thumb_url


def thumbnail(data: np.ndarray, side: int = THUMB) -> np.ndarray:
    """A small uint8 picture of an image: strided down to about `side`, 1-99.5 % percentile stretch,
    flipped so that row 0 is at the bottom as in the page figures."""
    step = max(1, int(np.ceil(max(data.shape) / side)))
    small = np.asarray(data[::step, ::step], dtype=np.float32)
    lo, hi = np.percentile(small, [1.0, 99.5])
    scaled = np.clip((small - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(small)
    return np.flipud((scaled * 255).astype(np.uint8))


def image_list() -> list[Entry]:
    return st.session_state.setdefault(LIST_KEY, [])


def find(entry_id: str) -> Entry | None:
    return next((e for e in image_list() if e.id == entry_id), None)


def current_entry() -> Entry | None:
    """The list entry that is the current image (None when the current image is not from the list)."""
    entry = find(st.session_state.get(CURRENT_ID_KEY, ""))
    image = state.get_current_image()
    return entry if entry is not None and image is not None and image.get("id") == entry.id else None


def current_image() -> dict | None:
    """The image every page works on (`ui.state.get_current_image()`)."""
    return state.get_current_image()


def labelled_entries() -> list[Entry]:
    return [e for e in image_list() if e.label]


def _unique_name(name: str) -> str:
    taken = {e.name for e in image_list()}
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, f".{ext}") if dot else (name, "")
    return next(f"{stem} ({k}){ext}" for k in itertools.count(2) if f"{stem} ({k}){ext}" not in taken)


def room_left() -> int:
    """How many more entries the list takes before its cap."""
    return max(settings().max_files_per_session - len(image_list()), 0)


def add_image(loaded: LoadedImage, name: str, *, kind: str | None, source: str, label: str | None = None,
              raw: bytes | None = None, origin: dict | None = None, identity: str | None = None,
              make_current: bool = True) -> Entry:
    """Add an image to the list (or find the entry with the same identity) and, by default, make it
    current. InputError (one sentence) when the list is full; nothing else changes then."""
    if kind not in state.KINDS:
        raise ValueError(f"The image kind must be 'disk', 'lens' or None, not {kind!r}.")
    if source not in SOURCES:
        raise ValueError(f"The source must be one of {SOURCES}, not {source!r}.")
    identity = identity or f"{source}:{name}:{hashlib.sha256(loaded.data.tobytes()).hexdigest()}"
    entries = image_list()
    existing = next((e for e in entries if e.identity == identity), None)
    if existing is not None:
        if make_current:
            select(existing.id)
        return existing
    cap = settings().max_files_per_session
    if len(entries) >= cap:
        raise InputError(f"{name} was not added: the image list holds {len(entries)} images, the limit of this "
                         "session; remove some (✕ in the sidebar) to make room.")
    size = int(loaded.data.nbytes) + (len(raw) if raw else 0)
    used = sum(e.nbytes for e in entries)
    budget = MAX_LIST_BYTES // (4 if settings().hosted else 1)
    if used + size > budget:
        raise InputError(f"{name} was not added: the image list would hold more than {budget // 2**20} MB "
                         "of pixels; remove some images (✕ in the sidebar) to make room.")
    entry = Entry(id=f"img{next(_IDS)}", name=_unique_name(name), kind=kind, source=source, loaded=loaded,
                  label=label, raw=raw, origin=dict(origin or {}), identity=identity, thumb=thumbnail(loaded.data))
    entries.append(entry)
    if make_current:
        select(entry.id)
    return entry


def added_sentence(entries: list[Entry], before: int) -> str:
    """What an upload did, counted after it: "4 images added (4 with a class label from their folder); the
    list holds 5 …". `entries`: the upload's entries (added or found again); `before`: the list's length
    before the upload. (Regression: the message gave the upload's count as the list's.)"""
    total = len(image_list())
    new = total - before
    again = len(entries) - new
    parts = [f"{new} image{'s' if new != 1 else ''} added"]
    labelled = sum(1 for e in entries if e.label)
    if labelled:
        parts[0] += f" ({labelled} with a class label from their folder)"
    if again > 0:
        parts.append(f"{again} already in the list")
    return (", ".join(parts) + f"; the list holds {total} image{'s' if total != 1 else ''}. "
            "Click a row of the list in the sidebar to make it current.")


def select(entry_id: str) -> None:
    """Make an entry the current image; its origin's widgets (example picker, simulation sliders) follow."""
    entry = find(entry_id)
    if entry is None:
        return
    st.session_state[CURRENT_ID_KEY] = entry.id
    image = state.set_current_image(entry.loaded.data, entry.loaded.meta, entry.name, entry.kind)
    image.update(id=entry.id, label=entry.label, source=entry.source)
    for key, value in (entry.origin.get("widgets") or {}).items():
        st.session_state[key] = value


def remove(entry_id: str) -> None:
    """Take an entry out of the list; when it was current, its neighbour (or nothing) becomes current."""
    entries = image_list()
    index = next((i for i, e in enumerate(entries) if e.id == entry_id), None)
    if index is None:
        return
    was_current = current_entry() is not None and current_entry().id == entry_id
    entries.pop(index)
    if was_current:
        if entries:
            select(entries[min(index, len(entries) - 1)].id)
        else:
            st.session_state.pop(CURRENT_ID_KEY, None)
            state.clear_current_image()


def clear() -> None:
    """Empty the list (and the current image when it came from the list)."""
    if current_entry() is not None:
        state.clear_current_image()
    st.session_state[LIST_KEY] = []
    st.session_state.pop(CURRENT_ID_KEY, None)


def update_current(loaded: LoadedImage | None = None, kind: object = KEEP) -> None:
    """The current entry read again (another HDU or plane) and/or given another kind."""
    entry = current_entry()
    if entry is None:
        return
    if loaded is not None:
        entry.loaded, entry.thumb, entry._thumb_url = loaded, thumbnail(loaded.data), ""
        entry.predictions.clear()  # another plane: the answers were about the one before
    if kind is not KEEP:
        if kind not in state.KINDS:
            raise ValueError(f"The image kind must be 'disk', 'lens' or None, not {kind!r}.")
        entry.kind = kind
    select(entry.id)
