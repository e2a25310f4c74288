"""Serve a loaded model on the current image, cached per (checkpoint sha256, image, transform).

Each function takes the checkpoint's name and sha256 (so results follow a re-trained
checkpoint) and the raw 2-D image; the image is put on the model grid with
`core.data.preprocess.prepare` and transformed with `core.models.equivariant.act_on_image`
(flip first, then rotate). Returned values are numpy arrays, cheap to cache and to plot.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from ui.resources import _load_model


def model_input(image: np.ndarray, size: int, angle_deg: float = 0.0, flip: bool = False,
                shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """The image on the (size, size) model grid in [0, 1], transformed: (1, 1, S, S)."""
    from core.data.preprocess import prepare
    from core.models.equivariant import act_on_image

    x = torch.from_numpy(prepare(image, size))[None, None]  # (1, 1, S, S)
    if flip or angle_deg % 360:
        x = act_on_image(x, flip, angle_deg)
    if shift != (0, 0):
        from core.data.transforms import shift as shift_image

        x = shift_image(x, *shift)
    return x


@st.cache_data(max_entries=64, show_spinner=False)
def reconstruct(name: str, sha256: str | None, image: np.ndarray) -> dict:
    """Original and reconstruction on the model grid (both in [0, 1]), residual and metrics.

    Metrics (core.train.evaluate.autoencoder_metrics, as for the checkpoint's own scores):
    mse, psnr_db (data range 1), ssim and ms_ssim (1 = identical).
    """
    from core.train.evaluate import autoencoder_metrics

    loaded = _load_model(name, sha256)
    x = model_input(image, loaded.image_size)  # (1, 1, S, S)
    with torch.no_grad():
        recon = loaded.model(x).clamp(0, 1)  # (1, 1, S, S)
        metrics = autoencoder_metrics(recon, x)
    original, recon = x[0, 0].numpy(), recon[0, 0].numpy()
    return {"original": original, "reconstruction": recon, "residual": original - recon,
            "metrics": metrics}


@st.cache_data(max_entries=64, show_spinner=False)
def feature_maps(name: str, sha256: str | None, image: np.ndarray, angle_deg: float = 0.0,
                 flip: bool = False) -> list[dict]:
    """Every layer's activations for the transformed image: [{name, maps (C, H, W), group_order}]."""
    loaded = _load_model(name, sha256)
    x = model_input(image, loaded.image_size, angle_deg, flip)
    with torch.no_grad():
        layers = loaded.model.feature_maps(x)
    return [{"name": fm.name, "maps": fm.tensor[0].float().numpy(), "group_order": fm.group_order}
            for fm in layers]


@st.cache_data(max_entries=64, show_spinner=False)
def class_probabilities(name: str, sha256: str | None, image: np.ndarray) -> np.ndarray:
    """Softmax class probabilities (K,) of a classifier for the image."""
    loaded = _load_model(name, sha256)
    x = model_input(image, loaded.image_size)
    with torch.no_grad():
        return torch.softmax(loaded.model(x), dim=-1)[0].numpy()


def _act(x: torch.Tensor, angle_deg: float, flip: bool, shift: tuple[int, int]) -> torch.Tensor:
    """The group action used on this page: flip, rotate about the grid centre, then shift."""
    from core.models.equivariant import act_on_image

    x = act_on_image(x, flip, angle_deg)
    if shift != (0, 0):
        from core.data.transforms import shift as shift_image

        x = shift_image(x, *shift)
    return x


@st.cache_data(max_entries=64, show_spinner=False)
def equivariance_pair(name: str, sha256: str | None, image: np.ndarray, angle_deg: float,
                      flip: bool, shift: tuple[int, int] = (0, 0)) -> dict:
    """f(g.x) and g.f(x) for an autoencoder's reconstruction f, their difference and its size.

    `relative_error` = ||f(g.x) - g.f(x)|| / ||g.f(x)|| over the grid; zero for an exactly
    equivariant model and a grid-preserving g (multiples of 90 degrees, flips).
    """
    loaded = _load_model(name, sha256)
    x = model_input(image, loaded.image_size)  # (1, 1, S, S)
    with torch.no_grad():
        f_gx = loaded.model(_act(x, angle_deg, flip, shift))  # (1, 1, S, S)
        g_fx = _act(loaded.model(x), angle_deg, flip, shift)  # (1, 1, S, S)
    diff = (f_gx - g_fx)[0, 0].numpy()
    rel = float(np.linalg.norm(diff) / max(float(torch.linalg.norm(g_fx)), 1e-12))
    return {"f_gx": f_gx[0, 0].numpy(), "g_fx": g_fx[0, 0].numpy(), "difference": diff,
            "relative_error": rel}
