"""Clustering of latent vectors and its quality.

Methods (all scikit-learn):
- "spectral": `SpectralClustering(affinity="nearest_neighbors")`, the EXXA reference choice:
  a k-nearest-neighbour graph of the latents, then k-means in the spectral embedding.
- "kmeans": `KMeans` with 10 initialisations.
- "hdbscan": `HDBSCAN` (density based; chooses its own number of clusters; label -1 = noise).

Latents are standardised (zero mean, unit variance per dimension) before clustering, so that
no single latent dimension dominates the distances. When k is not given it is chosen by the
silhouette score over `k_range`. Quality against known labels: adjusted Rand index (ARI,
0 = chance, 1 = identical partitions) and normalised mutual information (NMI, 0..1); without
labels: silhouette (-1..1, higher = tighter, better separated clusters).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from core.errors import InputError

METHODS = ("spectral", "kmeans", "hdbscan")


@dataclass
class Clustering:
    labels: np.ndarray  # (N,) cluster index per point; -1 = noise (HDBSCAN only)
    method: str
    k: int  # number of clusters (noise not counted)
    silhouette: float  # on the standardised latents, noise excluded; NaN if undefined
    k_scores: dict[int, float] = field(default_factory=dict)  # silhouette per tried k when k was chosen
    seed: int = 0


def _standardise(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 3:
        raise InputError(f"Clustering needs at least 3 latent vectors of shape (N, d); got {z.shape}.")
    if not np.isfinite(z).all():
        raise InputError("The latent vectors contain NaN or Inf; re-encode the images.")
    return StandardScaler().fit_transform(z)


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    keep = labels >= 0
    n_clusters = len(set(labels[keep].tolist()))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return float("nan")
    return float(silhouette_score(x[keep], labels[keep]))


def _fit(x: np.ndarray, method: str, k: int | None, seed: int, min_cluster_size: int | None) -> np.ndarray:
    n = len(x)
    if method == "spectral":
        model = SpectralClustering(
            n_clusters=k, affinity="nearest_neighbors", n_neighbors=min(10, n - 1),
            assign_labels="kmeans", random_state=seed, n_init=10,
        )
    elif method == "kmeans":
        model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    else:
        model = HDBSCAN(min_cluster_size=min_cluster_size or max(5, n // 50), copy=True)
    with warnings.catch_warnings():
        # a disconnected neighbour graph is fine here: its components become clusters
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return np.asarray(model.fit_predict(x), dtype=int)


def cluster_latents(
    z: np.ndarray,
    method: str = "spectral",
    k: int | None = None,
    seed: int = 0,
    k_range: tuple[int, int] = (2, 8),
    min_cluster_size: int | None = None,
) -> Clustering:
    """Cluster latents z (N, d); choose k in k_range (inclusive) by silhouette when k is None.

    HDBSCAN ignores k (it finds its own); `min_cluster_size` defaults to max(5, N // 50).
    """
    if method not in METHODS:
        raise InputError(f"Unknown clustering method '{method}'; use one of {', '.join(METHODS)}.")
    x = _standardise(z)
    n = len(x)
    if method == "hdbscan":
        labels = _fit(x, method, None, seed, min_cluster_size)
        k_found = len(set(labels.tolist()) - {-1})
        return Clustering(labels, method, k_found, _silhouette(x, labels), seed=seed)
    if k is not None:
        if not 2 <= k < n:
            raise InputError(f"The number of clusters must be between 2 and {n - 1} for {n} points; got {k}.")
        labels = _fit(x, method, k, seed, None)
        return Clustering(labels, method, k, _silhouette(x, labels), seed=seed)
    lo, hi = k_range
    candidates = [c for c in range(max(2, lo), min(hi, n - 1) + 1)]
    if not candidates:
        raise InputError(f"Cannot choose a number of clusters for {n} points; give k between 2 and {n - 1}.")
    best, scores = None, {}
    for c in candidates:
        labels = _fit(x, method, c, seed, None)
        scores[c] = _silhouette(x, labels)
        if best is None or (np.isfinite(scores[c]) and not scores[c] <= scores[best[0]]):
            best = (c, labels)
    c, labels = best
    return Clustering(labels, method, c, scores[c], k_scores=scores, seed=seed)


def agreement(labels_true, labels_pred) -> dict[str, float]:
    """ARI and NMI of a clustering against known labels (any hashable label values)."""
    labels_true, labels_pred = list(labels_true), list(labels_pred)
    if len(labels_true) != len(labels_pred):
        raise InputError("The known labels and the clusters must cover the same images.")
    return {
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
    }
