"""Benchmark of the analysis layer: map speed, clustering quality, invariance of the disk autoencoders.

    .venv/bin/python -m bench.analysis [--eq disks-ae-equivariant] [--cnn disks-ae-cnn] [--data data/disks-test] [--realdata DIR]

Rows (targets from the project plan):
- warm time to place one image on the map: read + preprocess + encode + openTSNE transform (<= 1 s);
  the query is the real CASA ring image (DIR/disks/ring20_robust0.5_clean.image.fits, bench/_realdata.py)
  when the real-data folder is given, else the data set's first image (the notes name it);
- t-SNE fit of 5000 latents, d = 16 (<= 20 s): random Gaussian-mixture latents (labelled so),
  because the timing depends only on N and d;
- ARI of 2-cluster spectral / k-means clusterings against the has-planet label (planets_0 vs
  the rest), equivariant vs CNN disk autoencoder;
- latent invariance error, mean over non-right angles (0:360:15 without multiples of 90, with
  and without flip): equivariant / CNN ratio (<= 1/5); max over 90-degree multiples and flips
  for the equivariant model (<= 1e-5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bench._realdata import absent_note, add_argument, realdata_dir, realdata_file
from bench.record import record
from core.paths import DATA_DIR, LATENT_CACHE_DIR, repo_relative

REAL_DISK = "disks/ring20_robust0.5_clean.image.fits"


def timed(fn, repeat: int = 1) -> tuple[object, float]:
    """(last result, median wall time in seconds over `repeat` calls)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def tsne_fit_timing(n: int = 5000, d: int = 16, seed: int = 0) -> float:
    from core.analysis.tsne_map import fit_map

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(8, d))
    z = (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)  # (n, d)
    _, seconds = timed(lambda: fit_map(z, seed=seed))
    return seconds


def has_planet(labels: list[str]) -> list[int]:
    return [0 if lab == "planets_0" else 1 for lab in labels]


def linear_probe_auc(z: np.ndarray, y: list[int]) -> float:
    """5-fold cross-validated ROC AUC of a logistic regression predicting y from the latents:
    whether the label is linearly present in the latent at all (clustering may still miss it)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, z, y, cv=folds, scoring="roc_auc").mean())


def analyse_model(name: str, data: Path, cache_dir: Path, n_eqv: int, query: Path | None) -> dict:
    """Timings, clustering ARI and invariance errors for one disk autoencoder."""
    from core.analysis.cluster import agreement, cluster_latents
    from core.analysis.encode import encode_dataset, encode_images
    from core.analysis.equivariance import equivariance_curve, model_equivariance, parse_angles
    from core.analysis.tsne_map import fit_map
    from core.checkpoints import load_model
    from core.data.datasets import load_tensors, scan_dataset
    from core.io import read_image

    loaded, t_load = timed(lambda: load_model(name))
    index = scan_dataset(data)
    _, t_encode = timed(lambda: encode_dataset(loaded, index, cache_dir=None))  # timed without the cache
    latents = encode_dataset(loaded, index, cache_dir=cache_dir)
    lmap, t_map = timed(lambda: fit_map(latents.z, seed=0))  # a fresh fit, not the cached map
    source = query if query is not None else Path(index.files[0])

    def place_one():
        image = read_image(source).data
        return lmap.place(encode_images(loaded, [image]))

    place_one()  # warm-up
    _, t_place = timed(place_one, repeat=10)

    truth = has_planet(latents.labels)
    ari = {}
    for method in ("spectral", "kmeans"):
        c = cluster_latents(latents.z, method=method, k=2, seed=0)
        ari[method] = agreement(truth, c.labels)["ari"]
    probe = linear_probe_auc(latents.z, truth)
    chosen = cluster_latents(latents.z, method="spectral", seed=0)
    ari_chosen = agreement(latents.labels, chosen.labels)["ari"]

    angles = parse_angles("0:360:15")
    x = load_tensors(index, loaded.image_size, limit=n_eqv)[0]
    rep = model_equivariance(loaded, x, angles, flips=[False, True], include_maps=False)
    err = rep.curves["latent"].error  # (2, n_angles)
    right = np.array([a % 90 == 0 for a in angles])
    # the same error relative to the image's distance from the mean latent of the data set
    # (a latent with a large constant offset otherwise looks invariant)
    z_mean = torch.from_numpy(latents.z.mean(0))
    centred = equivariance_curve(lambda t: loaded.model.encode(t) - z_mean, x, angles, [False, True])
    err_c = centred.error
    return {
        "name": name, "sha": loaded.sha256[:12], "t_load": t_load, "t_encode": t_encode, "from_cache": latents.from_cache, "n": len(latents.z),
        "t_map": t_map, "t_place": t_place, "place_source": source.name, "ari": ari,
        "ari_chosen": (chosen.k, ari_chosen), "probe_auc": probe, "err_nonright": float(err[:, ~right].mean()),
        "err_right_max": float(err[:, right].max()), "n_eqv": len(x),
        "err_c_nonright": float(err_c[:, ~right].mean()), "err_c_right_max": float(err_c[:, right].max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eq", default="disks-ae-equivariant", help="equivariant disk autoencoder checkpoint")
    parser.add_argument("--cnn", default="disks-ae-cnn", help="CNN baseline disk autoencoder checkpoint")
    parser.add_argument("--data", default=str(DATA_DIR / "disks-test"), help="labelled disk data set")
    parser.add_argument("--n-tsne", type=int, default=5000, help="latents in the t-SNE fit timing")
    parser.add_argument("--n-eqv", type=int, default=32, help="images averaged in the invariance errors")
    parser.add_argument("--cache-dir", default=str(LATENT_CACHE_DIR))
    parser.add_argument("--no-record", action="store_true", help="print only, do not touch BENCHMARKS.md")
    add_argument(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    realdata = realdata_dir(args.realdata)
    query = realdata_file(realdata, REAL_DISK)
    missing = "" if query is not None else " " + absent_note(realdata, REAL_DISK, "the real placement query")
    if missing:
        print(missing.strip())

    load_before = os.getloadavg()[0]
    t_tsne = tsne_fit_timing(args.n_tsne)
    eq = analyse_model(args.eq, Path(args.data), Path(args.cache_dir), args.n_eqv, query)
    cnn = analyse_model(args.cnn, Path(args.data), Path(args.cache_dir), args.n_eqv, query)
    ratio = eq["err_nonright"] / cnn["err_nonright"] if cnn["err_nonright"] > 0 else float("nan")
    ratio_c = eq["err_c_nonright"] / cnn["err_c_nonright"] if cnn["err_c_nonright"] > 0 else float("nan")

    def ok(flag: bool) -> str:
        return "yes" if flag else "NO"

    header = ["measure", "equivariant", "CNN", "target", "met"]
    rows = [
        ["place one image, warm (read+preprocess+encode+transform), s", eq["t_place"], cnn["t_place"], "<= 1 s",
         ok(max(eq["t_place"], cnn["t_place"]) <= 1.0)],
        [f"t-SNE fit of {args.n_tsne} random latents (d=16), s", t_tsne, "", "<= 20 s", ok(t_tsne <= 20.0)],
        [f"t-SNE fit of the {eq['n']} test latents, s", eq["t_map"], cnn["t_map"], "", ""],
        [f"encode {eq['n']} test images, s", eq["t_encode"], cnn["t_encode"], "", ""],
        ["load checkpoint (cold), s", eq["t_load"], cnn["t_load"], "", ""],
        ["ARI vs has-planet, spectral k=2", eq["ari"]["spectral"], cnn["ari"]["spectral"], "eq > CNN",
         ok(eq["ari"]["spectral"] > cnn["ari"]["spectral"])],
        ["ARI vs has-planet, k-means k=2", eq["ari"]["kmeans"], cnn["ari"]["kmeans"], "", ""],
        ["has-planet linear probe on the latent, 5-fold ROC AUC", eq["probe_auc"], cnn["probe_auc"], "", ""],
        ["ARI vs planet count, spectral, k by silhouette (k)",
         f"{eq['ari_chosen'][1]:.3f} (k={eq['ari_chosen'][0]})", f"{cnn['ari_chosen'][1]:.3f} (k={cnn['ari_chosen'][0]})", "", ""],
        ["latent invariance error, mean over non-right angles", eq["err_nonright"], cnn["err_nonright"],
         "eq/CNN <= 0.2", f"{ok(ratio <= 0.2)} (ratio {ratio:.3g})"],
        ["latent invariance error, max over 90-deg multiples and flips", eq["err_right_max"], cnn["err_right_max"],
         "eq <= 1e-5", ok(eq["err_right_max"] <= 1e-5)],
        ["same, relative to distance from the data-set mean latent: non-right angles", eq["err_c_nonright"],
         cnn["err_c_nonright"], "eq/CNN <= 0.2", f"{ok(ratio_c <= 0.2)} (ratio {ratio_c:.3g})"],
        ["same, relative to distance from the mean latent: max over 90-deg multiples and flips",
         eq["err_c_right_max"], cnn["err_c_right_max"], "eq <= 1e-5", ok(eq["err_c_right_max"] <= 1e-5)],
    ]
    notes = (
        f"Checkpoints `{eq['name']}` (sha256 {eq['sha']}…) and `{cnn['name']}` (sha256 {cnn['sha']}…); data `{repo_relative(args.data)}` ({eq['n']} images, labels planets_0..3; "
        f"has-planet = not planets_0). Placement query: `{eq['place_source']}` (median of 10 warm runs).{missing} "
        f"t-SNE timing uses random Gaussian-mixture latents, N={args.n_tsne}, d=16, default TSNESettings "
        "(perplexity 30, PCA init, 250 exaggerated + 500 iterations, n_jobs 1). Invariance: relative error "
        f"||z(g.x) - z(x)|| / ||z(x)|| over {eq['n_eqv']} test images, angles 0:360:15, with and without flip, "
        "input masked to its inscribed disc; the last two rows divide by ||z(x) - mean latent of the data set|| "
        "instead. Encode and map-fit times are without the cache. "
        f"1-minute load average of the 2-core machine (shared): {load_before:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end; timings include that contention."
    )
    if args.no_record:
        from bench.record import markdown_table

        print(markdown_table(header, rows))
        print(notes)
    else:
        record("analysis", "Analysis: latent map, clustering, invariance (disk autoencoders)", header, rows, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
