"""x2 super-resolution at inference: upscale images of any size and flux scale, score LR/HR pairs.

The `python -m core superres` command (core/cli/superres.py) writes the upscaled image of every
input (FITS: the input's header made true by `core.io.headers.upscaled_cards`).

Any flux scale: the LR image is normalised to [0, 1] by its own range (min, max - min), the
model runs on that, and the output is mapped back with the same offset and scale. Values are
per pixel on the input's scale (surface brightness is kept; a flux-per-pixel image's total grows 4x).

Scores (`superres_metrics`, `evaluate_pairs`, the `evaluate` command on a folder with lr/ and
hr/), in one of two conventions (`scaling`, named in every result):
- "physical" (default): the prediction on the LR's flux scale, and it and the HR image scaled by the HR
  image's range, (v - min(HR)) / (max(HR) - min(HR)), so the HR spans [0, 1]; the prediction is not clipped;
- "minmax": the per-image min-max convention of the DeepLense super-resolution data sets, which store LR and
  HR each scaled to [0, 1] by its own min and max, so that the HR's peak is 1 whatever the LR's was: every image
  is put in that convention, the upscaled one too. LR and HR each by its own range; the model's output on that
  LR (bicubic's alike) cut at the LR's floor, 0, then scaled by its own range (`to_convention`), so an undershoot
  of the background does not set its scale. A model that gets the shape right scores well whatever flux ratio
  between LR and HR the separate normalisations left.
PSNR = 10 log10(1 / MSE) in dB; SSIM with a 7-pixel Gaussian window (sigma 1.5, data range 1,
`core.models.losses.ssim_value`); means over the pairs. Bicubic upscaling of the LR image
(torch, align_corners=False) is scored the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SCALING_NOTE = "images scaled to [0, 1] by the HR image's range (min-max of HR; prediction scaled alike, not clipped)"
SCALINGS = {
    "physical": "physical: " + SCALING_NOTE,
    "minmax": "minmax: per-image min-max, the DeepLense SR data sets' convention (LR, HR and the upscaled image each "
              "scaled to [0, 1] by its own min and max; the upscaled one first cut at its LR's floor, 0)",
}


def check_scaling(scaling: str) -> str:
    from core.errors import InputError

    if scaling not in SCALINGS:
        raise InputError(f"Unknown scaling '{scaling}'; use one of {', '.join(SCALINGS)}.")
    return scaling


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    from core.models.superres import bicubic_up

    return bicubic_up(x)


@torch.no_grad()
def upscale_batch(model, images: list[np.ndarray], device="cpu") -> list[np.ndarray]:
    """Upscaled (2h, 2w) float32 images, each on its input's own flux scale (normalised by its range, mapped back)."""
    out = []
    for image in images:
        from core.data.pairs import lr_range

        lo, scale = lr_range(image)
        x = torch.from_numpy(((image - lo) / scale).astype(np.float32))[None, None].to(device)  # (1, 1, h, w)
        y = model(x).float().cpu()[0, 0].numpy()  # (2h, 2w)
        out.append((y * scale + lo).astype(np.float32))
    return out


def upscale(model, image: np.ndarray, device="cpu") -> np.ndarray:
    """One image (h, w) -> (2h, 2w), on the input's flux scale."""
    return upscale_batch(model, [np.asarray(image, dtype=np.float32)], device)[0]


def bicubic(image: np.ndarray) -> np.ndarray:
    """Bicubic x2 of one image (h, w) -> (2h, 2w), as the models' bicubic path (on its own range)."""
    from core.data.pairs import lr_range

    lo, scale = lr_range(image)
    x = torch.from_numpy(((image - lo) / scale).astype(np.float32))[None, None]
    return (_bicubic(x)[0, 0].numpy() * scale + lo).astype(np.float32)


def pair_scores(pred: np.ndarray | torch.Tensor, hr: np.ndarray | torch.Tensor) -> dict:
    """{"psnr_db", "ssim"} of one prediction against its HR image, both scaled by the HR's range."""
    m = superres_metrics(torch.as_tensor(np.asarray(pred, dtype=np.float32))[None, None],
                         torch.as_tensor(np.asarray(hr, dtype=np.float32))[None, None])
    return {"psnr_db": m["psnr_db"], "ssim": m["ssim"]}


def _by_range(v: torch.Tensor, of: torch.Tensor) -> torch.Tensor:
    """v scaled by the per-image range of `of` (both (N, 1, H, W)): (v - min) / (max - min)."""
    lo = of.amin(dim=(1, 2, 3), keepdim=True)
    return (v - lo) / (of.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-12)


def to_convention(pred: torch.Tensor) -> torch.Tensor:
    """Upscaled images (N, 1, H, W) on their LR's min-max scale (as the models output them) in the per-image min-max
    convention: cut at the LR's floor (0), then scaled to [0, 1] by their own range."""
    p = pred.clamp_min(0.0)
    return _by_range(p, p)


def _scaled(pred: torch.Tensor, hr: torch.Tensor, scaling: str = "physical") -> tuple[torch.Tensor, torch.Tensor]:
    """physical: both by HR's range; minmax: `pred` (on its LR's min-max scale) by `to_convention`, HR by its own range."""
    return (to_convention(pred) if scaling == "minmax" else _by_range(pred, hr)), _by_range(hr, hr)


def _psnr_ssim(pred: torch.Tensor, hr: torch.Tensor, scaling: str = "physical") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image PSNR (dB) and SSIM, (N,) each, of (N, 1, H, W) pairs in the `scaling` convention."""
    from pytorch_msssim import ssim

    from core.models.losses import SSIM_WIN

    p, t = _scaled(pred.float(), hr.float(), check_scaling(scaling))
    mse = ((p - t) ** 2).flatten(1).mean(1)
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))
    s = ssim(p, t, data_range=1.0, win_size=SSIM_WIN, size_average=False)  # (N,)
    return psnr, s.reshape(-1)


def superres_metrics(pred: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor | None = None, scaling: str = "physical") -> dict:
    """Mean PSNR / SSIM of predictions (N, 1, H, W) against HR images (same shape); with the LR inputs
    (N, 1, H/2, W/2) on the prediction's scale, bicubic's too and the gain in dB. `scaling`: see the module
    ("minmax" takes the predictions on their LR's min-max scale, as the models output them)."""
    psnr, s = _psnr_ssim(pred, hr, scaling)
    out = {"psnr_db": float(psnr.mean()), "ssim": float(s.mean()), "n": len(pred)}
    if lr is not None:
        b_psnr, b_ssim = _psnr_ssim(_bicubic(lr.float()), hr, scaling)
        out.update({"bicubic_psnr_db": float(b_psnr.mean()), "bicubic_ssim": float(b_ssim.mean()),
                    "gain_db": float((psnr - b_psnr).mean())})
    out["scaling"] = SCALINGS[scaling]
    return out


def evaluate_pairs(model, folder: str | Path, device="cpu", limit: int | None = None, progress=None,
                   scaling: str = "physical") -> dict:
    """Scores of `model` (x2, on LR images normalised by their range) and of bicubic on a folder with lr/ and hr/.

    Pairs of any size (HR = 2 x LR on each axis) and any flux scale; per-pair scores averaged; `scaling`
    "physical" or "minmax" (see the module), named in the result's "scaling"."""
    from core.data.pairs import lr_range, read_pair, scan_pairs

    index = scan_pairs(folder)
    n = len(index) if limit is None else min(limit, len(index))
    rows = {"psnr_db": [], "ssim": [], "bicubic_psnr_db": [], "bicubic_ssim": []}
    shapes = set()
    ratios = []
    for i in range(n):
        lr, hr = read_pair(index.lr_files[i], index.hr_files[i])
        shapes.add(f"{lr.shape[1]}x{lr.shape[0]} -> {hr.shape[1]}x{hr.shape[0]}")
        lo, scale = lr_range(lr)
        x = torch.from_numpy(((lr - lo) / scale).astype(np.float32))[None, None]
        with torch.no_grad():
            pred = model(x.to(device)).float().cpu()
        m = superres_metrics(pred, torch.from_numpy((hr - lo) / scale)[None, None].float(), x, scaling)
        for key in rows:
            rows[key].append(m[key])
        ratios.append(float(np.mean(lr)) / float(np.mean(hr)) if float(np.mean(hr)) else float("nan"))
        if progress is not None:
            progress(i + 1, n, "scoring pairs")
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out["gain_db"] = out["psnr_db"] - out["bicubic_psnr_db"]
    out.update({"n": n, "sizes": sorted(shapes), "scaling": SCALINGS[scaling]})
    ratio = float(np.nanmedian(ratios))
    out["lr_hr_mean_ratio"] = ratio
    if not 0.7 < ratio < 1.4 and scaling == "physical":
        out["notes"] = [f"the LR images' mean is {ratio:.2f} x the HR's (median): LR and HR are not on one per-pixel scale "
                        "(e.g. summed instead of averaged pixels, or each image min-max scaled on its own as in the DeepLense "
                        "SR sets), which costs every method in this convention, bicubic included; --scaling minmax scores "
                        "them in the per-image min-max convention"]
    return out
