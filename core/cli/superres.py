"""`python -m core superres --checkpoint NAME --input FILE_OR_DIR --out DIR [--format fits|npy] [--scaling minmax]`.

Upscales every input x2 (core.analysis.superres.upscale: values on the input's own scale; `--scaling minmax`:
the output in the per-image min-max convention of the DeepLense SR data sets, core.analysis.superres.to_convention)
and writes
it under DIR with the input's relative name; FITS keeps the input's header made true for the finer
grid (core.io.headers.upscaled_cards: a 2-D WCS of the image plane, pixel scale halved, reference
pixel moved).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HELP = "Upscale images x2 with a super-resolution checkpoint (FITS or .npy out, pixel scale halved in the header)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="super-resolution checkpoint name (checkpoints/index.json) or .pt path")
    parser.add_argument("--input", required=True, help="an image file (FITS, .npy, PNG, ...) or a folder of them (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder (the input's relative names, .fits or .npy)")
    parser.add_argument("--format", choices=("fits", "npy"), default="fits", help="output format (default fits, header kept)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA when available)")
    parser.add_argument("--scaling", choices=("physical", "minmax"), default="physical",
                        help="physical (default): values on the input's flux scale; minmax: scaled to [0, 1] by its own "
                             "min and max after a cut at the input's minimum (the DeepLense SR data sets' convention)")
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
    import torch

    from core.analysis.superres import SCALINGS, to_convention, upscale
    from core.atomic import atomic_save_npy
    from core.checkpoints import load_model
    from core.data.pairs import lr_range
    from core.device import pick_device
    from core.errors import InputError
    from core.io import read_image, write_fits
    from core.io.headers import upscaled_cards

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
        if args.scaling == "minmax":  # on the input's min-max scale, then in the convention
            lo, scale = lr_range(image.data)
            up = to_convention(torch.from_numpy((up - lo) / scale)[None, None])[0, 0].numpy().astype(np.float32)
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
        print(json.dumps({"checkpoint": loaded.name, "scaling": SCALINGS[args.scaling], "files": written}))
    else:
        print(f"scaling {SCALINGS[args.scaling]}")
        for w in written:
            print(f"{w['input']} {w['shape_in'][1]}x{w['shape_in'][0]} -> {w['output']} {w['shape_out'][1]}x{w['shape_out'][0]}")
    return 0
