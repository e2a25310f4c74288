"""Serve a loaded model on the current image, cached per (checkpoint sha256, image, transform).

Each function takes the checkpoint's name and sha256 (so results follow a re-trained
checkpoint) and the raw 2-D image; the image is put on the model grid with
`core.data.preprocess.prepare` and transformed with `core.data.transforms` (flip first,
then rotate about the grid centre, then shift), the convention core.analysis uses.
Returned values are numpy arrays, cheap to cache and to plot.

A lens model trained at a pixel scale (its index entry's `grid`, core.data.grids) is given the image
on that grid: `grid_view(entry, image)` resamples it from the file's pixel scale, or the one the user
set (ui.state.pixel_scale), and crops or pads it to the model's field (core.data.regrid), with the
one line that says so; pages pass `grid_view(...).data` to the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from ui import state
from ui.resources import loaded_model

MASK_RADIUS = 0.8  # errors are measured inside this fraction of the inscribed disc (core.analysis.equivariance)


def transform(x: torch.Tensor, angle_deg: float = 0.0, flip: bool = False,
              shift: tuple[int, int] = (0, 0), mode: str = "bilinear") -> torch.Tensor:
    """g acting on images (B, C, S, S): horizontal flip if `flip`, counter-clockwise rotation, shift (dy, dx) px;
    turns off the right angles resample with `mode` ("bilinear", or "sinc": band-limited, core.data.sinc)."""
    from core.data.transforms import apply_group_element
    from core.data.transforms import shift as shift_image

    if flip or angle_deg % 360:
        x = apply_group_element(x, angle_deg, flip, mode=mode)
    if tuple(shift) != (0, 0):
        x = shift_image(x, *shift, mode=mode)
    return x


@dataclass
class GridView:
    """The image as a model trained at a pixel scale takes it, and the line that says what was done."""

    data: np.ndarray  # on the model's training grid; the image itself when either has no pixel scale
    note: str | None  # e.g. "Resampled from 0.05″ to 0.10″ per pixel to match the model's grid."
    resampled: bool = False


def grid_view(entry: dict, image: dict) -> GridView:
    """The current image (`{"data", "meta", ...}`) on checkpoint `entry`'s training grid (core.data.regrid):
    resampled from its pixel scale (the file's, else the one the user set) and cropped or padded to the
    model's field; unchanged, with a note, when the image has no pixel scale; unchanged and silent for a
    model without one (disks, a mix of presets, a run on an unlabelled folder)."""
    from core.data.regrid import match_grid, to_grid

    scale, origin = state.pixel_scale(image)
    match = match_grid(image["data"].shape, scale, entry.get("grid"), origin)
    return GridView(to_grid(image["data"], match), match.note, match.resample)


def grid_caption(entry: dict) -> str | None:
    """One line on the grid checkpoint `entry` was trained at (its `grid` record), None when not recorded."""
    from core.data.regrid import arcsec_text

    grid = entry.get("grid") or {}
    if grid.get("arcsec_per_pixel"):
        return (f"Trained at {arcsec_text(grid['arcsec_per_pixel'])} per pixel on a "
                f"{grid['field_of_view_arcsec']:.3g}″ field ({grid['image_size']} px).")
    fill, beam, au = (grid.get(k) for k in ("disk_fill_fraction", "beam_fwhm_px", "au_per_pixel"))
    if fill and beam and au:
        return (f"Trained on simulated disks framed by their own size (the disk's diameter fills {fill['p5']:.0%}–"
                f"{fill['p95']:.0%} of the field, beam FWHM {beam['p5']:.1f}–{beam['p95']:.1f} px, median "
                f"{au['median']:.2g} au per pixel); the automatic cutout frames a disk inside that range, so the "
                "pixel scale only converts a box given in arcsec or au.")
    return None


def model_input(image: np.ndarray, size: int, angle_deg: float = 0.0, flip: bool = False) -> torch.Tensor:
    """The image on the (size, size) model grid in [0, 1], transformed: (1, 1, S, S)."""
    from core.data.preprocess import prepare

    return transform(torch.from_numpy(prepare(image, size))[None, None], angle_deg, flip)  # (1, 1, S, S)


@st.cache_data(max_entries=64, show_spinner=False)
def reconstruct(name: str, sha256: str | None, image: np.ndarray, pixel_scale_arcsec: float | None = None,
                bunit: str | None = None, fill_value: float | None = None, box: tuple | None = None,
                facts: tuple | None = None, saw_figures: bool | None = None) -> dict:
    """Cutout and reconstruction on the model grid (both in [0, 1]), residual, metrics and notes
    (core.analysis.reconstruct.reconstruct_cutout).

    The disk is cut out first (core.data.cutout: found automatically, or the user's `box` =
    (side, unit, centre_row or None, centre_col or None, distance_pc or None) wins), so that it
    fills the grid; pixels the reader filled (`fill_value`, i.e. NaN / Inf) or outside the image
    are masked and excluded from the metrics: mse (valid pixels), psnr_db, ssim, ms_ssim.
    `facts` (ui.disk_input.brightness_facts) and `saw_figures` (core.io.stretch.saw_figures of the model): the image
    is first taken as linear or figure-like, as every disk page takes it (core.analysis.reconstruct.model_cutout);
    the sentence is `brightness`. `saw_figures=None`: the image as it is.
    """
    from core.analysis.reconstruct import reconstruct_cutout
    from core.data.cutout import CutoutBox
    from ui.disk_input import facts_meta

    loaded = loaded_model(name, sha256)
    result = reconstruct_cutout(loaded.model, loaded.image_size, image, box=CutoutBox.from_tuple(box),
                                pixel_scale_arcsec=pixel_scale_arcsec, fill_value=fill_value, bunit=bunit,
                                meta=facts_meta(facts), model_saw_figures=saw_figures)
    return {"original": result.cutout.image, "reconstruction": result.reconstruction, "residual": result.residual,
            "metrics": result.metrics, "box": result.cutout.box, "notes": result.cutout.notes,
            "warnings": result.warnings, "source": result.cutout.source, "brightness": result.brightness_note}


@st.cache_data(max_entries=64, show_spinner=False)
def feature_maps(name: str, sha256: str | None, image: np.ndarray, angle_deg: float = 0.0,
                 flip: bool = False) -> list[dict]:
    """Every layer's activations for the transformed image: [{name, maps (C, H, W), group_order}]."""
    loaded = loaded_model(name, sha256)
    x = model_input(image, loaded.image_size, angle_deg, flip)
    with torch.no_grad():
        layers = loaded.model.feature_maps(x)
    return [{"name": fm.name, "maps": fm.tensor[0].float().numpy(), "group_order": fm.group_order}
            for fm in layers]


@st.cache_data(max_entries=64, show_spinner=False)
def class_probabilities(name: str, sha256: str | None, image: np.ndarray) -> np.ndarray:
    """Softmax class probabilities (K,) of a classifier for the image."""
    loaded = loaded_model(name, sha256)
    x = model_input(image, loaded.image_size)
    with torch.no_grad():
        return torch.softmax(loaded.model(x), dim=-1)[0].numpy()


def _disc_input(image: np.ndarray, size: int) -> torch.Tensor:
    """The image on the model grid cut to its inscribed disc (rotated copies then hold the same content)."""
    from core.analysis.equivariance import disc_mask

    x = model_input(image, size)  # (1, 1, S, S)
    return x * disc_mask(x.shape[-1], 1.0).to(x)


@st.cache_data(max_entries=64, show_spinner=False)
def equivariance_pair(name: str, sha256: str | None, image: np.ndarray, angle_deg: float,
                      flip: bool, shift: tuple[int, int] = (0, 0), mode: str = "bilinear") -> dict:
    """The transformed input g·x and, for an autoencoder f, f(g·x) and g·f(x), their difference and its size.

    As in core.analysis.equivariance, the input is cut to its inscribed disc (so rotated
    copies hold the same content) and `relative_error` = ||f(g·x) − g·f(x)|| / ||g·f(x)||
    (core.analysis.equivariance.equivariance_error) is taken inside MASK_RADIUS of that disc; 0 for an exactly equivariant model and a g that
    maps the grid onto itself (multiples of 90 degrees, flips). g turns inputs and outputs alike with `mode`.
    For a classifier: logits and probabilities of x and g·x and the relative change of the
    logits ||f(g·x) − f(x)|| / ||f(x)|| (0 for an exactly invariant classifier).
    """
    from core.analysis.equivariance import disc_mask, equivariance_error, relative_error

    loaded = loaded_model(name, sha256)
    x = _disc_input(image, loaded.image_size)

    def g(t: torch.Tensor) -> torch.Tensor:
        return transform(t, angle_deg, flip, shift, mode)

    if loaded.kind == "classifier":
        gx = g(x)
        with torch.no_grad():
            logits = loaded.model(torch.cat([x, gx]))  # (2, K)
        return {"x": x[0, 0].numpy(), "gx": gx[0, 0].numpy(), "logits_x": logits[0].numpy(),
                "logits_gx": logits[1].numpy(), "probs_x": logits[0].softmax(-1).numpy(),
                "probs_gx": logits[1].softmax(-1).numpy(),
                "relative_error": float(relative_error(logits[1:], logits[:1])[0])}
    pair = equivariance_error(loaded.model, g, x, disc_mask(x.shape[-1], MASK_RADIUS))
    return {"gx": pair.gx[0, 0].numpy(), "f_gx": pair.f_gx[0, 0].numpy(), "g_fx": pair.g_fx[0, 0].numpy(),
            "difference": (pair.f_gx - pair.g_fx)[0, 0].numpy(), "relative_error": float(pair.error[0])}


@st.cache_data(max_entries=32, show_spinner="Measuring the error at every angle (once per model and image)…")
def equivariance_curves(name: str, sha256: str | None, image: np.ndarray,
                        angles: tuple[float, ...], mode: str = "bilinear") -> dict[str, np.ndarray]:
    """Relative errors (2, A) against rotation angle without and with a flip, for one model and image
    (core.analysis.equivariance.model_equivariance): autoencoders "reconstruction"
    ||f(g·x) − g·f(x)|| / ||g·f(x)||, classifiers "logits" ||f(g·x) − f(x)|| / ||f(x)||, both "latent"
    ||z(g·x) − z(x)|| / ||z(x)||. Both flips at once, so toggling Flip redraws from the cache. Turns: `mode`."""
    from core.analysis.equivariance import model_equivariance

    loaded = loaded_model(name, sha256)
    x = model_input(image, loaded.image_size)
    report = model_equivariance(loaded, x, angles, flips=(False, True), mask_radius=MASK_RADIUS, include_maps=False,
                                mode=mode)
    return {name: curve.error for name, curve in report.curves.items()}


@st.cache_data(max_entries=32, show_spinner="Classifying every rotated copy (once per model and image)…")
def class_scores(name: str, sha256: str | None, image: np.ndarray, angles: tuple[float, ...],
                 mode: str = "bilinear") -> dict:
    """A classifier's logits and probabilities (2, A, K) for every angle, without and with a flip (one batch);
    turns resample with `mode`."""
    loaded = loaded_model(name, sha256)
    x = _disc_input(image, loaded.image_size)
    copies = torch.cat([transform(x, a, f, mode=mode) for f in (False, True) for a in angles])  # (2A, 1, S, S)
    with torch.no_grad():
        logits = torch.cat([loaded.model(copies[i:i + 48]) for i in range(0, len(copies), 48)])
    logits = logits.reshape(2, len(angles), -1)
    return {"logits": logits.numpy(), "probs": logits.softmax(-1).numpy()}


@st.cache_data(max_entries=32, show_spinner="Placing the rotated copies on the map…")
def orbit(name: str, sha256: str | None, generator: str, image: np.ndarray, step_deg: float,
          flips: bool, mode: str = "bilinear") -> dict:
    """The image's rotated (and flipped) copies on the reference map (core.analysis.orbit.image_orbit); turns: `mode`."""
    from core.analysis.orbit import image_orbit
    from ui.reference import reference_map

    loaded = loaded_model(name, sha256)
    result = image_orbit(loaded, image, reference_map(name, sha256, generator).lmap, step_deg, flips, mode)
    labels = [f"{'flip, ' if f else ''}{a:g}°" for a, f in zip(result.angles, result.flips, strict=True)]
    return {"coords": result.coords, "labels": labels, "latent_spread": result.latent_spread,
            "map_spread": result.map_spread}
