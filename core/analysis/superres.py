"""x2 super-resolution at inference: upscale images of any size and flux scale, score LR/HR pairs.

The `python -m core superres` command (core/cli/superres.py) writes the upscaled image of every
input (FITS: the input's header made true by `core.io.headers.upscaled_cards`).

Any flux scale: the LR image is normalised to [0, 1] by its own range (min, max - min), the
model runs on that, and the output is mapped back with the same offset and scale. Values are
per pixel on the input's scale (surface brightness is kept; a flux-per-pixel image's total grows 4x).

Scores (`superres_metrics`, `evaluate_pairs`, the `evaluate` command on a folder with lr/ and
hr/): both the prediction and the HR image are scaled by the HR image's range,
(v - min(HR)) / (max(HR) - min(HR)), so the HR spans [0, 1]; the prediction is not clipped.
PSNR = 10 log10(1 / MSE) in dB; SSIM with a 7-pixel Gaussian window (sigma 1.5, data range 1,
`core.models.losses.ssim_value`); means over the pairs. Bicubic upscaling of the LR image
(torch, align_corners=False) is scored the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SCALING_NOTE = "images scaled to [0, 1] by the HR image's range (min-max of HR; prediction scaled alike, not clipped)"


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


def _scaled(pred: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo = hr.amin(dim=(1, 2, 3), keepdim=True)
    span = (hr.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-12)
    return (pred - lo) / span, (hr - lo) / span


def _psnr_ssim(pred: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image PSNR (dB) and SSIM, (N,) each, of (N, 1, H, W) pairs scaled by the HR's range."""
    from pytorch_msssim import ssim

    from core.models.losses import SSIM_WIN

    p, t = _scaled(pred.float(), hr.float())
    mse = ((p - t) ** 2).flatten(1).mean(1)
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))
    s = ssim(p, t, data_range=1.0, win_size=SSIM_WIN, size_average=False)  # (N,)
    return psnr, s.reshape(-1)


def superres_metrics(pred: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor | None = None) -> dict:
    """Mean PSNR / SSIM of predictions (N, 1, H, W) against HR images (same shape); with the LR inputs
    (N, 1, H/2, W/2) on the prediction's scale, bicubic's too and the gain in dB."""
    psnr, s = _psnr_ssim(pred, hr)
    out = {"psnr_db": float(psnr.mean()), "ssim": float(s.mean()), "n": len(pred)}
    if lr is not None:
        b_psnr, b_ssim = _psnr_ssim(_bicubic(lr.float()), hr)
        out.update({"bicubic_psnr_db": float(b_psnr.mean()), "bicubic_ssim": float(b_ssim.mean()),
                    "gain_db": float((psnr - b_psnr).mean())})
    out["scaling"] = SCALING_NOTE
    return out


def evaluate_pairs(model, folder: str | Path, device="cpu", limit: int | None = None, progress=None) -> dict:
    """Scores of `model` (x2, on LR images normalised by their range) and of bicubic on a folder with lr/ and hr/.

    Pairs of any size (HR = 2 x LR on each axis) and any flux scale; per-pair scores averaged."""
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
        m = superres_metrics(pred, torch.from_numpy((hr - lo) / scale)[None, None].float(), x)
        for key in rows:
            rows[key].append(m[key])
        ratios.append(float(np.mean(lr)) / float(np.mean(hr)) if float(np.mean(hr)) else float("nan"))
        if progress is not None:
            progress(i + 1, n, "scoring pairs")
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out["gain_db"] = out["psnr_db"] - out["bicubic_psnr_db"]
    out.update({"n": n, "sizes": sorted(shapes), "scaling": SCALING_NOTE})
    ratio = float(np.nanmedian(ratios))
    out["lr_hr_mean_ratio"] = ratio
    if not 0.7 < ratio < 1.4:
        out["notes"] = [f"the LR images' mean is {ratio:.2f} x the HR's (median): they are not on the HR's per-pixel scale "
                        "(e.g. summed instead of averaged pixels), which costs every method, bicubic included"]
    return out
