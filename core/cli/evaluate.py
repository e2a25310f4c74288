"""`python -m core evaluate --checkpoint NAME_OR_PATH --data DIR [--json] [--csv PATH] [--reference DIR]`.

Held-out quality of a checkpoint on a data set (core.analysis.evaluate: MS-SSIM for autoencoders,
ROC AUC for classifiers, PSNR / SSIM against bicubic for super-resolution on lr/ + hr/). `--csv PATH`
writes one row per file, `--reference DIR` adds each file's latent distance to that reference set; with either, each
file also gets the kind check (core.analysis.kind, on the file as given), and a row it flags is never 'familiar'.
Images whose files give a pixel scale (a FITS with a celestial WCS) are first put on the grid the
checkpoint was trained at (its index entry's `grid`: core.data.regrid_dataset), and a note says so;
`--native-pixels` skips that and feeds every file's pixels as they are. `--scaling minmax` scores
super-resolution in the DeepLense SR data sets' per-image min-max convention (core.analysis.superres); the
output's `scaling` line names the convention used.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

HELP = "Evaluate a checkpoint on a labelled dataset folder (MS-SSIM for autoencoders, ROC AUC for classifiers, PSNR/SSIM vs bicubic for super-resolution on lr/ + hr/)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint name from checkpoints/index.json, or a .pt path")
    parser.add_argument("--data", required=True, help="dataset folder (class sub-folders of .npy/.fits/.png, or flat)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA when available)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--csv", default=None, help="also write one row per file (true, predicted, probability, ...) here")
    parser.add_argument("--reference", default=None,
                        help="a reference data set folder: adds each file's latent distance and its percentile")
    parser.add_argument("--native-pixels", action="store_true",
                        help="do not resample files with a pixel scale to the checkpoint's training grid")
    parser.add_argument("--scaling", choices=("physical", "minmax"), default="physical",
                        help="super-resolution scores: physical (default; prediction on the LR's flux scale, it and HR "
                             "scaled by HR's range) or minmax (the DeepLense SR data sets' per-image min-max: LR, HR "
                             "and the upscaled image each scaled to [0, 1] by its own range)")


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
    from core.analysis.evaluate import evaluate_dataset, rows_csv
    from core.atomic import atomic_write_bytes
    from core.checkpoints import load_model
    from core.data.regrid_dataset import dataset_on_grid
    from core.device import pick_device
    from core.json_values import to_plain

    device = pick_device(args.device)
    loaded = load_model(args.checkpoint, device=device)
    reference = None
    if loaded.kind == "superres":  # lr/ + hr/ pairs: PSNR / SSIM against bicubic, no per-file familiarity
        from core.analysis.superres import evaluate_pairs

        metrics = evaluate_pairs(loaded.model.to(device), args.data, device, args.limit, scaling=args.scaling)
        result = to_plain({"checkpoint": loaded.name, "model": loaded.entry.get("model"), "kind": loaded.kind,
                           "data": str(args.data), **metrics})
        print(json.dumps(result) if args.json else _table(result))
        return 0
    if args.scaling != "physical":
        from core.errors import InputError

        raise InputError(f"--scaling chooses how super-resolution is scored; {loaded.name} is a {loaded.kind}, so leave it out.")
    if args.reference:
        from core.analysis.encode import encode_dataset
        from core.analysis.familiarity import FamiliarityReference
        from core.data.datasets import scan_dataset

        reference = FamiliarityReference.fit(encode_dataset(loaded, scan_dataset(args.reference)).z)
    with tempfile.TemporaryDirectory(prefix="equiscope-grid-") as folder:
        grid = None if args.native_pixels else loaded.entry.get("grid")
        source, grid_note = dataset_on_grid(args.data, grid, folder, args.limit)
        batch = evaluate_dataset(loaded, source, device, args.batch_size, args.limit, reference=reference,
                                 per_file=bool(args.csv), kind_source=args.data if args.reference or args.csv else None)
    metrics = batch.metrics
    if args.csv:
        atomic_write_bytes(Path(args.csv), rows_csv(batch.rows).encode())
    result = {"checkpoint": loaded.name, "model": loaded.entry.get("model"), "kind": loaded.kind,
              "data": str(args.data), **metrics}
    if grid_note:
        result["notes"] = [grid_note, *(result.get("notes") or [])]
    result = to_plain(result)
    if args.json:
        print(json.dumps(result))
    else:
        print(_table(result))
    return 0 if all(not (isinstance(v, float) and math.isnan(v)) for v in result.values()) else 1
