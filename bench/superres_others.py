"""x2 super-resolution on other groups' pair sets: each checkpoint against bicubic, set by set, in both conventions.

Run: .venv/bin/python -m bench.superres_others [--sets DIR ...] [--checkpoint NAME_OR_PT ...] [--limit N] [--record]

Pair sets: every folder with lr/ and hr/ sub-folders (any letter case, as the DeepLense SR sets write LR/ and
HR/; same file names; .npy of shape (H, W) or (1, H, W), FITS, PNG) found at or below each `--sets` DIR (three
levels deep), default the real-data folder (--realdata, $EQUISCOPE_REALDATA, else ../shared/realdata). They are made by others and
never trained on here. Scores (core.analysis.superres.evaluate_pairs): PSNR and SSIM of the checkpoint and of
bicubic against HR, in the "physical" convention (prediction on the LR's flux scale; it and HR scaled by the
HR's range) and the "minmax" one of the DeepLense SR sets (LR and HR each scaled to [0, 1] by its own range,
prediction and bicubic on the LR's, clipped to [0, 1]). The last rows give each checkpoint's mean gain over bicubic across the sets (every set counts
once, whatever its size). Targets (issue 26): mean gain >= +1 dB, the equivariant model >= the CNN.
Prints the table; `--record` also writes it into BENCHMARKS.md (section superres-others).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bench._realdata import SIBLING, add_argument, realdata_dir

DEFAULT_CHECKPOINTS = ("lenses-sr-equivariant-v4", "lenses-sr-cnn-v4", "lenses-sr-equivariant", "lenses-sr-cnn")
SCALINGS = ("physical", "minmax")
HEADER = ["pair set", "pairs", "LR -> HR", "convention", "method", "PSNR (dB)", "SSIM", "vs bicubic (dB)"]


def find_sets(roots: list[Path]) -> dict[str, Path]:
    """{short name: pair folder} of every pair folder at or below the roots; names are paths relative to the root."""
    from core.data.pairs import pair_folders

    found = {}
    for root in roots:
        for folder in pair_folders(root):
            rel = folder.relative_to(root).as_posix()
            name = root.name if rel == "." else rel
            found[name if name not in found else str(folder)] = folder
    return found


def available(names: list[str]) -> dict[str, object]:
    """{name: LoadedModel} of the checkpoints that load (names from the index or .pt paths); one line for each that does not."""
    from core.checkpoints import load_model

    models = {}
    for name in names:
        try:
            loaded = load_model(name)
        except (ValueError, OSError) as exc:  # InputError, CheckpointError, a missing file
            print(f"left out {name}: {str(exc).split(';')[0]}")
            continue
        if loaded.kind != "superres":
            print(f"left out {name}: a {loaded.kind}, not a super-resolution checkpoint")
            continue
        models[loaded.name] = loaded
    return models


def score_sets(models: dict, sets: dict[str, Path], scalings=SCALINGS, limit: int | None = None) -> tuple[list[list], dict]:
    """(table rows, {(checkpoint, scaling): [gain per set]}) of every model on every set in every convention."""
    from core.analysis.superres import evaluate_pairs

    rows, gains = [], {}
    for set_name, folder in sets.items():
        for scaling in scalings:
            bicubic_done = False
            for name, loaded in models.items():
                with torch.no_grad():
                    s = evaluate_pairs(loaded.model, folder, limit=limit, scaling=scaling)
                size = ", ".join(s["sizes"])
                if not bicubic_done:
                    rows.append([set_name, s["n"], size, scaling, "bicubic", f"{s['bicubic_psnr_db']:.2f}", f"{s['bicubic_ssim']:.4f}", "0.00"])
                    bicubic_done = True
                rows.append([set_name, s["n"], size, scaling, name, f"{s['psnr_db']:.2f}", f"{s['ssim']:.4f}", f"{s['gain_db']:+.2f}"])
                gains.setdefault((name, scaling), []).append(s["gain_db"])
    return rows, gains


def summary_rows(gains: dict, n_sets: int) -> list[list]:
    """One row per (checkpoint, convention): the mean gain over bicubic across the sets."""
    return [[f"mean over {n_sets} sets", "", "", scaling, name, "", "", f"{float(np.mean(g)):+.2f}"]
            for (name, scaling), g in gains.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", type=Path, default=None, metavar="DIR",
                        help="pair folders, or folders holding them (searched 3 levels deep); default: the real-data folder")
    parser.add_argument("--checkpoint", action="append", default=None, metavar="NAME_OR_PT",
                        help=f"super-resolution checkpoint (repeatable); default: {', '.join(DEFAULT_CHECKPOINTS)} (those present)")
    parser.add_argument("--scaling", choices=("both", *SCALINGS), default="both", help="score convention(s)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pairs of each set (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--record", action="store_true", help="also write the table into BENCHMARKS.md")
    add_argument(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    roots = list(args.sets) if args.sets else [realdata_dir(args.realdata, SIBLING)]
    sets = find_sets(roots)
    if not sets:
        print(f"No pair folders (lr/ and hr/ with the same file names) were found under {', '.join(map(str, roots))}; "
              "pass --sets DIR (or --realdata DIR) to the folder holding them.")
        return 1
    models = available(args.checkpoint or list(DEFAULT_CHECKPOINTS))
    if not models:
        print("None of the checkpoints asked for could be loaded; pass --checkpoint NAME or a .pt path.")
        return 1
    scalings = SCALINGS if args.scaling == "both" else (args.scaling,)
    rows, gains = score_sets(models, sets, scalings, args.limit)
    rows += summary_rows(gains, len(sets))
    if args.json:
        print(json.dumps({"sets": {k: str(v) for k, v in sets.items()}, "header": HEADER, "rows": rows}))
        return 0
    notes = (__doc__.split("\n\n", 2)[2].replace("\n", " ")
             + (f" Only the first {args.limit} pairs of each set were scored." if args.limit else ""))
    if args.record:
        from bench.record import record

        record("superres-others", "x2 super-resolution on other groups' pair sets", HEADER, rows, notes)
    else:
        from bench.record import markdown_table

        print(markdown_table(HEADER, rows))
        print("\nsets: " + "; ".join(f"{k} = {v}" for k, v in sets.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
