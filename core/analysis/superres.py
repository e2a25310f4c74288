"""x2 super-resolution at inference: upscale images of any size and flux scale, score LR/HR pairs.

`python -m core superres --checkpoint NAME --input FILE_OR_DIR --out DIR [--format fits|npy]`
writes the upscaled image of every input (FITS: the input's header with the pixel scale halved
and the reference pixel moved; values on the input's own scale).

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

import argparse
import json
from pathlib import Path

import numpy as np
import torch

HELP = "Upscale images x2 with a super-resolution checkpoint (FITS or .npy out, pixel scale halved in the header)."
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


# ---------------------------------------------------------------------------- FITS header


def upscaled_cards(cards: list, scale: int = 2) -> list:
    """Header cards made true for the image upscaled `scale` times (half-pixel centres kept):
    CRPIXi -> scale (CRPIXi - 0.5) + 0.5; CDELTi, CDi_j and arcsec-per-pixel cards / scale."""
    from core.io.headers import CRPIX, DISTORTION, PIXEL_SIZE, SCALE_KEYS, WCS_KEY, _number

    keys = {str(k).strip().upper() for k, _, _ in cards}
    drop_wcs = any(DISTORTION.match(k) for k in keys)
    out = []
    for key, value, comment in cards:
        k = str(key).strip().upper()
        if k in {"DATAMIN", "DATAMAX"} or (drop_wcs and (WCS_KEY.match(k) or DISTORTION.match(k))):
            continue
        try:
            if CRPIX.match(k):
                value = scale * (_number(value) - 0.5) + 0.5
            elif PIXEL_SIZE.match(k) or k in SCALE_KEYS:
                value = _number(value) / scale
        except (TypeError, ValueError):
            continue
        out.append((key, value, comment))
    out.append(("HISTORY", f"EquiScope: upscaled x{scale} (super-resolution); pixel scale / {scale}", ""))
    out.append(("HISTORY", "EquiScope: values on the input's per-pixel scale (surface brightness kept)", ""))
    if drop_wcs:
        out.append(("HISTORY", "EquiScope: WCS removed: its distortion tables are in the input's pixels", ""))
    return out


# ---------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="super-resolution checkpoint name (checkpoints/index.json) or .pt path")
    parser.add_argument("--input", required=True, help="an image file (FITS, .npy, PNG, ...) or a folder of them (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder (the input's relative names, .fits or .npy)")
    parser.add_argument("--format", choices=("fits", "npy"), default="fits", help="output format (default fits, header kept)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA when available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object listing the files written")


def _inputs(path: Path) -> tuple[Path, list[Path]]:
    from core.errors import InputError
    from core.io import is_supported_name

    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise InputError(f"{path} does not exist; give an image file or a folder of images.")
    files = sorted(f for f in path.rglob("*") if f.is_file() and is_supported_name(f.name) and not f.name.startswith("."))
    if not files:
        raise InputError(f"{path} holds no images; give FITS, .npy or PNG files.")
    return path, files


def run(args: argparse.Namespace) -> int:
    from core.atomic import atomic_save_npy
    from core.checkpoints import load_model
    from core.device import pick_device
    from core.errors import InputError
    from core.io import read_image, write_fits

    device = pick_device(args.device)
    loaded = load_model(args.checkpoint, device=device)
    if loaded.kind != "superres":
        raise InputError(f"Checkpoint {loaded.name} is a {loaded.kind}, not a super-resolution model; pick one of kind superres.")
    base, files = _inputs(Path(args.input))
    out_dir = Path(args.out)
    written = []
    for f in files:
        image = read_image(f)
        up = upscale(loaded.model, image.data, device)
        rel = f.relative_to(base)
        stem = rel.name.split(".")[0]
        target = out_dir / rel.parent / f"{stem}.{args.format}"
        if args.format == "npy":
            atomic_save_npy(target, up)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            cards = [c for c in image.meta.header] if image.meta.header else []
            write_fits(target, up, upscaled_cards(cards))
        written.append({"input": str(f), "output": str(target), "shape_in": list(image.data.shape), "shape_out": list(up.shape)})
    if args.json:
        print(json.dumps({"checkpoint": loaded.name, "files": written}))
    else:
        for w in written:
            print(f"{w['input']} {w['shape_in'][1]}x{w['shape_in'][0]} -> {w['output']} {w['shape_out'][1]}x{w['shape_out'][0]}")
    return 0
