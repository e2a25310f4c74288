"""A linear 2-D map of latents (PCA), the deterministic companion of the t-SNE map.

Unlike t-SNE, distances along its axes mean the same everywhere and new points are placed
by the same projection, exactly. `PCAMap(z_ref)`: `.coords (N, 2)`, `.explained (2,)`
(fraction of the latent variance along each axis), `.place(z) -> (M, 2)`.
"""

from __future__ import annotations

import numpy as np

from core.errors import InputError


class PCAMap:
    def __init__(self, z_ref: np.ndarray):
        z = np.asarray(z_ref, dtype=np.float64)
        if z.ndim != 2 or len(z) < 2:
            raise InputError("A PCA map needs at least two latent vectors of one length (an (N, d) array).")
        self.mean = z.mean(axis=0)
        _, s, vt = np.linalg.svd(z - self.mean, full_matrices=False)
        k = min(2, vt.shape[0])
        self.axes = np.zeros((2, z.shape[1]))
        self.axes[:k] = vt[:k]
        # a sign convention, so the map does not flip between runs: the largest loading of each axis is positive
        for axis in self.axes:
            if axis.any() and axis[np.argmax(np.abs(axis))] < 0:
                axis *= -1
        var = s ** 2
        self.explained = np.zeros(2)
        self.explained[:k] = var[:k] / var.sum() if var.sum() > 0 else 0.0
        self.coords = self.place(z)

    def place(self, z) -> np.ndarray:
        """Positions (M, 2) of latents (M, d) on this map."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if z.shape[1] != self.mean.shape[0]:
            raise InputError(f"The latents have {z.shape[1]} dimensions but the map was built from "
                             f"{self.mean.shape[0]}; use the same model for both.")
        return (z - self.mean) @ self.axes.T
