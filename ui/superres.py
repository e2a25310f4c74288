"""Super-resolution page helpers: cached upscaling, the simulated LR/HR twin, scores and the equivariance check.

Images stay on their own flux scale (the models normalise the LR by its range and map back,
`core.analysis.superres`). An LR image larger than `MAX_LR_SIDE` is centre-cropped first, so a
page view stays fast on a CPU; the HR image is cropped to the same sky.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from ui.resources import loaded_model

MAX_LR_SIDE = 256  # LR pixels per side shown on the page (centre crop beyond)
TWIN_PRESET = "deeplense-model2"  # the simulated pair: Model II sky, 64 px HR / 32 px LR (core.data.pairs)
GROUP_ACTIONS = {"rotate 90°": (False, 90.0), "rotate 180°": (False, 180.0), "rotate 270°": (False, 270.0),
                 "mirror": (True, 0.0), "mirror + rotate 90°": (True, 90.0)}


def crop_pair(lr: np.ndarray, hr: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """(LR, HR, note): both centre-cropped to at most MAX_LR_SIDE LR pixels, the HR to the same sky."""
    h, w = lr.shape
    if max(h, w) <= MAX_LR_SIDE:
        return lr, hr, None
    top, left = max(0, (h - MAX_LR_SIDE) // 2), max(0, (w - MAX_LR_SIDE) // 2)
    lr_c = lr[top : top + MAX_LR_SIDE, left : left + MAX_LR_SIDE]
    hr_c = None if hr is None else hr[2 * top : 2 * (top + MAX_LR_SIDE), 2 * left : 2 * (left + MAX_LR_SIDE)]
    return lr_c, hr_c, f"The {w}×{h} px image was centre-cropped to {lr_c.shape[1]}×{lr_c.shape[0]} px for this page."


def check_hr(lr: np.ndarray, hr: np.ndarray | None) -> np.ndarray | None:
    """The HR image if it is exactly twice the LR on each axis; else ValueError in one sentence."""
    if hr is not None and hr.shape != (2 * lr.shape[0], 2 * lr.shape[1]):
        raise ValueError(f"The HR image is {hr.shape[1]}×{hr.shape[0]} px but the LR image is {lr.shape[1]}×{lr.shape[0]} px; "
                         "x2 super-resolution needs an HR image of exactly twice the LR size on each axis.")
    return hr


@st.cache_data(max_entries=16, show_spinner="Simulating the LR/HR pair…")
def simulated_pair(seed: int, substructure: str) -> tuple[np.ndarray, np.ndarray]:
    """(LR 32×32, HR 64×64) of one DeepLense Model II sky (core.data.pairs; HR noiseless, LR noisy)."""
    from core.data import deeplense
    from core.data.pairs import render_pair

    rng = np.random.default_rng(seed)
    params = deeplense.sample_params(TWIN_PRESET, substructure, rng)
    lr, hr, _ = render_pair(params, substructure, TWIN_PRESET, params.size, rng)
    return lr, hr


@st.cache_data(max_entries=64, show_spinner="Upscaling…")
def upscaled(name: str, sha256: str | None, lr: np.ndarray) -> np.ndarray:
    """The checkpoint's x2 image of `lr`, on the LR's flux scale."""
    from core.analysis.superres import upscale

    return upscale(loaded_model(name, sha256).model, lr)


@st.cache_data(max_entries=64, show_spinner=False)
def bicubic(lr: np.ndarray) -> np.ndarray:
    from core.analysis.superres import bicubic as bicubic_x2

    return bicubic_x2(lr)


def scores(outputs: dict[str, np.ndarray], hr: np.ndarray) -> list[dict]:
    """One row per method: PSNR and SSIM against the HR image (both scaled by the HR's range)."""
    from core.analysis.superres import pair_scores

    rows = []
    for method, image in outputs.items():
        s = pair_scores(image, hr)
        rows.append({"method": method, "PSNR (dB)": round(s["psnr_db"], 2), "SSIM": round(s["ssim"], 4)})
    return rows


@st.cache_data(max_entries=64, show_spinner="Checking equivariance…")
def equivariance_check(name: str, sha256: str | None, lr: np.ndarray, flip: bool, angle: float) -> dict:
    """f(g·x) and g·f(x) for the group element (flip, angle) and their relative difference
    (core.analysis.equivariance.equivariance_error; g acts on the LR and the upscaled grid alike)."""
    from core.analysis.equivariance import equivariance_error, per_image
    from core.analysis.superres import upscale
    from core.models.equivariant import act_on_image

    model = loaded_model(name, sha256).model
    x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))[None, None]  # (1, 1, h, w)
    pair = equivariance_error(per_image(lambda a: upscale(model, a)), lambda t: act_on_image(t, flip, angle), x)
    return {"f(g·x)": pair.f_gx[0, 0].numpy(), "g·f(x)": pair.g_fx[0, 0].numpy(), "relative_error": float(pair.error[0])}
