"""Real-sky lens finders against detector artefacts: AUROC on the sky test set as stored and with the hits that cosmic
rays and warm pixels leave in combined CCD images (core.data.observe.cosmic_rays), at several densities.

    python -m bench.cosmic_rays [--checkpoints A,B] [--data data/sky-test] [--densities 2,5,10] [--limit N] [--no-record]

Each image gets the same hits for every model (one seed per density), scaled by its own noise (the input stretch's
estimate, core.models.input_stretch), then is prepared again (min-max) as a stored image is. Rows: AUROC as stored,
at each density, and the mean change of p(lens) at the highest density. Default checkpoints: every shipped finder
trained on the real-sky simulator.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from bench.lens_finder import lens_scores
from bench.record import record
from core.checkpoints import list_checkpoints, load_model
from core.data.datasets import load_tensors
from core.data.observe import cosmic_rays, to_model_grid
from core.models.input_stretch import NoiseAsinh
from core.paths import CHECKPOINTS_DIR, DATA_DIR, repo_relative


def with_hits(X: torch.Tensor, density: float, seed: int) -> torch.Tensor:
    """Prepared images X (N, 1, S, S) with cosmic-ray hits of `density` per 1000 pixels at most, prepared again."""
    sigma = NoiseAsinh(X.shape[-1], 1.0).noise(X).flatten()
    hits = cosmic_rays(tuple(X.shape), sigma, density, torch.Generator().manual_seed(seed))
    return to_model_grid(X + hits.to(X.dtype), X.shape[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="", help="comma-separated names or .pt paths (default: the shipped sky finders)")
    parser.add_argument("--data", default=str(DATA_DIR / "sky-test"), help="labelled lens / nonlens test folder")
    parser.add_argument("--densities", default="2,5,10", help="hits per 1000 pixels at most (per image uniform from none)")
    parser.add_argument("--limit", type=int, default=None, help="the first N images only")
    parser.add_argument("--no-record", action="store_true", help="print the table without writing BENCHMARKS.md")
    args = parser.parse_args()
    names = [n for n in args.checkpoints.split(",") if n] or [
        e["name"] for e in list_checkpoints([CHECKPOINTS_DIR]) if (e.get("data") or {}).get("generator") == "sky"]
    densities = [float(d) for d in args.densities.split(",") if d]
    torch.set_num_threads(2)
    cache: dict = {}
    rows = []
    for name in names:
        loaded = load_model(name)
        if loaded.image_size not in cache:
            X, y = load_tensors(args.data, loaded.image_size, classes=loaded.classes, limit=args.limit)[:2]
            cache[loaded.image_size] = (X, y, [with_hits(X, d, seed=i) for i, d in enumerate(densities)])
        X, y, hit = cache[loaded.image_size]
        truth = (y.numpy() == loaded.classes.index("lens")).astype(int)
        clean = lens_scores(loaded, X)
        scores = [lens_scores(loaded, h) for h in hit]
        aucs = [roc_auc_score(truth, s) for s in scores]
        rows.append([name, roc_auc_score(truth, clean), *aucs, float(np.abs(scores[-1] - clean).mean())])
        print(rows[-1], flush=True)
    header = ["checkpoint", "AUROC as stored", *(f"AUROC, hits <= {d:g} / 1000 px" for d in densities),
              f"mean |change of p(lens)| at {densities[-1]:g}"]
    if args.no_record:
        from bench.record import markdown_table

        print(markdown_table(header, rows))
        return
    record("cosmic_rays", "Real-sky lens finders against cosmic-ray hits", header, rows,
           notes=f"{len(X)} images of {repo_relative(args.data)}; hits of core.data.observe.cosmic_rays (per image a Poisson "
                 "number, its mean uniform from none to the density; short tracks of 5-200 noise sigmas), the same for every model.")


if __name__ == "__main__":
    main()
