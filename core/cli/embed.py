"""`python -m core embed --checkpoint NAME --data DIR`: latents -> t-SNE map -> clusters -> scores.

Writes one JSON file (`--out`, default `runs/embed/<checkpoint>__<data folder>.json` of the repository) with the
map position, cluster and known label of every image, the t-SNE settings, the clustering
(method, k, silhouette) and, where the data set has labels, ARI and NMI of the clusters
against them (for disk data sets also against "has a planet": planets_0 vs the rest).
`--json` prints the same summary (without the per-image points) to stdout.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from core.paths import LATENT_CACHE_DIR, RUNS_DIR

HELP = "Encode a data set with a checkpoint, fit a t-SNE map, cluster the latents and score the clusters against known labels."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint name from checkpoints/index.json, or a .pt path")
    parser.add_argument("--data", required=True, help="data set folder (class sub-folders, or flat with labels.csv)")
    parser.add_argument("--method", default="spectral", choices=["spectral", "kmeans", "hdbscan"], help="clustering method")
    parser.add_argument("--k", type=int, default=None, help="number of clusters (default: chosen by silhouette in 2..8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the t-SNE map and of the clustering")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache-dir", default=None, help="latent and map cache folder (default cache/latents of the repository)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=None, help="JSON file to write (default runs/embed/<checkpoint>__<data>.json)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _has_planet(label: str) -> str:
    """Binary label of a disk image: "planets_0" -> "no_planet", any other planet count -> "planet"."""
    return "no_planet" if label == "planets_0" else "planet"


def _relative(file: str, root: str) -> str:
    """`file` relative to the data folder when it lies inside it (portable JSON), else as given."""
    f, r = Path(file).resolve(), Path(root).resolve()
    return str(f.relative_to(r)) if f.is_relative_to(r) else str(file)


def _embed(args: argparse.Namespace, progress=None) -> dict:
    """Everything `run` writes, as one JSON-ready dict (the per-image points under "points")."""
    from core.analysis.cluster import agreement, cluster_latents
    from core.analysis.encode import encode_dataset
    from core.analysis.tsne_map import TSNESettings, load_or_fit_map
    from core.checkpoints import load_model
    from core.data.datasets import scan_dataset

    loaded = load_model(args.checkpoint, device=args.device)
    index = scan_dataset(args.data)
    cache_dir = None if args.no_cache else (args.cache_dir or LATENT_CACHE_DIR)
    latents = encode_dataset(loaded, index, batch_size=args.batch_size, cache_dir=cache_dir, progress=progress)
    settings = TSNESettings(perplexity=args.perplexity, seed=args.seed)
    lmap, map_notes = load_or_fit_map(latents, seed=args.seed, settings=settings, progress=progress)
    clustering = cluster_latents(latents.z, method=args.method, k=args.k, seed=args.seed)
    scores = {}
    if latents.labels is not None:
        scores["labels"] = agreement(latents.labels, clustering.labels)
        if all(str(lab).startswith("planets_") for lab in latents.labels):
            scores["has_planet"] = agreement([_has_planet(lab) for lab in latents.labels], clustering.labels)
    files = [_relative(f, args.data) for f in latents.files]
    return {
        "checkpoint": loaded.name,
        "checkpoint_sha256": latents.checkpoint_sha256,
        "data": str(args.data),
        "dataset_fingerprint": latents.dataset_fingerprint,
        "n_images": len(latents.files),
        "latent_dim": int(latents.z.shape[1]),
        "latents_from_cache": latents.from_cache,
        "tsne": asdict(lmap.settings),
        "clustering": {
            "method": clustering.method, "k": clustering.k, "silhouette": clustering.silhouette,
            "k_scores": {str(k): v for k, v in clustering.k_scores.items()}, "seed": clustering.seed,
        },
        "agreement": scores,
        "notes": latents.notes + map_notes,
        "points": [
            {"file": f, "label": (latents.labels[i] if latents.labels is not None else None),
             "x": float(lmap.coords[i, 0]), "y": float(lmap.coords[i, 1]), "cluster": int(clustering.labels[i])}
            for i, f in enumerate(files)
        ],
    }


def default_out(checkpoint: str, data: str) -> Path:
    return RUNS_DIR / "embed" / f"{Path(str(checkpoint)).stem}__{Path(data).resolve().name}.json"


def run(args: argparse.Namespace) -> int:
    from core.atomic import atomic_write_json
    from core.json_values import to_plain
    from core.progress import lazy_progress

    with lazy_progress() as progress:
        result = to_plain(_embed(args, progress=progress))
    out = Path(args.out) if args.out else default_out(args.checkpoint, args.data)
    result["out"] = str(out)
    atomic_write_json(out, result)
    summary = {k: v for k, v in result.items() if k != "points"}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    c = summary["clustering"]
    print(f"{summary['checkpoint']} on {summary['data']}: {summary['n_images']} images, latent dim {summary['latent_dim']}"
          f"{' (latents from cache)' if summary['latents_from_cache'] else ''}")
    silhouette = "undefined" if c["silhouette"] is None else f"{c['silhouette']:.3f}"
    print(f"clusters: {c['method']}, k = {c['k']}, silhouette = {silhouette}")
    for name, s in summary["agreement"].items():
        print(f"agreement with {name}: ARI = {s['ari']:.3f}, NMI = {s['nmi']:.3f}")
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"written: {out}")
    return 0
