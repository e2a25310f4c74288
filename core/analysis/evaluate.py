"""`python -m core evaluate --checkpoint NAME_OR_PATH --data DIR [--json]`: held-out quality.

DIR is a class-folder dataset (ours or DeepLense's own layout, any image size; every image
is preprocessed to the model grid) or a flat folder of images.
- Autoencoders: mean MSE, PSNR (dB, data range 1), SSIM and MS-SSIM (pytorch_msssim) between
  the preprocessed image and its reconstruction, with the settings of `core.models.losses`
  (the training loss).
- Super-resolution (x2): DIR holds lr/ and hr/ with the same file names; PSNR and SSIM of the
  model and of bicubic upscaling, images scaled to [0, 1] by the HR image's range
  (`core.analysis.superres`).
- Classifiers: per-class one-vs-rest ROC AUC, macro and micro AUC, accuracy and the
  confusion matrix (rows = true class, columns = predicted), via `core.analysis.metrics`.
  Folder class names are mapped to the model's classes with `canonical_class`
  (`sphere` -> `cdm`, `vort`/`axion` -> `vortex`, ...).
`predict` and the metrics here are also what training (held-out and test scores) and the app use.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

HELP = "Evaluate a checkpoint on a labelled dataset folder (MS-SSIM for autoencoders, ROC AUC for classifiers, PSNR/SSIM vs bicubic for super-resolution on lr/ + hr/)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint name from checkpoints/index.json, or a .pt path")
    parser.add_argument("--data", required=True, help="dataset folder (class sub-folders of .npy/.fits/.png, or flat)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA when available)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


# ---------------------------------------------------------------------------- metrics


@torch.no_grad()
def predict(model, X: torch.Tensor, device, batch_size: int = 64) -> torch.Tensor:
    """Model outputs for a (N, 1, S, S) tensor, on the CPU: reconstructions or logits."""
    model.eval()
    outs = [model(X[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs)


def autoencoder_metrics(recon: torch.Tensor, target: torch.Tensor, chunk: int = 64) -> dict:
    """Mean per-image MSE, PSNR (dB, data range 1), SSIM and MS-SSIM of (N, 1, S, S) pairs.

    SSIM / MS-SSIM use the settings of `core.models.losses` (7-pixel Gaussian window, 5 scales
    on 129-px grids), i.e. the same numbers the training loss optimises.
    """
    from core.models.losses import ms_ssim_value, ssim_value

    mse = ((recon - target) ** 2).flatten(1).mean(dim=1)  # (N,)
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))  # (N,)
    ssim_sum = msssim_sum = 0.0
    for i in range(0, len(recon), chunk):
        r, t = recon[i : i + chunk].float(), target[i : i + chunk].float()
        ssim_sum += float(ssim_value(r, t)) * len(r)
        msssim_sum += float(ms_ssim_value(r, t)) * len(r)
    return {"mse": float(mse.mean()), "psnr_db": float(psnr.mean()), "ssim": ssim_sum / len(recon),
            "ms_ssim": msssim_sum / len(recon), "n": len(recon)}


def classifier_metrics(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict:
    """Per-class one-vs-rest AUC, macro/micro AUC, accuracy and confusion matrix."""
    from core.analysis.metrics import accuracy, confusion, roc_report

    probs = logits.float().softmax(dim=1).numpy()  # (N, K)
    y = labels.numpy()
    pred = probs.argmax(axis=1)
    report = roc_report(y, probs, classes).as_dict()
    out = {
        "macro_auc": report["macro_auc"], "micro_auc": report["micro_auc"],
        "per_class_auc": report["per_class_auc"], "accuracy": accuracy(y, pred),
        "confusion": confusion(y, pred, len(classes)).tolist(), "classes": list(classes), "n": len(y),
    }
    if report["notes"]:
        out["notes"] = report["notes"]
    return out


def metrics_from_outputs(kind: str, outputs, targets, labels, classes) -> dict:
    """Metrics of one model kind; for "superres" `targets` are the HR images and `labels` the LR inputs."""
    if kind == "superres":
        from core.analysis.superres import superres_metrics

        return superres_metrics(outputs, targets, labels)
    if kind == "classifier":
        return classifier_metrics(outputs, labels, classes)
    return autoencoder_metrics(outputs, targets)


# ---------------------------------------------------------------------------- datasets


def evaluate_loaded(loaded, data_dir: str | Path, device="cpu", batch_size: int = 64, limit: int | None = None) -> dict:
    """Metrics of a `LoadedModel` on a dataset folder."""
    from core.data.datasets import load_tensors

    if loaded.kind == "superres":
        from core.analysis.superres import evaluate_pairs

        return evaluate_pairs(loaded.model.to(device), data_dir, device, limit)
    classes = loaded.classes if loaded.kind == "classifier" else None
    X, labels, _ = load_tensors(data_dir, loaded.image_size, classes=classes, limit=limit)
    outputs = predict(loaded.model.to(device), X, device, batch_size)
    return metrics_from_outputs(loaded.kind, outputs, X, labels, classes)


def evaluate_members(model_name: str, config: dict, members: list[dict], data_dir, classes, device="cpu",
                     batch_size: int = 64) -> dict:
    """Metrics of freshly trained weights (one model or an ensemble) on a dataset folder."""
    from core.checkpoints import build_from_checkpoint
    from core.data.datasets import load_tensors
    from core.models.registry import model_kind

    model = build_from_checkpoint({"model_name": model_name, "config": config, "members": members}, device=device)
    kind = model_kind(model_name)
    if kind == "superres":
        from core.analysis.superres import evaluate_pairs

        return evaluate_pairs(model, data_dir, device)
    X, labels, _ = load_tensors(data_dir, int(config.get("image_size", 129)),
                                classes=classes if kind == "classifier" else None)
    outputs = predict(model, X, device, batch_size)
    return metrics_from_outputs(kind, outputs, X, labels, classes)


# ---------------------------------------------------------------------------- CLI


def _table(result: dict) -> str:
    lines = [f"checkpoint {result['checkpoint']} ({result['model']}, {result['kind']}) on {result['data']}: n = {result['n']}"]
    for key, value in result.items():
        if key in {"checkpoint", "model", "kind", "data", "n", "classes", "confusion", "per_class_auc", "notes"}:
            continue
        lines.append(f"  {key:12s} {value:.4f}" if isinstance(value, float) else f"  {key:12s} {value}")
    if "per_class_auc" in result:
        for name, auc in result["per_class_auc"].items():
            lines.append(f"  AUC {name:8s} {auc:.4f}" if auc is not None else f"  AUC {name:8s} undefined")
        lines.append("  confusion (rows true, cols predicted): " + " | ".join(result["classes"]))
        lines += ["    " + " ".join(f"{v:6d}" for v in row) for row in result["confusion"]]
    lines += [f"  note: {note}" for note in result.get("notes") or []]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.checkpoints import load_model
    from core.device import pick_device
    from core.plain import to_plain

    device = pick_device(args.device)
    loaded = load_model(args.checkpoint, device=device)
    metrics = evaluate_loaded(loaded, args.data, device, args.batch_size, args.limit)
    result = {"checkpoint": loaded.name, "model": loaded.entry.get("model"), "kind": loaded.kind,
              "data": str(args.data), **metrics}
    result = to_plain(result)
    if args.json:
        print(json.dumps(result))
    else:
        print(_table(result))
    return 0 if all(not (isinstance(v, float) and math.isnan(v)) for v in result.values()) else 1
