"""`python -m core reconstruct --checkpoint NAME --input FILE_OR_DIR --out DIR`: disk reconstructions as FITS.

For each image (a file, or every FITS / NumPy / PNG / JPEG / TIFF file directly in a folder):
the disk is cut out (`core.data.cutout`: found automatically, or `--box SIDE UNIT` with an
optional `--centre ROW COL` and `--distance-pc`), put on the model grid and reconstructed.
Written to DIR, per input `<stem>`:
- `<stem>_cutout.fits`: what the model saw (grid S x S, values in [0, 1]);
- `<stem>_<checkpoint>_reconstruction.fits`: the reconstruction on the same grid;
both with the input's header made true for the cutout (`core.io.headers.regridded_header` with
the box: a 2-D WCS of the image plane, so a CASA cube's FREQ / STOKES axes go; CRPIX / CDELT /
pixel scale follow the box and the resampling, BUNIT "normalised", HISTORY cards with the box
and every note). Masked pixels (NaN in the input, or outside it) are
NaN in both files. `DIR/reconstruct.json` lists, per input, the box, the metrics over the valid
pixels, the notes (including a unit check: a velocity map gets a warning), the kind check and the latent.
Every input also gets the kind check (core.analysis.kind, on the file as given): an image that is not a disk
(a galaxy, a lens, a velocity map) gets a warning that the model's answer on it is out of kind.
Each image is first taken as linear physical brightness or a figure (PNG / JPEG, normalised or stretched;
core.io.stretch.brightness_input): a figure goes to a model trained on dsharp-figures as shown, to any
other with its stretch undone approximately. One line per input says which (`brightness_note` in the JSON).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Cut the disk out of FITS / NumPy / image files, reconstruct it with an autoencoder checkpoint and write both as FITS."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="autoencoder checkpoint name from checkpoints/index.json, or a .pt path")
    parser.add_argument("--input", required=True, help="an image file or a folder of them (not recursive)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--box", nargs=2, metavar=("SIDE", "UNIT"), default=None,
                        help="your box instead of the automatic cutout: its side and unit (px, arcsec or au)")
    parser.add_argument("--centre", nargs=2, type=float, metavar=("ROW", "COL"), default=None,
                        help="centre of --box in input pixels (0-based row, column); default: the detected disk")
    parser.add_argument("--distance-pc", type=float, default=None, help="distance to the disk in pc (for --box ... au)")
    parser.add_argument("--no-cutout", action="store_true", help="use the whole image (its central square), as before cutouts")


def _input_files(path: Path) -> list[Path]:
    """The image files to reconstruct: `path` itself, or the supported files directly inside it (sorted)."""
    from core.errors import InputError
    from core.io import SUPPORTED_EXTENSIONS

    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path.name} does not exist; give an image file or a folder of images.")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)
    if not files:
        raise InputError(f"The folder {path.name} holds no FITS, NumPy, PNG, JPEG or TIFF file.")
    return files


def _output_cards(meta, shape, grid: int, result, checkpoint: str, what: str) -> list:
    from core.io.headers import regridded_header

    cards = regridded_header(meta.header, shape, grid, result.cutout.box)
    r0, r1, c0, c1 = result.cutout.box
    cards.append(("HISTORY", f"EquiScope: {what}", ""))
    cards.append(("HISTORY", f"EquiScope: model {checkpoint}; box rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1} (0-based)", ""))
    cards.append(("HISTORY", f"EquiScope: masked (NaN) pixels: {int((~result.cutout.valid).sum())}", ""))
    for note in result.notes:
        cards.append(("COMMENT", note, ""))
    return cards


def run(args) -> int:
    import numpy as np
    import torch

    from core.analysis.evaluate import model_data
    from core.analysis.kind import check_kind, kind_flag, kind_notes
    from core.analysis.reconstruct import reconstruct_cutout
    from core.checkpoints import load_model
    from core.data.cutout import CutoutBox
    from core.errors import InputError
    from core.io import read_image, write_fits
    from core.io.stretch import saw_figures
    from core.json_values import to_plain

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    files = _input_files(Path(args.input))
    loaded = load_model(args.checkpoint)
    if loaded.kind != "autoencoder":
        raise InputError(f"{loaded.entry['name']} is a {loaded.kind}; reconstruct needs an autoencoder checkpoint.")
    box = None
    if args.box:
        try:
            side = float(args.box[0])
        except ValueError:
            raise InputError(f"The box side must be a number; got {args.box[0]!r}.") from None
        box = CutoutBox(side, args.box[1], tuple(args.centre) if args.centre else None, args.distance_pc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = loaded.entry["name"]
    figures = saw_figures(loaded.entry)
    data_kind = model_data(loaded.entry)
    summary, failed = [], 0
    for path in files:
        try:
            image = read_image(path)
            result = reconstruct_cutout(loaded.model, loaded.image_size, image.data, box=box,
                                        pixel_scale_arcsec=image.meta.pixel_scale_arcsec, fill_value=image.meta.fill_value,
                                        bunit=image.meta.bunit, auto=not args.no_cutout, meta=image.meta,
                                        model_saw_figures=figures)
        except InputError as exc:
            failed += 1
            print(f"{path.name}: error: {exc}")
            continue
        stem = path.stem
        valid = result.cutout.valid
        files_out = {"cutout": out / f"{stem}_cutout.fits", "reconstruction": out / f"{stem}_{name}_reconstruction.fits"}
        write_fits(files_out["cutout"], np.where(valid, result.cutout.image, np.nan).astype(np.float32),
                   _output_cards(image.meta, image.data.shape, loaded.image_size, result, name, "the cutout the model saw"))
        write_fits(files_out["reconstruction"], np.where(valid, result.reconstruction, np.nan).astype(np.float32),
                   _output_cards(image.meta, image.data.shape, loaded.image_size, result, name, f"reconstruction by the model {name}"))
        m = result.metrics
        print(f"{path.name}: {result.cutout.source}, box {result.cutout.side_px} px -> MS-SSIM {m['ms_ssim']:.3f}, "
              f"SSIM {m['ssim']:.3f}, PSNR {m['psnr_db']:.1f} dB")
        print(f"  {result.brightness_note}")
        check = check_kind(image.data, image.meta)
        kind_lines = kind_notes(check, data_kind, None)
        for note in kind_lines:
            print(f"  {'warning: ' if note.level == 'warning' else ''}{note.text}")
        for warning in result.warnings:
            print(f"  warning: {warning}")
        summary.append({"input": path.name, "files": {k: v.name for k, v in files_out.items()}, "source": result.cutout.source,
                        "box": list(result.cutout.box), "centre": list(result.cutout.centre), "radius_px": result.cutout.radius_px,
                        "metrics": m, "notes": result.notes, "unit_note": result.unit_note, "fit_note": result.fit_note,
                        "brightness_note": result.brightness_note,
                        "kind": {"kind": check.kind, "probability": check.probability, "flag": kind_flag(check, data_kind),
                                 "notes": [note.text for note in kind_lines]},
                        "latent": result.latent.tolist()})
    from core.atomic import atomic_write_json

    atomic_write_json(out / "reconstruct.json", to_plain({"checkpoint": name, "images": summary}))
    print(f"wrote {2 * len(summary)} FITS files and reconstruct.json to {out}" + (f"; {failed} file(s) failed" if failed else ""))
    return 1 if failed else 0
