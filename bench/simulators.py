"""Simulator speed (images/s, 1 and 2 workers) and how visible the lens substructure is.

Run: .venv/bin/python -m bench.simulators [--n 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from core.data.simulate import DEFAULT_SIZE, render, simulate_dataset


def in_process_rate(kind: str, n: int) -> float:
    """Images/s rendering in this process (no files, no pool)."""
    render(kind, 0, DEFAULT_SIZE[kind], 0)  # warm imports and caches
    t = time.perf_counter()
    for i in range(n):
        render(kind, i, DEFAULT_SIZE[kind], 0)
    return n / (time.perf_counter() - t)


def dataset_rate(kind: str, n: int, workers: int) -> float:
    """Images/s of simulate_dataset end to end (worker start-up and atomic writes included)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        simulate_dataset(kind, n, None, seed=0, out=Path(tmp), workers=workers, progress=False)
        return n / (time.perf_counter() - t)


def substructure_visibility(n: int) -> list[list]:
    """Per class: median over n twins of max |class - no_sub| / noise sigma, and share above 3 sigma (noiseless twins)."""
    from core.data.lenses import noise_sigma_map, sample_lens_params, simulate_lens

    rows = []
    peaks = {"cdm": [], "vortex": []}
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        params = sample_lens_params(rng)
        state = rng.bit_generator.state
        twins = {}
        for cls in ("no_sub", "cdm", "vortex"):
            rng.bit_generator.state = state
            twins[cls] = simulate_lens(params, cls, 150, rng, noise=False).astype(np.float64)
        sigma = noise_sigma_map(twins["no_sub"], params)
        for cls in peaks:
            peaks[cls].append(float(np.max(np.abs(twins[cls] - twins["no_sub"]) / sigma)))
    for cls, values in peaks.items():
        v = np.array(values)
        rows.append([cls, n, float(np.median(v)), float(np.mean(v > 3)), float(np.mean(v > 5))])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40, help="images per measurement")
    args = parser.parse_args()
    rows = []
    for kind in ("disks", "lenses"):
        rows.append([kind, DEFAULT_SIZE[kind], "in-process", 1, in_process_rate(kind, args.n)])
        for workers in (1, 2):
            rows.append([kind, DEFAULT_SIZE[kind], "simulate_dataset", workers, dataset_rate(kind, args.n, workers)])
    from bench.record import (
        record,  # imports torch: after the timings, so workers fork as from the CLI
    )
    from core.data import lenses

    record(
        "simulators",
        "Simulator speed",
        ["simulator", "size (px)", "path", "workers", "images/s"],
        rows,
        notes=(
            f"{args.n} images per row; `simulate_dataset` rows include worker start-up (fork, as from the CLI) "
            "and atomic .npy writes. The machine is shared by several people; rates vary with its load."
        ),
    )
    vis = substructure_visibility(max(10, args.n // 2))
    record(
        "lens_substructure_visibility",
        "Lens substructure visibility (noiseless twins vs no_sub, 150 px)",
        ["class", "twins", "median max |diff| / sigma", "share > 3 sigma", "share > 5 sigma"],
        vis,
        notes=(
            f"cdm: Poisson mean {lenses.CDM_MEAN_SUBHALOS:g} point-mass subhalos, dN/dm ~ m^-{lenses.CDM_MASS_SLOPE:g} "
            f"on [{lenses.CDM_MASS_MIN_MSUN:.0e}, {lenses.CDM_MASS_MAX_MSUN:.0e}] Msun in {lenses.CDM_ANNULUS[0]:g}-{lenses.CDM_ANNULUS[1]:g} theta_E; "
            f"vortex: line of total mass {lenses.VORTEX_MASS_MIN_MSUN:.0e}-{lenses.VORTEX_MASS_MAX_MSUN:.0e} Msun "
            "(log-uniform), length 0.5-1.5 theta_E, centre 0.9-1.1 theta_E. sigma = per-pixel noise at SNR 25."
        ),
    )


if __name__ == "__main__":
    main()
