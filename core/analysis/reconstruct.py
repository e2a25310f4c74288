"""Reconstruct an observer's disk image: cut the disk out, run the autoencoder, score the valid pixels.

`reconstruct_cutout` is what the Reconstruct page (ui/inference.py) and `python -m core
reconstruct` (core/cli/reconstruct.py) both do with one image: `core.data.cutout`
(automatic, or the user's box), the model on the (S, S) grid, metrics over the valid pixels
only (pixels that were NaN or outside the image add no error), and the notes on what was done,
including a unit check (`core.data.cutout.disk_unit_note`) and a fit check: a reconstruction
whose MS-SSIM on the cutout is below `POOR_FIT` says the image is unlike the disks the model
learned (a galaxy, a velocity map, an artefact), so its latent and neighbours mean little.
Before the cutout, `model_cutout` decides whether the image is linear physical brightness or a figure
(core.io.stretch.brightness_input: a figure's stretch is undone for a model that never saw figures) and
returns the one sentence saying which; a linear image goes in unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from core.data.cutout import (
    DEFAULT_GRID,
    Cutout,
    CutoutBox,
    cutout,
    disk_unit_note,
    exclude_invalid,
)
from core.io.stretch import brightness_input

POOR_FIT = 0.8  # cutout MS-SSIM below which the image is reported as unlike the training disks


@dataclass
class Reconstruction:
    cutout: Cutout  # what the model saw (image in [0, 1], valid mask, box, notes)
    reconstruction: np.ndarray  # (S, S) float32 in [0, 1]
    latent: np.ndarray  # (latent_dim,)
    metrics: dict  # mse (valid pixels), psnr_db, ssim, ms_ssim
    unit_note: str | None = None
    fit_note: str | None = None  # set when the reconstruction is poor (MS-SSIM < POOR_FIT)
    notes: list[str] = field(default_factory=list)  # the brightness note, the cutout's notes, the unit and fit notes
    brightness_note: str | None = None  # what the image was taken to be (linear / figure) and what was done about it

    @property
    def warnings(self) -> list[str]:
        return [n for n in (self.unit_note, self.fit_note) if n]

    @property
    def residual(self) -> np.ndarray:
        return np.where(self.cutout.valid, self.cutout.image - self.reconstruction, 0.0).astype(np.float32)


def valid_pixels(data: np.ndarray, fill_value: float | None) -> np.ndarray | None:
    """Where `core.io.read_image` filled NaN / Inf pixels with `fill_value` (the finite median), False.

    The reader keeps the filled value in `ImageMeta.fill_value`; pixels equal to it are taken as
    the filled ones (a real pixel exactly at the median of a float image is rare, and masking it
    costs nothing but one pixel of the metrics). None when nothing was filled.
    """
    if fill_value is None:
        return None
    return np.asarray(data) != np.float32(fill_value)


def masked_metrics(recon: np.ndarray, x: np.ndarray, valid: np.ndarray) -> dict:
    """autoencoder_metrics of one (S, S) pair with the invalid pixels left out (MSE, PSNR over valid pixels;
    SSIM / MS-SSIM with the invalid pixels copied from x into recon, so they add no error)."""
    from core.analysis.evaluate import autoencoder_metrics

    scored = torch.from_numpy(exclude_invalid(recon, x, valid).astype(np.float32))[None, None]
    metrics = autoencoder_metrics(scored, torch.from_numpy(x.astype(np.float32))[None, None])
    metrics["mse"] *= valid.size / max(int(valid.sum()), 1)
    metrics["psnr_db"] = float(10.0 * np.log10(1.0 / max(metrics["mse"], 1e-12)))
    metrics["valid_fraction"] = float(valid.mean())
    return metrics


def model_cutout(data: np.ndarray, size: int = DEFAULT_GRID, *, box: CutoutBox | None = None,
                 pixel_scale_arcsec: float | None = None, fill_value: float | None = None, auto: bool = True,
                 meta=None, model_saw_figures: bool | None = None) -> tuple[Cutout, str | None]:
    """(the disk cut out of `data` (H, W) on a (size, size) grid, the brightness sentence): what every disk page and
    `python -m core reconstruct` give a disk model. With `model_saw_figures` (core.io.stretch.saw_figures of the
    checkpoint) the image is first taken as linear or figure-like (`meta`: core.io.meta.ImageMeta or None) and a
    figure's stretch undone for a model that never saw figures (core.io.stretch.brightness_input); the pixels the
    reader filled are masked as found in `data` as given. `model_saw_figures=None`: the image as it is, no sentence."""
    mask = valid_pixels(data, fill_value)
    sentence = None
    if model_saw_figures is not None:
        data, sentence = brightness_input(data, meta, bool(model_saw_figures))
    cut = cutout(data, size, box=box, pixel_scale_arcsec=pixel_scale_arcsec, mask=mask, auto=auto)
    return cut, sentence


def disk_cutout(data: np.ndarray, size: int = DEFAULT_GRID, *, box: CutoutBox | None = None,
                pixel_scale_arcsec: float | None = None, fill_value: float | None = None, auto: bool = True) -> Cutout:
    """The disk cut out of `data` (H, W) on a (size, size) grid, the pixels the reader filled masked, the image as it
    is (model_cutout without the brightness step: the Data page's box)."""
    return model_cutout(data, size, box=box, pixel_scale_arcsec=pixel_scale_arcsec, fill_value=fill_value, auto=auto)[0]


def reconstruct_cutout(model: torch.nn.Module, image_size: int, data: np.ndarray, *, box: CutoutBox | None = None,
                       pixel_scale_arcsec: float | None = None, fill_value: float | None = None,
                       bunit: str | None = None, auto: bool = True, meta=None,
                       model_saw_figures: bool | None = None) -> Reconstruction:
    """Cut the disk out of `data` (H, W), reconstruct it with `model` (an autoencoder) and score it. `meta` and
    `model_saw_figures` (core.io.stretch.saw_figures of the checkpoint): see model_cutout; the sentence comes back as
    `brightness_note`, first of the notes."""
    cut, brightness = model_cutout(data, image_size, box=box, pixel_scale_arcsec=pixel_scale_arcsec,
                                   fill_value=fill_value, auto=auto, meta=meta, model_saw_figures=model_saw_figures)
    x = torch.from_numpy(cut.image)[None, None]  # (1, 1, S, S)
    with torch.no_grad():
        recon = model(x).clamp(0, 1)[0, 0].float().numpy()  # (S, S)
        latent = model.encode(x)[0].float().numpy()  # (latent_dim,)
    unit_note = disk_unit_note(bunit)
    metrics = masked_metrics(recon, cut.image, cut.valid)
    fit_note = None
    if metrics["ms_ssim"] < POOR_FIT:
        fit_note = (f"The reconstruction matches the cutout poorly (MS-SSIM {metrics['ms_ssim']:.2f} < {POOR_FIT}): this image is "
                    "unlike the simulated disks the model learned, so its latent, neighbours and clusters say little about it.")
    notes = [n for n in (brightness,) if n] + list(cut.notes) + [n for n in (unit_note, fit_note) if n]
    return Reconstruction(cut, recon, latent, metrics, unit_note, fit_note, notes, brightness)
