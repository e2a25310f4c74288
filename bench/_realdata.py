"""Where the benchmarks find real images made by other people (not part of the repository).

The folder is given with `--realdata DIR` or the environment variable EQUISCOPE_REALDATA;
`--realdata` wins. The tests' `realdata` fixture (tests/conftest.py) finds it with the same
`realdata_dir`, falling back to `SIBLING` (../shared/realdata beside the repository). Its layout:

    DIR/disks/   ring20_robust0.5_clean.image.fits (a CASA simobserve + tclean image of a 20 au
                 ring) and ring20__model_image.fits (its sky model)
    DIR/lenses/  DeepLense files: DeepLenseSim_Model_{I,II}_axion_native.npy, ML4SCI_LucasJose_*.npy

A benchmark without the folder still runs: it leaves out the real-data rows and prints one
sentence saying so (`absent_note`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.paths import REPO_ROOT

ENV = "EQUISCOPE_REALDATA"
SIBLING = REPO_ROOT.parent / "shared" / "realdata"  # the tests' folder when $EQUISCOPE_REALDATA is unset


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--realdata DIR` to a benchmark's parser."""
    parser.add_argument("--realdata", type=Path, default=None, metavar="DIR",
                        help=f"folder of real third-party images (disks/, lenses/); default: ${ENV}")


def realdata_dir(given: str | Path | None = None, default: Path | None = None) -> Path | None:
    """The real-data folder: `given` (from --realdata), else $EQUISCOPE_REALDATA, else `default`
    (None for the benchmarks, `SIBLING` for the tests)."""
    raw = given if given not in (None, "") else os.environ.get(ENV)
    return Path(raw).expanduser().resolve() if raw else default


def realdata_file(folder: Path | None, relative: str) -> Path | None:
    """`folder / relative` when that file exists, else None."""
    if folder is None:
        return None
    path = folder / relative
    return path if path.is_file() else None


def absent_note(folder: Path | None, relative: str, what: str) -> str:
    """One sentence: why `relative` is missing and how to provide it (`what`: the rows left out).
    It names no local folder, so it can go into BENCHMARKS.md."""
    if folder is None:
        return (f"No real-data folder was given, so {what} are left out: pass --realdata DIR or set {ENV}=DIR "
                f"to a folder holding {relative}.")
    return (f"The real-data folder given (--realdata or {ENV}) holds no {relative}, so {what} are left out: "
            f"point it at a folder that does.")
