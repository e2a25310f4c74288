"""The image list in the sidebar of every page (app.py calls `sidebar()`): a compact table (a small
thumbnail, name, class label and, once a classifier has looked at the list, its prediction and whether it
is right, kind); a search field and, in an expander, filters by kind, label, prediction or right/wrong
and a sort (ui/image_list_filter.py); one click on a row makes that image current; ✕ removes the current
image and frees its slot.
"""

from __future__ import annotations

import streamlit as st

from core.settings import settings
from ui import state
from ui.image_list import Entry, clear, current_entry, image_list, remove, select
from ui.image_list_filter import (
    NO_LABEL,
    NO_PREDICTION,
    SORTS,
    ListFilter,
    filtered,
    model_key,
    predict,
    verdict,
)

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
