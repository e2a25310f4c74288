"""Reference sets in the app: built once per (checkpoint sha256, generator) and shared by every visitor.

The science (which images, seed, presets, folders, latents, map, classifier report) is
core.analysis.reference_sets; here each result is kept once per server (`build_once`,
`st.cache_data`), and the helpers the pages draw with. The latents and the fitted map are also
cached on disk by core.analysis, so a restarted server does not recompute them. New images (the
current one, its rotated copies) are placed into the frozen map, never refitted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import reference_sets
from core.analysis.reference_sets import ReferenceMap, stage
from core.progress import Progress
from ui.markdown import md_escape
from ui.resources import build_once, loaded_model


def _folder_key(name: str, generator: str) -> str:
    return str(reference_sets.folder_for(name, generator))


def reference_map(name: str, sha256: str | None, generator: str,
                  progress: Progress | None = None) -> ReferenceMap:
    """Latents and t-SNE map of the reference set under checkpoint `name`, built once per server."""
    key = (name, sha256, _folder_key(name, generator))
    return build_once("reference_map", key, lambda: _build_reference_map(name, sha256, generator, progress))


def _build_reference_map(name: str, sha256: str | None, generator: str, progress: Progress | None) -> ReferenceMap:
    latents = reference_latents(name, sha256, generator, progress=stage(progress, 0.0, 0.6))
    return reference_sets.reference_map(latents, reference_sets.folder_for(name, generator), stage(progress, 0.6, 0.4))


def reference_latents(name: str, sha256: str | None, generator: str, progress: Progress | None = None):
    """The reference set's latents (core.analysis.encode.Latents) under checkpoint `name`, once per server
    (no map: familiarity and batch evaluation need only these)."""
    key = (name, sha256, _folder_key(name, generator))
    return build_once("reference_latents", key, lambda: reference_sets.reference_latents(
        loaded_model(name, sha256), generator, reference_sets.preset_for(name, generator), progress))


def familiarity_reference(name: str, sha256: str | None, generator: str, progress: Progress | None = None):
    """core.analysis.familiarity.FamiliarityReference of the reference latents, once per server."""
    from core.analysis.familiarity import FamiliarityReference

    key = (name, sha256, _folder_key(name, generator))
    return build_once("familiarity_reference", key, lambda: FamiliarityReference.fit(
        reference_latents(name, sha256, generator, progress).z))


@st.cache_data(max_entries=16, show_spinner="Clustering the latents…")
def clusters(name: str, sha256: str | None, generator: str, method: str, k: int | None) -> dict:
    """Cluster labels of the reference latents and, when labels are known, ARI and NMI."""
    from core.analysis.cluster import agreement, cluster_latents

    ref = reference_map(name, sha256, generator)
    result = cluster_latents(ref.latents.z, method=method, k=k)
    scores = agreement(ref.latents.labels, result.labels) if ref.latents.labels else None
    return {"labels": result.labels, "k": result.k, "silhouette": result.silhouette, "agreement": scores}


@st.cache_data(max_entries=64, show_spinner="Encoding the images…")
def embed_images(name: str, sha256: str | None, generator: str, images: list[np.ndarray]) -> np.ndarray:
    """Invariant vectors (M, d) of 2-D images under checkpoint `name`, as the map sees them: the pages pass
    each image as the model sees it (ui.disk_input.model_images: a disk model's cutout, as on Reconstruct)."""
    from core.analysis.encode import encode_images

    return encode_images(loaded_model(name, sha256), images)  # (M, d)


@st.cache_data(max_entries=64, show_spinner="Placing the image on the map…")
def place_images(name: str, sha256: str | None, generator: str, images: list[np.ndarray]) -> dict:
    """Raw 2-D images on the maps: their invariant vectors "z" (M, d), their nearest reference images in
    latent space ("neighbours", "distances": (M, k), the ones the page lists) and map positions: "coords"
    (M, 2) as shown, "tsne" where openTSNE put them, "moved" (M,) where most neighbours lay elsewhere (then
    shown at their "centre"), "scattered" (M,) where no spot holds most of them, "offset" (M,) |tsne - centre|
    in map spacings, "notes" one sentence or None each (core.analysis.tsne_map.Placement); "pca" (M, 2)."""
    ref = reference_map(name, sha256, generator)
    z = embed_images(name, sha256, generator, images)  # (M, d)
    p = ref.lmap.placement(z)
    return {"coords": p.coords, "tsne": p.tsne, "centre": p.centre, "moved": p.moved, "scattered": p.scattered,
            "offset": p.offset, "near_tsne": p.near_tsne, "notes": [p.note(i) for i in range(len(z))],
            "spacing": p.spacing, "radius": p.radius, "pca": pca_map(name, sha256, generator).place(z),
            "neighbours": p.neighbours, "distances": p.distances, "z": z}


def pca_map(name: str, sha256: str | None, generator: str):
    """core.analysis.pca_map.PCAMap of the reference latents, once per server."""
    from core.analysis.pca_map import PCAMap

    key = (name, sha256, _folder_key(name, generator))
    return build_once("pca_map", key, lambda: PCAMap(reference_map(name, sha256, generator).latents.z))


def search(ref: ReferenceMap, text: str) -> list[int]:
    """Reference indices whose file path (relative to the reference folder) contains `text` (case-insensitive)."""
    text = text.strip().lower()
    if not text:
        return []
    return [i for i, f in enumerate(ref.latents.files) if text in _relative(ref, f).lower()]


def _relative(ref: ReferenceMap, f: str) -> str:
    return str(Path(f).relative_to(ref.folder)) if Path(f).is_relative_to(ref.folder) else str(f)


def relative_files(ref: ReferenceMap) -> list[str]:
    """Each reference image's path relative to the reference folder ("cdm/000012.npy"), in map order."""
    return [_relative(ref, f) for f in ref.latents.files]


def neighbour_gallery(ref: ReferenceMap, image: np.ndarray, name: str, indices, distances, n_cols: int = 7) -> None:
    """The image (on a thumbnail grid) beside its nearest reference images, numbered as on the map, each with
    its latent distance."""
    from core.data.preprocess import prepare
    from ui.errors import call

    cols = st.columns(n_cols)
    cols[0].image(np.flipud(prepare(image, 96)), caption=f"{md_escape(name)} (this image)", clamp=True, width="stretch")
    labels = ref.latents.labels
    for k, (idx, dist) in enumerate(zip(indices[:n_cols - 1], distances[:n_cols - 1], strict=True)):
        path = ref.latents.files[idx]
        thumb = call(thumbnail, path, stop=False)
        if thumb is None:
            continue
        label = f"{labels[idx]} · " if labels else ""
        cols[k + 1].image(np.flipud(thumb), caption=f"{k + 1}. {label}{_relative(ref, path)} · distance {dist:.3g}",
                          width="stretch")


@st.cache_data(max_entries=512, show_spinner=False)
def thumbnail(path: str, size: int = 96) -> np.ndarray:
    """A reference image on a small grid as uint8 (0-255, row 0 first), for galleries and the point card."""
    from core.data.preprocess import prepare
    from core.io import read_image

    return (np.clip(prepare(read_image(Path(path)).data, size), 0.0, 1.0) * 255).round().astype(np.uint8)


def point_card(ref: ReferenceMap, index: int, where=None, extra: str = "") -> None:
    """The picture of one reference point with its label and file (the map's answer to a click: plotly's
    hover cannot show images, so a click selects the point and this card shows it)."""
    from ui.errors import call

    where = where if where is not None else st
    thumb = call(thumbnail, ref.latents.files[index], 128, stop=False)
    if thumb is None:
        return
    label = f"{ref.latents.labels[index]} · " if ref.latents.labels else ""
    where.image(np.flipud(thumb), caption=f"{label}{_relative(ref, ref.latents.files[index])}{extra}",
                width="stretch")


def hover_texts(ref: ReferenceMap) -> list[str]:
    """"label · file name" of each reference point, for the map's hover labels."""
    labels = ref.latents.labels or [""] * len(ref.latents.files)
    return [f"{lab} · {_relative(ref, f)}" for lab, f in zip(labels, ref.latents.files, strict=True)]


def table(ref: ReferenceMap, cluster_labels: np.ndarray | None, pca: np.ndarray | None = None) -> pd.DataFrame:
    """One row per reference image: file, known label, cluster, t-SNE (and PCA) coordinates."""
    z = ref.latents
    return pd.DataFrame({
        "file": relative_files(ref),
        "label": z.labels if z.labels else [""] * len(z.files),
        "cluster": cluster_labels if cluster_labels is not None else [-1] * len(z.files),
        "tsne_x": ref.lmap.coords[:, 0],
        "tsne_y": ref.lmap.coords[:, 1],
        **({"pc1": pca[:, 0], "pc2": pca[:, 1]} if pca is not None else {}),
    })


def classifier_report(name: str, sha256: str | None, progress: Progress | None = None) -> dict:
    """core.analysis.reference_sets.classifier_report of checkpoint `name` on its own preset's reference lenses
    ({"roc": RocReport, "confusion": (K, K) counts, "accuracy", "classes", "n", ...}), once per server and checkpoint."""
    key = (name, sha256, _folder_key(name, "lenses"))
    return build_once("classifier_report", key, lambda: reference_sets.classifier_report(
        loaded_model(name, sha256), reference_sets.preset_of(name), progress))


MAX_PLACED = 20  # uploads placed on the map at once


def read_uploads(uploads) -> tuple[list[str], list[np.ndarray]]:
    """(names, 2-D images) of uploaded files for the map; an unreadable file is one error line, the rest stay."""
    from core.io import read_image
    from core.settings import settings
    from ui.errors import call

    if len(uploads) > MAX_PLACED:
        st.warning(f"Only the first {MAX_PLACED} of {len(uploads)} files are placed.")
    names, images = [], []
    for upload in list(uploads)[:MAX_PLACED]:
        loaded = call(read_image, upload.getvalue(), upload.name, max_pixels=settings().max_pixels, stop=False)
        if loaded is not None:
            names.append(upload.name)
            images.append(loaded.data)
    return names, images
