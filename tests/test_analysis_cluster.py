"""Clustering recovers well separated groups, picks k by silhouette, and scores agreement."""

import numpy as np
import pytest

from core.analysis.cluster import agreement, cluster_latents
from core.errors import InputError


def blobs(k=3, n=30, d=6, sep=8.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=sep, size=(k, d))
    z = np.concatenate([c + rng.normal(size=(n, d)) for c in centres])
    return z.astype(np.float32), np.repeat(np.arange(k), n)


@pytest.mark.parametrize("method", ["spectral", "kmeans"])
def test_given_k_recovers_blobs(method):
    z, y = blobs()
    c = cluster_latents(z, method=method, k=3, seed=0)
    assert c.k == 3
    assert agreement(y, c.labels)["ari"] == pytest.approx(1.0)
    assert c.silhouette > 0.5


@pytest.mark.parametrize("method", ["spectral", "kmeans"])
def test_k_chosen_by_silhouette(method):
    z, y = blobs(k=4)
    c = cluster_latents(z, method=method, seed=0, k_range=(2, 7))
    assert c.k == 4
    assert set(c.k_scores) == set(range(2, 8))
    assert max(c.k_scores, key=c.k_scores.get) == 4


def test_hdbscan_finds_its_own_k():
    z, y = blobs(k=3, n=40)
    c = cluster_latents(z, method="hdbscan")
    assert c.k == 3
    keep = c.labels >= 0
    assert keep.mean() > 0.8
    assert agreement(y[keep], c.labels[keep])["ari"] > 0.95


def test_agreement_of_unrelated_partitions_is_near_zero():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 3000), rng.integers(0, 3, 3000)
    scores = agreement(a, b)
    assert abs(scores["ari"]) < 0.01 and scores["nmi"] < 0.01
    assert agreement(["x", "x", "y"], [5, 5, 2]) == {"ari": 1.0, "nmi": 1.0}


def test_errors_are_one_sentence():
    z, _ = blobs(n=3)
    with pytest.raises(InputError, match="^Unknown clustering method 'dbscan'; use one of spectral, kmeans, hdbscan.$"):
        cluster_latents(z, method="dbscan")
    with pytest.raises(InputError, match="^The number of clusters must be between 2 and 8 for 9 points; got 12.$"):
        cluster_latents(z, k=12)
