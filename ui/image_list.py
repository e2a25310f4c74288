"""The session's image list: every upload, example and simulation, shown in the sidebar of every page.

One entry is the *current image* every page works on. The sidebar shows the list as a compact table (a
small thumbnail, name, kind, class label and, once a classifier has looked at the list, its prediction and
whether it is right); it filters by name, kind, label, prediction or right/wrong and sorts by any of them,
and one click on a row makes that image current. ✕ removes the current image and frees its slot. The list
is capped per session
(`settings().max_files_per_session` entries and MAX_LIST_BYTES of pixels): the cap counts what is
in the list, not what was ever uploaded.

API for pages and other ui modules (state lives in `st.session_state`, per browser session):
    image_list() -> list[Entry]            the entries, in the order they were added
    current_entry() -> Entry | None        the entry that is the current image
    current_image() -> dict | None         the current image dict of ui.state ({"data", "meta", "name", "kind", ...})
    add_image(loaded, name, kind=..., source=..., ...) -> Entry   add (or find) an entry; InputError when full
    select(entry_id) / remove(entry_id)    what the sidebar buttons do
    update_current(loaded=None, kind=...)  the current entry read again (another FITS plane) or relabelled
    labelled_entries() -> list[Entry]      the entries with a class label (from a zip's class folders)
    record_predictions(model, answers)     a classifier's answers {entry id: (class, probability)} kept on the entries
    filtered(entries, ListFilter) -> list  the entries a filter keeps, in its order
    sidebar()                              draws the list (app.py calls it on every page)

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


# ------------------------------------------------------------------ predictions, filter and sort


def model_key(entry: dict) -> str:
    """The key of a checkpoint's answers on the entries: its name and file (a re-trained one answers afresh)."""
    return f"{entry['name']}@{(entry.get('sha256') or '')[:12]}"


def record_predictions(model: str, answers: dict[str, tuple[str, float]]) -> None:
    """Keep a classifier's answers ({entry id: (class, probability)}) on the entries, under `model` (`model_key`)."""
    for entry in image_list():
        if entry.id in answers:
            cls, prob = answers[entry.id]
            entry.predictions[model] = (str(cls), float(prob))


def verdict(entry: Entry, model: str | None) -> str | None:
    """"right" or "wrong" when the entry has both a class label and `model`'s prediction, else None."""
    answer = entry.predictions.get(model) if model else None
    if answer is None or not entry.label:
        return None
    return "right" if answer[0] == entry.label else "wrong"


NO_LABEL = "no label"
NO_PREDICTION = "no prediction"
SORTS = {  # name -> the sort key of an entry (None last); the model whose answers count is passed along
    "order added": None,
    "name": lambda e, m: e.name.lower(),
    "kind": lambda e, m: e.kind_name,
    "label": lambda e, m: e.label,
    "prediction": lambda e, m: e.predictions[m][0] if m in e.predictions else None,
    "confidence (lowest first)": lambda e, m: e.predictions[m][1] if m in e.predictions else None,
    "wrong first": lambda e, m: {"wrong": 0, "right": 1}.get(verdict(e, m)),
}


@dataclass
class ListFilter:
    """What the sidebar's filter keeps and in which order; empty choices keep everything."""

    text: str = ""  # part of the name (with its folder / zip path), any case
    kinds: tuple[str, ...] = ()  # "disk", "lens", "unknown"
    labels: tuple[str, ...] = ()  # class labels, or NO_LABEL
    predictions: tuple[str, ...] = ()  # predicted classes of `model`, or NO_PREDICTION
    verdicts: tuple[str, ...] = ()  # "right", "wrong"
    sort: str = "order added"
    model: str | None = None  # `model_key` of the classifier whose answers are shown and filtered on


def _keeps(entry: Entry, f: ListFilter) -> bool:
    answer = entry.predictions.get(f.model) if f.model else None
    return ((not f.text or f.text.strip().lower() in entry.name.lower())
            and (not f.kinds or entry.kind_name in f.kinds)
            and (not f.labels or (entry.label or NO_LABEL) in f.labels)
            and (not f.predictions or (answer[0] if answer else NO_PREDICTION) in f.predictions)
            and (not f.verdicts or verdict(entry, f.model) in f.verdicts))


def filtered(entries: list[Entry], f: ListFilter) -> list[Entry]:
    """The entries `f` keeps, sorted by `f.sort` (stable: ties keep the order they were added; unknowns last)."""
    kept = [e for e in entries if _keeps(e, f)]
    key = SORTS.get(f.sort)
    if key is None:
        return kept
    values = {e.id: key(e, f.model) for e in kept}
    return sorted(kept, key=lambda e: (values[e.id] is None, values[e.id] if values[e.id] is not None else 0))


def predict(checkpoint: dict, entries: list[Entry], bar=None) -> str | None:
    """Classify the entries of the kind `checkpoint` was trained on (or of unknown kind) that it has not
    answered yet, each as the pages give it (ui.disk_input.model_image), and keep the answers on them.
    Returns the sentence saying why it cannot (the model does not load), else None."""
    from core.analysis.familiarity import KIND_OF_DATA
    from core.analysis.model_choice import data_of
    from ui import disk_input, inference, models
    from ui.jobs import heavy_job

    problem = models.problem(checkpoint)
    if problem is not None:
        return problem
    key, kind = model_key(checkpoint), KIND_OF_DATA.get(data_of(checkpoint))
    todo = [e for e in entries if key not in e.predictions and e.kind in (kind, None)]
    if not todo:
        return None
    classes = checkpoint.get("classes")
    progress = bar.progress(0.0, text=f"{checkpoint['name']} classifies {len(todo)} images…") if bar else None
    with heavy_job("classifying the image list", key=(key, tuple(e.id for e in todo))):
        for n, entry in enumerate(todo):
            seen = disk_input.model_image(checkpoint, {"data": entry.loaded.data, "meta": entry.loaded.meta})
            probs = inference.class_probabilities(checkpoint["name"], checkpoint.get("sha256"), seen.data)
            best = int(np.argmax(probs))
            entry.predictions[key] = (classes[best] if classes else str(best), float(probs[best]))
            if progress is not None:
                progress.progress((n + 1) / len(todo))
    if progress is not None:
        progress.empty()
    return None


# ------------------------------------------------------------------ the sidebar


TABLE_GEN_KEY = "imglist_table_gen"  # the table's key is imglist-table-<gen>: a new gen clears its selection
SHOWN_KEY = "imglist_shown"  # ids of the table's rows, in the order shown
PREDICT_KEY = "imglist-predict"
NO_MODEL = "none"
TABLE_ROWS = 8  # rows shown before the table scrolls
ROW_PX = 36


def _table_key() -> str:
    return f"imglist-table-{st.session_state.get(TABLE_GEN_KEY, 0)}"


def _open_clicked_row() -> None:
    """A cell clicked in the table (or a row selected): that row's entry becomes current, and the table's
    selection is cleared (a new key), so the next click on any row, this one included, opens it again."""
    state_ = st.session_state.get(_table_key())
    selection = (state_ or {}).get("selection") or {}
    rows = list(selection.get("rows") or []) + [cell[0] for cell in selection.get("cells") or []]
    shown = st.session_state.get(SHOWN_KEY) or []
    if not rows:
        return
    st.session_state[TABLE_GEN_KEY] = st.session_state.get(TABLE_GEN_KEY, 0) + 1
    if 0 <= int(rows[0]) < len(shown):
        select(shown[int(rows[0])])


def _short(name: str) -> str:
    """The file name with its innermost folder (a class folder of a zip says most): "cdm/000.npy"."""
    parts = name.split("/")
    return "/".join(parts[-2:])


def table(entries: list[Entry], current_id: str | None, model: str | None):
    """The sidebar table's rows (a pandas DataFrame): current mark, thumbnail, name, label, the chosen
    classifier's prediction and right/wrong when it has answered, kind."""
    import pandas as pd

    rows = []
    for e in entries:
        row = {"": "●" if e.id == current_id else "", "image": e.thumb_url, "name": _short(e.name), "label": e.label or ""}
        if model:
            answer = e.predictions.get(model)
            row["prediction"] = f"{answer[0]} {answer[1]:.2f}" if answer else ""
            row["✓"] = {"right": "✓", "wrong": "✗"}.get(verdict(e, model), "")
        row["kind"] = e.kind_name
        rows.append(row)
    return pd.DataFrame(rows)


def _filter_controls(bar, entries: list[Entry]) -> ListFilter:
    """The filter's widgets (a search field, then the rest in an expander) and the filter they make."""
    from core.analysis.model_choice import data_of
    from ui import resources

    text = bar.text_input("Find in the list", key="imglist-find", placeholder="part of a name, e.g. cdm/",
                          label_visibility="collapsed")
    with bar.expander("Filter, sort, predict"):
        kinds = sorted({e.kind_name for e in entries})
        chosen_kinds = st.multiselect("Kind", kinds, key="imglist-kinds") if len(kinds) > 1 else []
        labels = sorted({e.label or NO_LABEL for e in entries})
        chosen_labels = st.multiselect("Label", labels, key="imglist-labels") if len(labels) > 1 else []
        classifiers = [c for c in resources.checkpoints("classifier") if data_of(c) in ("lenses", "disks")]
        names = [NO_MODEL] + [c["name"] for c in classifiers]
        if st.session_state.get(PREDICT_KEY) not in names:
            st.session_state.pop(PREDICT_KEY, None)
        name = st.selectbox("Predictions of", names, key=PREDICT_KEY,
                            help="A classifier classifies the images of its kind in the list (once each); then "
                                 "filter and sort by its answers and, for labelled images, by right or wrong.")
        model, predicted, verdicts = None, [], []
        if name != NO_MODEL:
            checkpoint = classifiers[names.index(name) - 1]
            problem = predict(checkpoint, entries, st.empty())
            if problem is not None:
                st.caption(problem)
            else:
                model = model_key(checkpoint)
                answers = sorted({e.predictions[model][0] for e in entries if model in e.predictions})
                extra = [NO_PREDICTION] if any(model not in e.predictions for e in entries) else []
                predicted = st.multiselect("Prediction", answers + extra, key="imglist-preds")
                if any(verdict(e, model) for e in entries):
                    verdicts = st.pills("Right or wrong", ["right", "wrong"], selection_mode="multi",
                                        key="imglist-verdict") or []
        sort = st.selectbox("Sort by", list(SORTS), key="imglist-sort")
    return ListFilter(text, tuple(chosen_kinds), tuple(chosen_labels), tuple(predicted), tuple(verdicts), sort, model)


def sidebar() -> None:
    """The list in the sidebar: a compact table (click a row to make it current), its filter, ✕ and clear."""
    _open_clicked_row()
    entries = image_list()
    bar = st.sidebar
    cap = settings().max_files_per_session
    bar.markdown(f"**Images** ({len(entries)} of {cap})")
    current = current_entry()
    if not entries:
        bar.caption("None yet: upload, simulate or pick an example on the Data page.")
    else:
        f = _filter_controls(bar, entries)
        shown = filtered(entries, f)
        st.session_state[SHOWN_KEY] = [e.id for e in shown]
        if len(shown) < len(entries):
            bar.caption(f"{len(shown)} of {len(entries)} images match.")
        if shown:
            bar.dataframe(table(shown, current.id if current else None, f.model), key=_table_key(),
                          on_select="rerun", selection_mode="single-cell", hide_index=True,  # a click on any cell
                          row_height=ROW_PX, height=ROW_PX * (min(len(shown), TABLE_ROWS) + 1) + 3,
                          column_config={"": st.column_config.TextColumn("", width=16),
                                         "image": st.column_config.ImageColumn("", width=ROW_PX),
                                         "name": st.column_config.TextColumn("name", width=112),
                                         "label": st.column_config.TextColumn("label", width=56),
                                         "prediction": st.column_config.TextColumn("prediction", width=88),
                                         "✓": st.column_config.TextColumn("✓", width=24)})
            bar.caption("Click a row to make its image current (● marks it).")
        a, b = bar.columns(2)
        a.button("✕ Remove current", key="imglist-remove", on_click=remove, args=(current.id if current else "",),
                 type="tertiary", disabled=current is None, help="Take the current image (●) out of the list.")
        b.button("Clear the list", key="imglist-clear", on_click=clear, type="tertiary")
    if state.get_current_image() is not None and current is None:  # set outside the list (a test, a page)
        state.current_image_badge(bar)
