"""Simulator speed (images/s, 1 and 2 workers) and how visible the lens substructure is.

Run: .venv/bin/python -m bench.simulators [--n 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from core.data.dataset_writer import render, simulate_dataset
from core.data.simulator_versions import DEFAULT_SIZE, SIMULATOR_VERSION


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


def learnability(n: int, epochs: int, seed: int = 0) -> list[list]:
    """Validation one-vs-rest AUC of a small plain CNN trained on n simulated lenses (150 px -> 75 px grid).

    The check that the substructure classes are learnable at all; the project's real classifiers
    are trained by core.train. Rotations/flips by 90 degrees augment the training batches.
    """
    import torch
    from sklearn.metrics import roc_auc_score
    from torch import nn

    from core.data.datasets import load_tensors, split_indices
    from core.data.transforms import RandomE2Augment

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        simulate_dataset("lenses", n, 150, seed=seed, out=tmp, workers=1, progress=False)
        x, y, _ = load_tensors(tmp, 75)  # (N, 1, 75, 75), (N,)
    train, val = split_indices(n, 0.2, seed, labels=y.numpy())
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 3),
    )  # fmt: skip
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    augment = RandomE2Augment("right", flips=True)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train)).split(32):
            idx = torch.as_tensor(train)[batch]
            loss = nn.functional.cross_entropy(model(augment(x[idx])), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        prob = torch.softmax(model(x[val]), 1).numpy()  # (n_val, 3)
    truth = y[val].numpy()
    rows = [[c, n, epochs, float(roc_auc_score(truth == k, prob[:, k]))] for k, c in enumerate(("no_sub", "cdm", "vortex"))]
    rows.append(["micro", n, epochs, float(roc_auc_score(np.eye(3)[truth].ravel(), prob.ravel()))])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40, help="images per measurement")
    parser.add_argument("--learnability", type=int, default=0, metavar="N",
                        help="also train a small CNN on N simulated lenses and record its validation AUC")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the learnability CNN")
    args = parser.parse_args()
    if args.learnability:
        from bench.record import record

        rows = learnability(args.learnability, args.epochs)
        record("lens_learnability", "Lens classes learnable by a small CNN (validation one-vs-rest AUC)",
               ["class", "images", "epochs", "AUC"], rows,
               notes=f"Simulator generator {SIMULATOR_VERSION}. Plain 4-layer CNN (about 65k parameters), 75-px grid, "
                     "20 % stratified validation, rot90/flip augmentation: a deliberately small lower bound; "
                     "the project's classifiers (core.train) train on the 129-px grid.")  # fmt: skip
        return
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
            f"cdm: mean {lenses.CDM_MEAN_SUBHALOS:g} (1 + Poisson) point-mass subhalos, dN/dm ~ m^-{lenses.CDM_MASS_SLOPE:g} "
            f"on [{lenses.CDM_MASS_MIN_MSUN:.0e}, {lenses.CDM_MASS_MAX_MSUN:.0e}] Msun in {lenses.CDM_ANNULUS[0]:g}-{lenses.CDM_ANNULUS[1]:g} theta_E; "
            f"vortex: line of total mass {lenses.VORTEX_MASS_MIN_MSUN:.0e}-{lenses.VORTEX_MASS_MAX_MSUN:.0e} Msun "
            f"(log-uniform), length {lenses.VORTEX_LENGTH_THETA_E[0]:g}-{lenses.VORTEX_LENGTH_THETA_E[1]:g} theta_E, "
            f"centre {lenses.VORTEX_CENTRE_THETA_E[0]:g}-{lenses.VORTEX_CENTRE_THETA_E[1]:g} theta_E. sigma = per-pixel noise at SNR 25."
        ),
    )


if __name__ == "__main__":
    main()
