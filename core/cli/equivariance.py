"""`python -m core equivariance --checkpoint NAME --data DIR --angles 0:360:15 [--flips]`.

Per angle (and flip), the mean relative error over `--n-images` images of the data set:
latent (and logits) against the untransformed input, reconstruction and every feature map
against the transformed output (see `core.analysis.equivariance` for the definitions and
the border mask). Prints a table, or JSON with `--json`; `--out FILE` also writes the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "Measure how far a checkpoint's latents, outputs and feature maps are from exact rotation/flip equivariance."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint name from checkpoints/index.json, or a .pt path")
    parser.add_argument("--data", required=True, help="data set folder; the first --n-images images are used")
    parser.add_argument("--angles", default="0:360:15", help="START:STOP:STEP in degrees, STOP excluded (default 0:360:15)")
    parser.add_argument("--flips", action="store_true", help="also measure flipped copies (flip, then rotate)")
    parser.add_argument("--n-images", type=int, default=8, help="number of images averaged over")
    parser.add_argument("--mask-radius", type=float, default=0.8,
                        help="compare maps inside this fraction of the inscribed disc (0..1]")
    parser.add_argument("--no-maps", action="store_true", help="skip feature maps (faster)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _load_images(index, n: int, size: int):
    """The first n images of a scanned data set on the model grid, (n, 1, S, S) float32 in [0, 1]."""
    from core.data.datasets import load_tensors
    from core.errors import InputError

    if n < 1:
        raise InputError(f"The number of images must be at least 1; got {n}.")
    return load_tensors(index, size, limit=n)[0]


def _measure(args: argparse.Namespace, progress=None) -> dict:
    from core.analysis.equivariance import model_equivariance, parse_angles
    from core.checkpoints import load_model
    from core.data.datasets import scan_dataset

    angles = parse_angles(args.angles)
    loaded = load_model(args.checkpoint, device=args.device)
    x = _load_images(scan_dataset(args.data), args.n_images, loaded.image_size)
    flips = [False, True] if args.flips else [False]
    report = model_equivariance(loaded, x, angles, flips, mask_radius=args.mask_radius,
                                include_maps=not args.no_maps, progress=progress)
    return {"checkpoint": loaded.name, "checkpoint_sha256": loaded.sha256, "data": str(args.data), **report.as_dict()}


def _table(result: dict) -> str:
    """Fixed-width table: one row per (flip, angle), one column per invariant output, maps mean."""
    curves = result["curves"]
    inv = [n for n, c in curves.items() if c["kind"] == "invariant"]
    eq = [n for n, c in curves.items() if c["kind"] == "equivariant" and not n.startswith("map:")]
    cols = inv + eq + ["maps (mean)"]
    lines = ["flip  angle  " + "  ".join(f"{c:>14}" for c in cols)]
    for i, flip in enumerate(result["flips"]):
        for j, angle in enumerate(result["angles"]):
            vals = [curves[n]["error"][i][j] for n in inv + eq] + [result["feature_maps_mean"][i][j]]
            lines.append(f"{'yes' if flip else 'no':>4}  {angle:5g}  " + "  ".join(
                f"{'-':>14}" if v is None else f"{v:14.3e}" for v in vals))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.atomic import atomic_write_json
    from core.json_values import to_plain
    from core.progress import lazy_progress

    with lazy_progress() as progress:
        result = to_plain(_measure(args, progress=progress))
    if args.out:
        atomic_write_json(Path(args.out), result)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['checkpoint']} (group {result['group'] or 'none: CNN'}), {result['n_images']} images, "
          f"mask radius {result['mask_radius']}: relative error per angle")
    print(_table(result))
    if args.out:
        print(f"written: {args.out}")
    return 0
