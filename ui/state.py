"""The session's current image and the settings each page keeps, shared by every page through `st.session_state`.

`st.session_state["current_image"]` is a dict
`{"data": (H, W) float32 ndarray, "meta": core.io.ImageMeta, "name": str, "kind": "disk" | "lens" | None}`.

PAGE_SETTINGS names, per page, the widgets whose values survive leaving the page and travel in its link,
each with its bounds (`Number`, `Choice`, `Flag`, `Text`): the page draws the widget with them and
ui.share checks a link's value against them (`check`), so a link can set only what the widget offers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.io import ImageMeta
from ui.markdown import md_escape

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
    where.caption(f"Current image: **{md_escape(image['name'])}** · {h}×{w} px · {KIND_LABELS[image['kind']]}")


# ---------------------------------------------------------------- widget bounds, for widgets and links


def _shown(value) -> str:
    """A link's value as a sentence quotes it: short, Markdown-escaped."""
    text = value if isinstance(value, str) else repr(value)
    return md_escape(text if len(text) <= 40 else text[:40] + "…")


def _number(value) -> int | float | None:
    """A finite int or float (a bool is no number), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None  # an int of any size is finite


def check_number(label: str, value, low, high, default, step=None, text: str | None = None
                 ) -> tuple[int | float, str | None]:
    """(value, sentence or None): `value` as a slider or number input (`low`..`high`, `step`, of `default`'s
    type) takes it: clamped to the bounds, on the step grid, or refused for its default; the sentence says so,
    quoting `text` (the value as the address bar holds it) when given."""
    kind = type(default)
    step = step if step is not None else (1 if kind is int else None)
    said = f"The link set “{md_escape(label)}” to {_shown(value if text is None else text)}"
    number = _number(value)
    if number is None:
        return default, f"{said}, which is not a number: {default}, its default, is used."
    fitted = min(max(number, low), high)
    if step:  # the nearest value a drag could reach; float noise rounded away
        fitted = min(max(low + round((fitted - low) / step) * step, low), high)
        fitted = round(fitted, 10)
    fitted = kind(fitted)
    if number < low:
        return fitted, f"{said}, below its minimum of {low}: {fitted} is used."
    if number > high:
        return fitted, f"{said}, above its maximum of {high}: {fitted} is used."
    if abs(fitted - number) > 1e-9 * max(1.0, abs(step or 0)):
        return fitted, f"{said}, between its steps of {step}: {fitted} is used."
    return fitted, None


def check_choice(label: str, value, options: Sequence, default, text: str | None = None) -> tuple[object, str | None]:
    """(value, sentence or None): `value` if it is one of `options`, else `default` (None: the widget's own)."""
    options = list(options)
    if value in options:
        return value, None
    used = "its default is used" if default is None else f"{_shown(default)}, its default, is used"
    listed = ", ".join(_shown(o) for o in options[:8]) + (", …" if len(options) > 8 else "")
    return default, (f"The link set “{md_escape(label)}” to {_shown(value if text is None else text)}, which is not "
                     f"one of its choices ({listed}): {used}.")


@dataclass(frozen=True)
class Number:
    """A slider's or number input's label and bounds; the type of `default` (int or float) is the widget's."""

    label: str
    low: int | float
    high: int | float
    default: int | float
    step: int | float | None = None

    def bounds(self) -> dict:
        """Keyword arguments of st.slider / st.number_input."""
        return {"min_value": self.low, "max_value": self.high, "value": self.default, "step": self.step}

    def check(self, value, text: str | None = None) -> tuple[object, str | None]:
        return check_number(self.label, value, self.low, self.high, self.default, self.step, text)


@dataclass(frozen=True)
class Choice:
    """A selectbox, radio or segmented control: its options, or "module:NAME" of the module that defines
    them; a refused value leaves the widget its default."""

    label: str
    options: tuple | str

    def choices(self) -> list:
        if isinstance(self.options, str):
            import importlib

            module, _, name = self.options.partition(":")
            return list(getattr(importlib.import_module(module), name))
        return list(self.options)

    def check(self, value, text: str | None = None) -> tuple[object, str | None]:
        options = self.choices()
        return check_choice(self.label, text if text in options else value, options, None, text)


@dataclass(frozen=True)
class Model:
    """A checkpoint picker (ui.widgets.pick_model, the lens finder): any checkpoint this server offers; the page
    then keeps it if it suits the picker, else picks its default."""

    label: str

    def check(self, value, text: str | None = None) -> tuple[object, str | None]:
        from ui import resources

        name = text if text is not None else str(value)
        if any(e["name"] == name for kind in (None, "superres", "encoder") for e in resources.checkpoints(kind)):
            return name, None
        return None, (f"The link names the model {_shown(name)} for “{md_escape(self.label)}”, which this server "
                      "does not have: the page picks its default.")


@dataclass(frozen=True)
class Flag:
    """A toggle or checkbox: true or false."""

    label: str
    default: bool = False

    def check(self, value, text: str | None = None) -> tuple[object, str | None]:
        if isinstance(value, bool):
            return value, None
        shown = _shown(value if text is None else text)
        return self.default, (f"The link set “{md_escape(self.label)}” to {shown}, which is neither true nor false: "
                              f"{str(self.default).lower()}, its default, is used.")


@dataclass(frozen=True)
class Text:
    """A text input: any text, as typed (a number in the address bar stays the text it is)."""

    label: str

    def check(self, value, text: str | None = None) -> tuple[object, str | None]:
        return (str(value) if text is None else text), None


# Widget keys of each page (its url path) whose values survive leaving the page and travel in its link.
# Streamlit forgets a widget's value once its page is left; `remember_settings` copies the values into
# a plain session key after every run and `restore_settings` puts them back before the page runs again.
# The pages draw these widgets from the specs (label, bounds, choices, default). Widgets still drawn from
# literals elsewhere are marked "mirrors ..."; tests/test_hostile_links.py compares each with the widget as drawn.
PAGE_SETTINGS: dict[str, dict[str, Number | Choice | Model | Flag | Text]] = {
    "reconstruct": {
        "recon_model_eq": Model("Equivariant autoencoder"), "recon_model_cnn": Model("CNN autoencoder"),
        "recon_stretch": Choice("Stretch", "ui.image_encoding:STRETCHES"), "recon_cut": Choice("Cut", "ui.image_encoding:CUTS"),
        "recon_cmap": Choice("Colour map", "ui.image_encoding:COLORMAPS"),
        "recon_contours": Number("Contours", 0, 12, 0),  # ui.viewer.controls draws every viewer's controls from these
    },
    "feature_maps": {
        "fm_model_eq": Model("Equivariant model"), "fm_model_cnn": Model("CNN for contrast"),
        "fm_angle": Number("Rotate the input (degrees)", 0, 359, 0),  # the page's slider: its group's 360/N steps
        "fm_flip": Flag("Flip the input first"),
    },
    "latent_map": {
        "map_model": Model("Model"), "map_colour": Choice("Colour by", "ui.label_map:COLOURINGS"),
        "map_method": Choice("Clustering", ("spectral", "kmeans", "hdbscan")),
        "map_k": Number("Clusters (0 = choose by silhouette)", 0, 12, 0),
        "map_search": Text("Find reference images by file name"),
    },
    "equivariance": {
        "eq_model_eq": Model("Equivariant model"), "eq_model_cnn": Model("CNN for contrast"),
        "eq_angle": Number("Rotation angle (degrees)", 0.0, 360.0, 90.0, 1.0), "eq_flip": Flag("Flip"),
        "eq_dy": Number("Shift down (px)", -20, 20, 0), "eq_dx": Number("Shift right (px)", -20, 20, 0),
        "eq_interp": Choice("Resampling of non-right-angle turns", ("bilinear", "sinc")),  # first: the default
        "eq_curves_on": Flag("Measure every angle (first time per model and image: a few seconds)", True),
        "eq_orbit_on": Flag("Place the rotated copies on the latent map (first time: builds the map)"),
    },
    "lenses": {
        "lens_model_eq": Model("Equivariant classifier"), "lens_model_cnn": Model("CNN classifier"),
        "lens_finder": Model("Lens finder"),
        "lens_evaluate": Flag("Evaluate the classifiers (first time: simulate and classify the reference set)", True),
        "lens_pixel_scale": Number("Pixel scale of this image (arcsec per pixel; 0 = not known)", 0.0, 1.0, 0.0, 0.001),
    },
    "batch": {"batch_model": Model("Model"), "batch_source": Choice("Data", ("list", "zip"))},
    "superres": {
        "sr_source": Choice("LR image", ("Simulated pair (DeepLense Model II sky)", "Current image", "Upload")),
        "sr_seed": Number("Seed", 0, 10**6, 7), "sr_sub": Choice("Substructure", ("cdm", "no_sub", "vortex")),
        "sr_model_eq": Model("Equivariant superres"), "sr_model_base": Model("CNN superres"),
        "sr_stretch": Choice("Stretch", "ui.images:STRETCHES"), "sr_action": Choice("Group element g", "ui.superres:GROUP_ACTIONS"),
    },
}  # fmt: skip
SETTINGS = {key: spec for page in PAGE_SETTINGS.values() for key, spec in page.items()}  # every linked widget
KEPT_KEY = "kept_settings"


PIXEL_SCALE_KEY = "lens_pixel_scale"  # the Lenses page's field for an image whose file gives no pixel scale


def pixel_scale(image: dict) -> tuple[float | None, str]:
    """(arcsec per pixel, "file" | "user") of an image: its file's (header), else the one the user set in
    the Lenses page's field (drawn, kept from an earlier visit or from a link), else (None, "file")."""
    meta = image.get("meta")
    scale = getattr(meta, "pixel_scale_arcsec", None)
    if scale:
        return float(scale), "file"
    typed = st.session_state.get(PIXEL_SCALE_KEY, st.session_state.get(KEPT_KEY, {}).get(PIXEL_SCALE_KEY))
    if _number(typed) is not None and typed > 0:
        return float(typed), "user"
    return None, "file"


def true_label(image: dict) -> str | None:
    """The current image's class when it is known: the label of its zip or folder class (ui.image_list), a
    shipped example's label (examples/manifest.json) or a simulated lens's substructure; else None."""
    if image.get("label"):
        return str(image["label"])
    from ui import image_list

    entry = image_list.find(image.get("id", ""))
    origin = entry.origin if entry is not None else {}
    if origin.get("sim") == "lens":
        return (origin.get("widgets") or {}).get("sim_lens_sub")
    if "example" in origin:
        from ui.examples_tab import example_entries

        return next((e.get("label") for e in example_entries() if e["file"] == origin["example"]), None)
    return None


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
