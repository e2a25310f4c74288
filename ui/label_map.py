"""Label on the map: name a few points of the Latent map and a linear probe colours every point.

The user selects reference points on the map (box / lasso / click) or images of the session's
list, types a class name and presses "Label selected". Labels live in `st.session_state[STORE]`,
one set per (checkpoint, sha256, reference set), so they survive page switches and a change of
model. Whenever the labels change, a linear probe (core.analysis.probe; 0.02 s for 60 labels of
64 numbers on two cores) is refitted on the labelled points' invariant vectors and gives every reference point and
every image of the session a predicted class and its probability. Labels download as CSV
(file, x, y, class; x, y on the t-SNE map) and restore from it; the probe downloads as the file
`core.analysis.probe.load_probe` reads, with the backbone's name in it.

The map's placements and overlays are in ui/map_placements.py.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.probe import LinearProbe, fit_probe, probe_bytes
from core.errors import InputError
from ui import image_list, reference
from ui.jobs import heavy_job
from ui.map_placements import job_key, list_entries, seen_images
from ui.markdown import md_escape
from ui.reference import embed_images, relative_files

STORE = "label_map"  # session_state: {store key: {point id: Point}}
MESSAGE = "label_map_message"  # session_state: (level, text) a button leaves for the next render
COLOUR_KEY = "map_colour"  # the page's "Colour by" radio
COLOURINGS = ("cluster", "true label", "predicted class")  # its options
CSV_COLUMNS = ["file", "x", "y", "class"]  # the labels file; x, y = t-SNE coordinates
MIN_OPACITY = 0.15  # opacity of a point the probe is no surer of than chance (1 / number of classes)
HOW_TO = ("Select points on the map (box, lasso or click) or images of your list, type a class name and "
          "press **Label selected**; with two classes labelled, a linear probe colours the whole map.")


@dataclass
class Point:
    """One point a user can label: a reference image or an image of the session's list."""

    id: str  # "ref:<file>" | "img:<name>"
    file: str  # reference file relative to its set ("cdm/000012.npy") or the list entry's name
    source: str  # "reference" | "your image"
    z: np.ndarray  # (d,) invariant vector under the map's model
    tsne: tuple[float, float]  # position on the t-SNE map
    pca: tuple[float, float]  # position on the PCA map
    cls: str = ""  # the class the user gave ("" = not labelled)


@dataclass
class Labelling:
    """The labels of one (model, reference set) and what the probe fitted on them predicts."""

    key: str
    backbone: str  # checkpoint name, written into the probe file
    points: dict[str, Point]  # the session's store for `key` (changed in place by the buttons)
    probe: LinearProbe | None
    note: str | None  # one sentence: why there is no probe yet
    predicted: list[str] | None  # predicted class of each reference point
    confidence: np.ndarray | None  # (N,) its probability

    def classes(self) -> dict[str, int]:
        """Labelled points per class name."""
        counts: dict[str, int] = {}
        for p in self.points.values():
            counts[p.cls] = counts.get(p.cls, 0) + 1
        return dict(sorted(counts.items()))

    def overlay(self, which: str) -> tuple[np.ndarray | None, list[str]]:
        """Map coordinates (L, 2) of the labelled points on the "tsne" or "pca" map, and their hover texts."""
        if not self.points:
            return None, []
        pts = list(self.points.values())
        return np.array([getattr(p, which) for p in pts]), [f"{p.file} · labelled {p.cls}" for p in pts]


def store_key(entry: dict, ref) -> str:
    return f"{entry['name']}|{entry.get('sha256')}|{ref.folder}"


def labels_of(key: str) -> dict[str, Point]:
    """The session's labelled points of one (model, reference set), created empty on first use."""
    return st.session_state.setdefault(STORE, {}).setdefault(key, {})


def labelling(entry: dict, ref) -> Labelling:
    """The current labels of the map of checkpoint `entry` and the probe's predictions on its reference set."""
    key = store_key(entry, ref)
    points = labels_of(key)
    probe, note = fit(points)
    predicted = confidence = None
    if probe is not None:
        predicted, confidence = predict(probe, ref.latents.z)
    return Labelling(key, entry["name"], points, probe, note, predicted, confidence)


def fit(points: dict[str, Point]) -> tuple[LinearProbe | None, str | None]:
    """(probe, None), or (None, the sentence saying what is missing)."""
    if not points:
        return None, HOW_TO
    pts = list(points.values())
    try:
        return _fit(np.stack([p.z for p in pts]), tuple(p.cls for p in pts)), None
    except InputError as exc:
        return None, str(exc)


@st.cache_data(max_entries=32, show_spinner=False)
def _fit(z: np.ndarray, labels: tuple[str, ...]) -> LinearProbe:
    return fit_probe(z, list(labels))


def predict(probe: LinearProbe, z: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Predicted class of each row of `z` (M, d) and its probability (M,)."""
    probs = probe.predict_proba(z)  # (M, K)
    return [probe.classes[k] for k in probs.argmax(axis=1)], probs.max(axis=1)


def opacity(confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """MIN_OPACITY at chance (1 / n_classes) up to 1 at probability 1."""
    chance = 1.0 / max(n_classes, 1)
    sure = np.clip((np.asarray(confidence) - chance) / max(1.0 - chance, 1e-9), 0.0, 1.0)
    return MIN_OPACITY + (1.0 - MIN_OPACITY) * sure


def colouring(lab: Labelling, colour: str, clusters: Sequence, true_labels: Sequence[str] | None,
              hover: Sequence[str]) -> tuple[list, dict]:
    """(group of each reference point, the latent_scatter arguments that go with it) for "Colour by".

    "predicted class" without a probe falls back to the clusters (the panel says why)."""
    if colour == "predicted class" and lab.probe is not None:
        texts = [f"{h} · predicted {c} (p = {p:.2f})" for h, c, p in zip(hover, lab.predicted, lab.confidence, strict=True)]
        return list(lab.predicted), {"group_title": "predicted", "hover": texts,
                                     "opacity": opacity(lab.confidence, len(lab.probe.classes))}
    by_cluster = colour != "true label" or not true_labels
    return list(clusters if by_cluster else true_labels), {"group_title": "cluster" if by_cluster else "class",
                                                           "hover": list(hover), "opacity": None}


def with_predictions(table: pd.DataFrame, lab: Labelling) -> pd.DataFrame:
    """The map's CSV table with the probe's predicted class and probability per reference image (when fitted)."""
    if lab.probe is None:
        return table
    return table.assign(predicted=lab.predicted, probability=lab.confidence)


# ------------------------------------------------------------------ points


def reference_points(ref, pca, indices: Sequence[int]) -> list[Point]:
    files = relative_files(ref)
    return [Point(f"ref:{files[i]}", files[i], "reference", ref.latents.z[i], tuple(map(float, ref.lmap.coords[i])),
                  tuple(map(float, pca.coords[i]))) for i in indices]


def image_points(entry: dict, generator: str, entries: Sequence[image_list.Entry]) -> list[Point]:
    """Points of images of the session's list, placed on both maps (InputError when they cannot be)."""
    if not entries:
        return []
    placed = reference.place_images(entry["name"], entry.get("sha256"), generator, seen_images(entry, entries))
    return [Point(f"img:{e.name}", e.name, "your image", placed["z"][k], tuple(map(float, placed["coords"][k])),
                  tuple(map(float, placed["pca"][k]))) for k, e in enumerate(entries)]


# ------------------------------------------------------------------ files


def labels_csv(points: dict[str, Point]) -> str:
    rows = [(p.file, p.tsne[0], p.tsne[1], p.cls) for p in points.values()]
    return pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(index=False)


def read_labels_csv(raw: bytes) -> list[tuple[str, str]]:
    """(file, class) rows of a labels CSV (columns file and class; others ignored); one sentence when unusable."""
    try:
        table = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one sentence
        raise InputError("This file could not be read as CSV; upload the file the Download labels button wrote.") from exc
    if not {"file", "class"} <= set(table.columns):
        raise InputError("A labels CSV needs the columns file and class (as the Download labels button writes it).")
    rows = [(f.strip(), c.strip()) for f, c in zip(table["file"], table["class"], strict=True)]
    rows = [(f, c) for f, c in rows if f and c]
    if not rows:
        raise InputError("This labels CSV has no row with both a file and a class.")
    return rows


# ------------------------------------------------------------------ buttons (callbacks run before the page)


def _say(level: str, text: str) -> None:
    st.session_state[MESSAGE] = (level, text)


def _store(key: str, points: Sequence[Point], classes: Sequence[str]) -> None:
    store = labels_of(key)
    before = len({p.cls for p in store.values()})
    for p, cls in zip(points, classes, strict=True):
        store[p.id] = replace(p, cls=cls)
    if before < 2 <= len({p.cls for p in store.values()}):
        st.session_state[COLOUR_KEY] = "predicted class"  # the first probe: show what it predicts


def _assign(key: str, points: list[Point], class_key: str) -> None:
    name = str(st.session_state.get(class_key) or "").strip()
    if not points:
        _say("warning", "Select points on the map or images of your list first, then press Label selected.")
    elif not name:
        _say("warning", "Type a class name first, then press Label selected.")
    else:
        _store(key, points, [name] * len(points))
        _say("success", f"Labelled {len(points)} {'point' if len(points) == 1 else 'points'} as “{md_escape(name)}”.")


def _relabel(key: str, edit_key: str, class_key: str) -> None:
    store = labels_of(key)
    ids = [i for i in st.session_state.get(edit_key) or [] if i in store]
    name = str(st.session_state.get(class_key) or "").strip()
    if not ids or not name:
        _say("warning", "Pick labelled points under Labelled points to change and type their class name first.")
        return
    _store(key, [store[i] for i in ids], [name] * len(ids))
    st.session_state[edit_key] = []
    _say("success", f"Relabelled {len(ids)} as “{md_escape(name)}”.")


def _remove(key: str, edit_key: str) -> None:
    store = labels_of(key)
    ids = [i for i in st.session_state.get(edit_key) or [] if i in store]
    for i in ids:
        del store[i]
    st.session_state[edit_key] = []
    _say("success" if ids else "warning",
         f"Removed {len(ids)} labels." if ids else "Pick labelled points under Labelled points to change first.")


def _restore(key: str, upload_key: str, ref, pca, entry: dict, generator: str) -> None:
    upload = st.session_state.get(upload_key)
    if upload is None:
        return
    try:
        rows = read_labels_csv(upload.getvalue())
        index = {f: i for i, f in enumerate(relative_files(ref))}
        mine = {e.name: e for e in list_entries(generator)}
        ref_rows = [(index[f], c) for f, c in rows if f in index]
        img_rows = [(mine[f], c) for f, c in rows if f not in index and f in mine]
        points = reference_points(ref, pca, [i for i, _ in ref_rows]) + image_points(entry, generator, [e for e, _ in img_rows])
    except (InputError, ValueError) as exc:
        _say("error", str(exc))
        return
    _store(key, points, [c for _, c in ref_rows] + [c for _, c in img_rows])
    skipped = len(rows) - len(points)
    what = "row names an image that is" if skipped == 1 else "rows name images that are"
    _say("success" if not skipped else "warning",
         f"Restored {len(points)} labels" + (f"; {skipped} {what} neither in this reference set nor in your image list "
                                              f"and {'was' if skipped == 1 else 'were'} skipped." if skipped else "."))


# ------------------------------------------------------------------ the panel


def _show_message() -> None:
    said = st.session_state.pop(MESSAGE, None)
    if said:
        getattr(st, said[0])(said[1])


def panel(lab: Labelling, ref, pca, entry: dict, generator: str, selected: Sequence[int],
          extra: tuple[list[str], list[np.ndarray]] | None = None) -> None:
    """Label the selection, the table of labels (remove / relabel), downloads, and the predictions for
    the session's images (its list and `extra` = (names, images) placed on the map)."""
    st.subheader("Label on the map")
    entries = list_entries(generator)
    by_id = {e.id: e for e in entries}
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    picked = c1.multiselect("Images of your list", list(by_id), format_func=lambda i: by_id[i].name, key="lm_list",
                            placeholder="none" if entries else "the image list has no image of this kind")
    c2.text_input("Class name", key="lm_class", placeholder="e.g. arc, ring, vortex")
    points = reference_points(ref, pca, selected)
    chosen = [by_id[i] for i in picked if i in by_id]
    job = heavy_job("image placement", key=job_key("place", entry, generator, [e.loaded.data for e in chosen]))
    try:
        with job if chosen else nullcontext():
            points += image_points(entry, generator, chosen)
    except (InputError, ValueError) as exc:
        st.error(str(exc))
    c3.button("Label selected", key="lm_label", type="primary", on_click=_assign, args=(lab.key, points, "lm_class"),
              width="stretch")
    st.caption(f"Selected: {len(selected)} points on the map, {len(points) - len(selected)} images of your list. "
               + (" · ".join(f"{c}: {n}" for c, n in lab.classes().items()) or "No labels yet."))
    _show_message()
    if lab.note:
        st.info(lab.note)
    if lab.points:
        _labels_table(lab, ref)
    st.file_uploader("Restore labels from a CSV", type=["csv"], key="lm_restore", on_change=_restore,
                     args=(lab.key, "lm_restore", ref, pca, entry, generator))
    if lab.probe is not None:
        _your_images(lab, entry, generator, entries, extra or ([], []))


def _labels_table(lab: Labelling, ref) -> None:
    pts = list(lab.points.values())
    known = dict(zip(relative_files(ref), ref.latents.labels, strict=True)) if ref.latents.labels else {}
    table = pd.DataFrame({"file": [p.file for p in pts], "source": [p.source for p in pts],
                          "class": [p.cls for p in pts], "true label": [known.get(p.file, "") for p in pts]})
    if lab.probe is not None:
        table["predicted"], table["probability"] = predict(lab.probe, np.stack([p.z for p in pts]))
    st.dataframe(table, key="lm_table", hide_index=True, height=min(36 * (len(pts) + 1), 300))
    e1, e2, e3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    e1.multiselect("Labelled points to change", list(lab.points), key="lm_edit",
                   format_func=lambda i: f"{lab.points[i].file} ({lab.points[i].cls})" if i in lab.points else i)
    e2.button("Relabel as the class name", key="lm_relabel", on_click=_relabel, args=(lab.key, "lm_edit", "lm_class"))
    e3.button("Remove label", key="lm_remove", on_click=_remove, args=(lab.key, "lm_edit"))
    d1, d2 = st.columns(2)
    d1.download_button("Download labels (CSV)", labels_csv(lab.points), file_name=f"labels_{lab.backbone}.csv",
                       mime="text/csv", key="lm_labels_csv")
    if lab.probe is not None:
        d2.download_button("Download the probe", probe_bytes(lab.probe, backbone=lab.backbone),
                           file_name=f"probe_{lab.backbone}.pt", mime="application/octet-stream", key="lm_probe_file",
                           help="A linear probe on this model's invariant vector: "
                                "`core.analysis.probe.load_probe(path)` -> (probe, backbone name).")


def _your_images(lab: Labelling, entry: dict, generator: str, entries: Sequence[image_list.Entry],
                 extra: tuple[list[str], list[np.ndarray]]) -> None:
    names = [e.name for e in entries]
    images = seen_images(entry, entries)
    known = [e.label or "" for e in entries]
    for name, image in zip(*extra, strict=True):
        if name not in names:
            names.append(name)
            images.append(image)
            known.append("")
    if not images:
        return
    try:
        with heavy_job("classification of your images", key=job_key("embed", entry, generator, images)):
            z = embed_images(entry["name"], entry.get("sha256"), generator, images)
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    predicted, prob = predict(lab.probe, z)
    st.markdown(f"**Your images** ({len(names)}), classified by the probe")
    st.dataframe(pd.DataFrame({"image": names, "label": known, "predicted": predicted, "probability": prob}),
                 key="lm_predictions", hide_index=True)
