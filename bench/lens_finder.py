"""Lens finding across a domain shift: AUROC of the lens finders on the easy and the hard test set.

    python -m bench.lens_finder [--easy data/lf-easy-test] [--hard data/lf-hard-test]

Rows: every checkpoint trained on the lens-finding simulator (unadapted and DANN-adapted,
equivariant and CNN); AUROC of the `lens` class on each test set, evaluated afresh here.
Targets: AUROC >= 0.95 on easy; on hard, adapted > unadapted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from bench.record import record
from core.analysis.evaluate import predict
from core.checkpoints import list_checkpoints, load_model
from core.data.datasets import load_tensors
from core.paths import CHECKPOINTS_DIR, DATA_DIR, repo_relative


def lens_scores(loaded, X: torch.Tensor) -> np.ndarray:
    """P(lens) of a classifier with a `lens` class on prepared images X (N, 1, S, S)."""
    return predict(loaded.model, X, "cpu", batch_size=64).softmax(1)[:, loaded.classes.index("lens")].numpy()


def lens_auroc(loaded, folder, cache: dict) -> tuple[float, int]:
    """AUROC of P(lens) on a labelled folder, and its number of images (tensors cached per grid)."""
    key = (str(folder), loaded.image_size)
    if key not in cache:
        cache[key] = load_tensors(folder, loaded.image_size, classes=loaded.classes)[:2]
    X, y = cache[key]
    truth = (y.numpy() == loaded.classes.index("lens")).astype(int)
    return float(roc_auc_score(truth, lens_scores(loaded, X))), len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--easy", default=str(DATA_DIR / "lf-easy-test"), help="labelled easy-domain test folder")
    parser.add_argument("--hard", default=str(DATA_DIR / "lf-hard-test"), help="labelled hard-domain test folder")
    args = parser.parse_args()
    torch.set_num_threads(2)
    entries = [e for e in list_checkpoints() if (e.get("data") or {}).get("generator") == "lensfinding"
               and Path(e["path"]).parent == CHECKPOINTS_DIR]  # the shipped finders, not the user's runs
    if not entries:
        raise SystemExit("No shipped lens-finder checkpoints; train them with configs/lenses-finder-*.toml.")
    cache: dict = {}
    rows, results, n_easy, n_hard = [], {}, 0, 0
    for e in entries:
        loaded = load_model(e["name"])
        easy, n_easy = lens_auroc(loaded, args.easy, cache)
        hard, n_hard = lens_auroc(loaded, args.hard, cache)
        m = e.get("metrics") or {}
        adaptation = m.get("domain_adaptation", "none")
        results[e["name"]] = (easy, hard)
        rows.append([e["name"], e["model"], (e.get("config") or {}).get("group", "—"), adaptation, round(easy, 4), round(hard, 4),
                     round((m.get("train_seconds") or 0) / 60, 1), e["data"].get("n")])
    notes = [f"Test sets: easy `{repo_relative(args.easy)}` ({n_easy} images), hard `{repo_relative(args.hard)}` ({n_hard} images), "
             "lens / non-lens balanced, seeds unseen in training. Adapted rows are fine-tuned from the unadapted checkpoint "
             "with 2000 unlabelled hard images (their labels never read): `dann` (gradient-reversal domain classifier on the "
             "invariant embedding) or `adabn` (batch-norm statistics from the hard images); train minutes of the fine-tune only."]
    for base in ("lenses-finder-equivariant", "lenses-finder-cnn"):
        for suffix in ("-adapted", "-adabn"):
            if base in results and base + suffix in results:
                (e0, h0), (e1, h1) = results[base], results[base + suffix]
                notes.append(f"{base}{suffix}: easy AUROC {e0:.4f} unadapted (target >= 0.95: {'met' if e0 >= 0.95 else 'missed'}), "
                             f"{e1:.4f} adapted; hard AUROC {h0:.4f} unadapted -> {h1:.4f} adapted ({h1 - h0:+.4f}; target "
                             f"adapted > unadapted: {'met' if h1 > h0 else 'missed'}).")
    record("lens_finder", "Lens finding across a domain shift (easy -> hard)",
           ["checkpoint", "model", "group", "adaptation", "AUROC easy", "AUROC hard", "train min", "train images"], rows,
           "\n\n".join(notes))


if __name__ == "__main__":
    main()
