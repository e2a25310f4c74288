"""Every lens classifier on fresh DeepLense preset test sets, and the invariance of its logits.

    python -m bench.deeplense_classifiers [--n 900] [--seed 2025]

Test sets: `python -m core simulate lenses --preset deeplense-model<M> --n N --seed SEED`
(a seed no training or validation set used), written once to data/bench-dl<M>-<seed>-<n>.
Quality: test macro AUC of every lens classifier on both presets (so the old project-generator
classifiers are measured on DeepLense data too). Invariance: on 64 images of the classifier's own
preset, the relative change of the logits ||f(g x) - f(x)|| / ||f(x)|| at 90-degree rotations
and flips (max over the group elements) and its mean over the other angles 0:360:15.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.record import record
from core.analysis.equivariance import equivariance_curve
from core.analysis.evaluate import evaluate_loaded
from core.checkpoints import list_checkpoints, load_model
from core.data.datasets import load_tensors
from core.paths import DATA_DIR

PRESETS = {1: "deeplense-model1", 2: "deeplense-model2"}
NEW = ["lenses-model1-equivariant", "lenses-model1-cnn", "lenses-model2-equivariant", "lenses-model2-cnn"]
OLD = ["lenses-classifier-equivariant", "lenses-classifier-cnn"]


def test_set(model: int, n: int, seed: int) -> Path:
    from core.data.dataset_writer import simulate_dataset

    out = DATA_DIR / f"bench-dl{model}-{seed}-{n}"
    if not (out / "manifest.json").is_file():
        simulate_dataset("lenses", n, None, seed=seed, out=out, workers=2, progress=False, preset=PRESETS[model])
    return out


def invariance(loaded, folder: Path, n: int = 64) -> tuple[float, float]:
    """(max relative logit change over 90-degree rotations and flips, mean over the other angles)."""
    X, _, _ = load_tensors(folder, loaded.image_size, limit=n)
    model = loaded.model.eval()

    def logits(x):
        with torch.no_grad():
            return model(x)

    right = equivariance_curve(logits, X, [0.0, 90.0, 180.0, 270.0], flips=(False, True), mask_input=False)  # identity: 0
    other_angles = [a for a in range(15, 360, 15) if a % 90]
    other = equivariance_curve(logits, X, other_angles, flips=(False,), mask_input=False)
    return float(np.max(right.error_max)), float(np.mean(other.error))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=900)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = {m: test_set(m, args.n, args.seed) for m in PRESETS}
    available = {e["name"] for e in list_checkpoints()}
    rows = []
    for name in [n for n in NEW + OLD if n in available]:
        loaded = load_model(name)
        aucs = {m: evaluate_loaded(loaded, folder)["macro_auc"] for m, folder in sets.items()}
        own = 1 if "model1" in name else 2
        exact, other = invariance(loaded, sets[own])
        per = evaluate_loaded(loaded, sets[own])["per_class_auc"]
        rows.append([name, loaded.entry.get("data", {}).get("preset") or "project", aucs[1], aucs[2],
                     per["no_sub"], per["cdm"], per["vortex"], exact, other])
    record("deeplense-classifiers", "Lens classifiers on fresh DeepLense preset test sets",
           ["checkpoint", "trained on", "macro AUC Model I", "macro AUC Model II", "no_sub (own preset)", "cdm", "vortex",
            "logit change, 90°/flips (max)", "logit change, other angles (mean)"],
           rows,
           notes=f"{args.n} images per preset (seed {args.seed}, never used for training). Per-class AUCs and invariance on "
                 "the preset the checkpoint was trained on (Model II for the project-generator classifiers). Targets: macro AUC >= 0.97 (Model I) / "
                 ">= 0.98 (Model II); 90°/flip change <= 1e-5; other angles <= 0.2 x the CNN's.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
