"""The image a model sees: one function for every page that serves a model on the current image.

A disk model sees the disk cut out of the image (core.data.cutout: the source found automatically, or the
user's box set on the Data or Reconstruct page, `ui.widgets.shared_cutout_box`), resampled to its grid and
scaled to [0, 1], with NaN / Inf pixels the reader filled (`ImageMeta.fill_value`) masked, exactly as
`core.analysis.reconstruct.reconstruct_cutout` cuts it for the Reconstruct page: both call
`core.analysis.reconstruct.model_cutout`, which first takes the image as linear physical brightness or a figure
(core.io.stretch.brightness_input; a figure's stretch undone for a model that never saw figures) and says which in
one sentence, the second line of `ModelImage.caption`. Any other model (lenses)
sees the whole image on the grid it was trained at (`ui.inference.grid_view`, as on the Lenses page:
resampled to its arcsec per pixel and cropped or padded to its field when both have a pixel scale).
`ui.inference` then puts either on the model grid (`core.data.preprocess.prepare`, which leaves a cutout
unchanged: it is already square, on the grid and spans [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st


@dataclass
class ModelImage:
    """What one model is given: `data` to hand to ui.inference, and how it was made."""

    data: np.ndarray  # (S, S) cutout in [0, 1] for a disk model, else the image on the model's training grid
    notes: list[str] | None  # the cutout's notes (core.data.cutout.Cutout.notes); None: the whole image
    box: tuple[int, int, int, int] | None = None  # (row0, row1, col0, col1) in image pixels
    grid_note: str | None = None  # a lens model: what putting the image on its training grid did (or None)
    brightness_note: str | None = None  # a disk model: linear or figure-like, and what was done (core.io.stretch)

    @property
    def caption(self) -> str | None:
        """What the pages write under each model: the cutout it saw (as on the Reconstruct page) and, on a line of
        its own, what the image was taken to be (linear or figure-like), or what was done to put the image on its
        training grid (as on the Lenses page); None when nothing."""
        return self.grid_note if self.notes is None else cutout_caption(self.notes, self.brightness_note)


def cutout_caption(notes: list[str], brightness_note: str | None = None) -> str:
    """"Cutout: <the cutout's notes>" and, on a second line, the brightness sentence: the caption of every disk
    page, the Reconstruct page's too."""
    return "Cutout: " + " ".join(notes) + (f"  \n{brightness_line(brightness_note)}" if brightness_note else "")


def brightness_line(sentence: str) -> str:
    """core.io.stretch's sentence as a caption (markdown-escaped: it quotes the file's BUNIT)."""
    from ui.markdown import md_escape

    return md_escape(sentence)


def brightness_facts(image: dict) -> tuple:
    """What core.io.stretch.assume_brightness reads of the image's meta, as a hashable tuple for the caches:
    (source_format, bunit, beam); all None without a meta (an array placed on the Latent map)."""
    meta = image.get("meta")
    beam = getattr(meta, "beam", None)
    return (getattr(meta, "source_format", None), getattr(meta, "bunit", None), tuple(beam) if beam else None)


def facts_meta(facts: tuple | None):
    """brightness_facts back as the object assume_brightness reads (None: nothing known but the pixels)."""
    from types import SimpleNamespace

    if facts is None:
        return None
    source_format, bunit, beam = facts
    return SimpleNamespace(source_format=source_format, bunit=bunit, beam=beam)


@st.cache_data(max_entries=32, show_spinner=False)
def disk_cutout(data: np.ndarray, size: int, pixel_scale_arcsec: float | None, fill_value: float | None,
                box: tuple | None, facts: tuple | None = None, saw_figures: bool | None = None) -> dict:
    """core.analysis.reconstruct.model_cutout of `data` on the (size, size) grid, as the Reconstruct page cuts it:
    {image, valid, box, source, notes, brightness}. `box`: the pages' tuple (CutoutBox.from_tuple) or None
    (automatic). `facts` (brightness_facts) and `saw_figures` (core.io.stretch.saw_figures of the model): the
    linear-or-figure step and its sentence (`brightness`); `saw_figures=None` (the Data page's box): the image as it is."""
    from core.analysis.reconstruct import model_cutout
    from core.data.cutout import CutoutBox

    cut, brightness = model_cutout(data, size, box=CutoutBox.from_tuple(box), pixel_scale_arcsec=pixel_scale_arcsec,
                                   fill_value=fill_value, meta=facts_meta(facts), model_saw_figures=saw_figures)
    return {"image": cut.image, "valid": cut.valid, "box": cut.box, "source": cut.source, "notes": cut.notes,
            "brightness": brightness}


def sees_cutout(entry: dict) -> bool:
    """Whether checkpoint `entry` is a disk model (trained on disks), which sees the cutout."""
    from core.analysis.model_choice import data_of

    return data_of(entry) == "disks"


def model_image(entry: dict, image: dict, current: bool = True) -> ModelImage:
    """The current image (`{"data", "meta", ...}`) as checkpoint `entry` sees it (see the module's docstring);
    `current=False`: another image (of the list, an upload), cut out automatically (the box is the current image's).

    Raises what the cutout raises (InputError: a box in arcsec without a pixel scale, an empty box) and
    what loading the model raises; pages call it through `ui.models.attempt`."""
    if not sees_cutout(entry):
        from ui.inference import grid_view

        view = grid_view(entry, image)
        return ModelImage(view.data, None, grid_note=view.note)
    from core.io.stretch import saw_figures
    from ui.resources import loaded_model
    from ui.widgets import shared_cutout_box

    size = loaded_model(entry["name"], entry.get("sha256")).image_size
    meta = image.get("meta")
    cut = disk_cutout(image["data"], size, getattr(meta, "pixel_scale_arcsec", None),
                      getattr(meta, "fill_value", None), shared_cutout_box() if current else None,
                      brightness_facts(image), saw_figures(entry))
    return ModelImage(cut["image"], list(cut["notes"]), tuple(cut["box"]), brightness_note=cut["brightness"])


def model_images(entry: dict, images: list[dict], current: bool = False) -> list[np.ndarray]:
    """`model_image(...).data` of several images (`{"data", "meta"}`): what the Latent map embeds and places."""
    return [model_image(entry, image, current).data for image in images]
