"""The session's current image, shared by every page through `st.session_state`.

`st.session_state["current_image"]` is a dict
`{"data": (H, W) float32 ndarray, "meta": core.io.ImageMeta, "name": str, "kind": "disk" | "lens" | None}`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.io import ImageMeta

CURRENT_KEY = "current_image"
KINDS = ("disk", "lens", None)
KIND_LABELS = {"disk": "protoplanetary disk", "lens": "strong lens", None: "unknown kind"}


def set_current_image(
    data: np.ndarray, meta: ImageMeta, name: str, kind: str | None = None
) -> dict:
    """Make `data` the image every page works on; returns the stored dict."""
    if kind not in KINDS:
        raise ValueError(f"The image kind must be 'disk', 'lens' or None, not {kind!r}.")
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"The current image must be 2-D, not of shape {data.shape}.")
    image = {"data": data, "meta": meta, "name": str(name), "kind": kind}
    st.session_state[CURRENT_KEY] = image
    return image


def get_current_image() -> dict | None:
    """The current image dict, or None when none has been chosen in this session."""
    return st.session_state.get(CURRENT_KEY)


def clear_current_image() -> None:
    st.session_state.pop(CURRENT_KEY, None)


def is_current(name: str, data: np.ndarray) -> bool:
    """Whether this image (same name and same pixels) is the current one."""
    image = get_current_image()
    return bool(
        image is not None and image["name"] == name and image["data"].shape == data.shape
        and np.array_equal(image["data"], data)
    )  # fmt: skip


def current_image_badge(container=None) -> None:
    """One line naming the current image (in the sidebar by default)."""
    where = container if container is not None else st.sidebar
    image = get_current_image()
    if image is None:
        where.caption("Current image: none yet (Data page).")
        return
    h, w = image["data"].shape
    where.caption(f"Current image: **{image['name']}** · {h}×{w} px · {KIND_LABELS[image['kind']]}")


# Widget keys of each page (its url path) whose values survive leaving the page and travel in its link.
# Streamlit forgets a widget's value once its page is left; `remember_settings` copies the values into
# a plain session key after every run and `restore_settings` puts them back before the page runs again.
PAGE_SETTINGS = {
    "reconstruct": ("recon_model_eq", "recon_model_cnn", "recon_stretch", "recon_cut", "recon_cmap", "recon_contours"),
    "feature_maps": ("fm_model_eq", "fm_model_cnn", "fm_angle", "fm_flip"),
    "latent_map": ("map_model", "map_colour", "map_method", "map_k", "map_search"),
    "equivariance": ("eq_model_eq", "eq_model_cnn", "eq_angle", "eq_flip", "eq_dy", "eq_dx", "eq_curves_on",
                     "eq_orbit_on"),
    "lenses": ("lens_model_eq", "lens_model_cnn", "lens_finder", "lens_evaluate"),
    "batch": ("batch_model", "batch_source"),
    "superres": ("sr_source", "sr_seed", "sr_sub", "sr_model_eq", "sr_model_base", "sr_stretch", "sr_action"),
}  # fmt: skip
KEPT_KEY = "kept_settings"


def restore_settings(page: str) -> None:
    """Before page `page` runs: its widgets start from the values they had when it was last left."""
    kept = st.session_state.get(KEPT_KEY, {})
    for key in PAGE_SETTINGS.get(page, ()):
        if key not in st.session_state and key in kept:
            st.session_state[key] = kept[key]


def remember_settings(page: str) -> None:
    """After page `page` ran (or stopped): keep its widgets' values for the next visit."""
    kept = st.session_state.setdefault(KEPT_KEY, {})
    for key in PAGE_SETTINGS.get(page, ()):
        if key in st.session_state:
            kept[key] = st.session_state[key]
