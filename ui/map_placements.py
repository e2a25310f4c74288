"""The Latent map's placements and overlays: the session's whole image list placed at once (a button, one heavy
job), the current image's listed neighbours numbered and linked to its star, a hollow star where t-SNE put an
image that was then placed by its neighbours (core.analysis.tsne_map), the placements table, and the side
panel: the clicked point's picture (plotly's hover cannot show images) and how familiar the current image's
latent is to the reference set. Every image is embedded as the model sees it (ui.disk_input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.familiarity import KIND_OF_DATA
from core.errors import InputError
from ui import disk_input, image_list, reference
from ui.familiarity import map_notes, show
from ui.jobs import fingerprint, heavy_job
from ui.reference import relative_files

LIST_KEY = "map_list_placed"  # session_state: True while the whole image list is placed on the map


def seen_images(entry: dict, entries: Sequence[image_list.Entry]) -> list[np.ndarray]:
    """The list images as the model sees them (ui.disk_input: a disk model's cutout), what the map embeds."""
    return disk_input.model_images(entry, [{"data": e.loaded.data, "meta": e.loaded.meta} for e in entries])


def list_entries(generator: str) -> list[image_list.Entry]:
    """Images of the session's list the model's map is for (their kind matches, or is unknown)."""
    return [e for e in image_list.image_list() if e.kind in (KIND_OF_DATA.get(generator), None)]


def job_key(step: str, entry: dict, generator: str, images: Sequence[np.ndarray]) -> tuple:
    """The `heavy_job` key of encoding `images` under checkpoint `entry` (the result is cached per key)."""
    return (step, entry["name"], entry.get("sha256"), generator, fingerprint(images))


def list_button(where, generator: str, skip_id: str | None = None) -> list[image_list.Entry]:
    """The "Place the whole image list" button (a toggle kept in the session); the list entries of the
    model's kind to place (the current image `skip_id` is placed anyway), [] while not asked for."""
    entries = [e for e in list_entries(generator) if e.id != skip_id]
    placed = bool(st.session_state.get(LIST_KEY))
    if placed:
        where.button("Take the image list off the map", key="map_list_off", on_click=_set_list, args=(False,),
                     width="stretch")
    else:
        where.button(f"Place the whole image list ({len(entries)})", key="map_list_on", on_click=_set_list,
                     args=(True,), disabled=not entries, width="stretch",
                     help="Every image of your list of the kind this model was trained on, as stars on both maps.")
    return entries if placed else []


def _set_list(on: bool) -> None:
    st.session_state[LIST_KEY] = on


def place_list(entry: dict, generator: str, entries: Sequence[image_list.Entry]) -> dict | None:
    """reference.place_images of the list `entries` as one heavy job (queued on a hosted demo); None on an error."""
    if not entries:
        return None
    images = seen_images(entry, entries)
    try:
        with heavy_job("image placement", key=job_key("place", entry, generator, images)):
            return reference.place_images(entry["name"], entry.get("sha256"), generator, images)
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return None


def add_neighbours(fig, ref, star: np.ndarray, neighbours: Sequence[int], distances: Sequence[float], coords) -> None:
    """The current image's listed neighbours on a map: numbered as in the gallery, each linked to the star."""
    import plotly.graph_objects as go

    nb = np.asarray(neighbours, dtype=int)
    if not len(nb):
        return
    pts = np.asarray(coords)[nb]
    xs = np.column_stack([np.full(len(nb), star[0]), pts[:, 0], np.full(len(nb), np.nan)]).ravel()
    ys = np.column_stack([np.full(len(nb), star[1]), pts[:, 1], np.full(len(nb), np.nan)]).ravel()
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="to the neighbours", hoverinfo="skip",
                             line={"width": 1, "color": "rgba(0,0,0,0.35)"}, showlegend=False))
    files = relative_files(ref)
    fig.add_trace(go.Scatter(
        x=pts[:, 0], y=pts[:, 1], mode="text", name="neighbour numbers", text=[str(k + 1) for k in range(len(nb))],
        textposition="top right", textfont={"size": 11, "color": "black"}, showlegend=False,
        hovertext=[f"neighbour {k + 1}: {files[i]} · latent distance {d:.3g}" for k, (i, d) in enumerate(zip(nb, distances, strict=True))],
        hoverinfo="text"))


def add_tsne_positions(fig, placed: dict, names: Sequence[str]) -> None:
    """A hollow star where t-SNE put each image that was then placed by its neighbours, dotted to the star."""
    import plotly.graph_objects as go

    moved = np.flatnonzero(np.asarray(placed["moved"]))
    if not len(moved):
        return
    t, c = np.asarray(placed["tsne"])[moved], np.asarray(placed["coords"])[moved]
    nan = np.full(len(moved), np.nan)
    fig.add_trace(go.Scatter(x=np.column_stack([t[:, 0], c[:, 0], nan]).ravel(),
                             y=np.column_stack([t[:, 1], c[:, 1], nan]).ravel(), mode="lines", hoverinfo="skip",
                             line={"dash": "dot", "width": 1, "color": "#555"}, showlegend=False, name="moved by"))
    fig.add_trace(go.Scatter(
        x=t[:, 0], y=t[:, 1], mode="markers", name="t-SNE's own position",
        text=[f"{names[i]}: t-SNE put it here, near {placed['near_tsne'][i]} of its {len(placed['neighbours'][i])} "
              "nearest neighbours" for i in moved],
        marker={"size": 16, "symbol": "star-open", "color": "#555", "line": {"width": 1.5}},
        hovertemplate="%{text}<extra></extra>"))


def add_list(fig, coords: np.ndarray, entries: Sequence[image_list.Entry]) -> None:
    """The placed image list as small stars (names on hover; many labels would bury the map)."""
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    text = [e.name + (f" · {e.label}" if e.label else "") for e in entries]
    fig.add_trace(go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers", name="image list", text=text,
                             marker={"size": 12, "symbol": "star", "color": "black",
                                     "line": {"width": 1, "color": "gold"}},
                             hovertemplate="%{text}<extra>your list</extra>"))


def side_panel(where, ref, selected: Sequence[int], image: dict | None, placed: dict | None, entry: dict,
               generator: str) -> None:
    """Beside the maps: how familiar the current image's latent is, then the clicked point's picture."""
    if image is not None and placed is not None:
        where.markdown("**This image**")
        fam = familiarities(entry, generator, placed["z"][:1])
        show(map_notes(image, generator, fam[0] if fam else None), where)
    where.markdown("**Clicked point**")
    if not selected:
        where.caption("Lasso or box a point on either map to see its image here, or click it after choosing Pan "
                      "or Zoom in the map's toolbar; every selected image is also shown below the maps.")
        return
    reference.point_card(ref, selected[0], where)
    if len(selected) > 1:
        where.caption(f"The first of {len(selected)} selected; all of them are below the maps.")


def placement_notes(placed: dict | None, current: bool, list_placed: dict | None) -> None:
    """Under the maps: the current image's placement sentence, and how many other placed images t-SNE put
    away from most of their neighbours (moved: hollow stars) or whose neighbours lie apart."""
    if current and placed["notes"][0]:
        st.info(placed["notes"][0], icon=":material/call_split:")
    others = [p for p in (placed, list_placed) if p is not None]
    skip = 1 if current else 0
    moved = sum(int(np.sum(p["moved"][skip if p is placed else 0:])) for p in others)
    apart = sum(int(np.sum(p["scattered"][skip if p is placed else 0:])) for p in others)
    if moved:
        st.caption(f"{moved} other placed {'image was' if moved == 1 else 'images were'} placed among most of "
                   f"{'its' if moved == 1 else 'their'} nearest neighbours; the hollow stars mark where t-SNE put "
                   f"{'it' if moved == 1 else 'them'} (the table below says how many neighbours were near there).")
    if apart:
        st.caption(f"{apart} other placed {'image has' if apart == 1 else 'images have'} nearest neighbours that lie "
                   "apart on this map; t-SNE's position is kept (see the table below).")


def familiarities(entry: dict, generator: str, z: np.ndarray) -> list | None:
    """core.analysis.familiarity.Familiarity of each latent row of `z` (M, d) the map placed, against the
    reference set (the same cut-out latents as the stars, not whole frames); None when it cannot be computed."""
    from ui.errors import call

    fref = call(reference.familiarity_reference, entry["name"], entry.get("sha256"), generator, stop=False)
    return fref.score(np.asarray(z)) if fref is not None else None


def overlay(fig, ref, which: str, map_coords: np.ndarray, placed: dict | None, names: Sequence[str],
            current: bool, listed: Sequence[image_list.Entry] = (), list_placed: dict | None = None) -> None:
    """Everything placed on one map (`which` = "coords" for t-SNE, "pca"): the image list's stars, the current
    image's numbered neighbours, and on t-SNE the hollow stars of moved images; the placed stars stay on top."""
    if list_placed is not None:
        add_list(fig, list_placed[which], listed)
    if placed is not None and current:
        add_neighbours(fig, ref, placed[which][0], placed["neighbours"][0], placed["distances"][0], map_coords)
    if which == "coords":
        for done, labels in ((placed, names), (list_placed, [e.name for e in listed])):
            if done is not None:
                add_tsne_positions(fig, done, labels)
    top = [t.marker.symbol == "star" and t.name != "image list" for t in fig.data]  # the placed images
    pairs = list(zip(fig.data, top, strict=True))
    fig.data = tuple(t for t, up in pairs if not up) + tuple(t for t, up in pairs if up)
    fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "entrywidth": 0.33,
                              "entrywidthmode": "fraction"})  # above the map, which keeps its width


def placed_table(placed: dict | None, names: Sequence[str], current: bool, list_placed: dict | None,
                 listed: Sequence[image_list.Entry], entry: dict, generator: str) -> pd.DataFrame:
    """One row per placed image: where it is on both maps, whether t-SNE or its neighbours placed it, the
    nearest reference distance and its familiarity percentile."""
    parts = []
    for done, labels, source in ((placed, list(names), "upload"), (list_placed, [e.name for e in listed], "your list")):
        if done is None:
            continue
        source = [("current image" if k == 0 and current and done is placed else source) for k in range(len(labels))]
        fam = familiarities(entry, generator, done["z"])
        parts.append(pd.DataFrame({
            "image": labels, "from": source, "tsne_x": done["coords"][:, 0], "tsne_y": done["coords"][:, 1],
            "pc1": done["pca"][:, 0], "pc2": done["pca"][:, 1],
            "placed by": np.where(done["moved"], "its neighbours",
                                  np.where(done["scattered"], "t-SNE (neighbours apart)", "t-SNE")),
            "neighbours near t-SNE's spot": done["near_tsne"],
            "nearest distance": np.asarray(done["distances"])[:, 0],
            "familiarity percentile": [round(f.percentile) for f in fam] if fam else np.nan}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
