"""Observation-invariant directions of a latent space, learnt from re-observations of the same objects.

Given latents of several objects, each observed more than once (new inclination, orientation,
framing, beam, noise: `core.data.disks.reobserve`), keep the latent directions along which
different objects differ more than observations of one object do: the generalised
eigenvectors of the between-object against the within-object covariance (LDA with each object
as its own class; no science labels), with ratio above 1. Projecting onto them removes what
the observation changes and keeps what tells objects apart (bench/disk_family.py clusters there).

    mean, scale, directions = observation_invariant_directions(z_ref, disk)   # z_ref (N, d), disk (N,)
    projected = project(z, mean, scale, directions)                           # (M, m)
"""

from __future__ import annotations

import numpy as np

RIDGE = 1e-3  # added to the within-object covariance (standardised units), so it is invertible


def observation_invariant_directions(z_ref: np.ndarray, disk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (d,), scale (d,), directions (d, m)): latent directions along which different objects (`disk`:
    the object index of each row of `z_ref`) differ more than re-observations of one object do, in the
    standardised latent ((z - mean) / scale), strongest first; m = those with between/within ratio > 1."""
    from scipy.linalg import eigh

    mean, scale = z_ref.mean(0), z_ref.std(0) + 1e-9
    x = (z_ref - mean) / scale
    centres = np.stack([x[disk == i].mean(0) for i in np.unique(disk)])
    within = x - centres[np.searchsorted(np.unique(disk), disk)]
    ratio, vectors = eigh(np.cov(centres.T), within.T @ within / len(x) + RIDGE * np.eye(x.shape[1]))
    keep = np.argsort(ratio)[::-1]
    keep = keep[ratio[keep] > 1.0]
    return mean, scale, vectors[:, keep]


def project(z: np.ndarray, mean: np.ndarray, scale: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Latents z (M, d) on the observation-invariant directions: (M, m)."""
    return (z - mean) / scale @ directions
