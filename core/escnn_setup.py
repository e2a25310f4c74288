"""Import escnn through this module: it makes escnn work with the pinned stack.

escnn 1.0.11 solves kernel-basis constraints with scikit-learn's `randomized_svd` on an
`np.matrix`, which scikit-learn >= 1.2 rejects with a TypeError whenever the basis is not
already in escnn's on-disk cache. Setting the module's `randomized_svd` to None makes escnn
take its own exact `scipy.linalg.svd` path instead (the basis is small, so this is fast).
On a cold cache most of a D8 build goes into escnn's Sylvester constraint matrices, assembled
from thousands of small sparse Kronecker sums; `_sylvester_constraint` assembles the same
matrix densely (every entry the same sum of the same products, so the same bits) and builds
a D8 model from a cold cache several times faster.
escnn also warns that `py3nj` is missing; it is only used for 3-D groups.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*py3nj.*")
    import escnn
    import escnn.group._clebsh_gordan as _clebsh_gordan
    import escnn.group._numerical as _numerical
    from escnn import group, gspaces
    from escnn import nn as enn


def _sylvester_constraint(rho_1: list[np.ndarray], rho_2: list[np.ndarray]) -> sparse.csc_matrix:
    """escnn's `build_sylvester_constraint`: rows kron(I, rho_1(g)) + kron(-rho_2(g)^T, I) per sample g."""
    d1, d2 = rho_1[0].shape[0], rho_2[0].shape[0]
    eye1, eye2 = np.eye(d1), np.eye(d2)
    return sparse.csc_matrix(np.vstack([np.kron(eye2, r1) + np.kron(-r2.T, eye1) for r1, r2 in zip(rho_1, rho_2, strict=True)]))


_numerical.randomized_svd = None
_numerical.build_sylvester_constraint = _sylvester_constraint
_clebsh_gordan.build_sylvester_constraint = _sylvester_constraint

__all__ = ["escnn", "enn", "group", "gspaces", "make_gspace"]


def make_gspace(group_name: str):
    """A 2-D gspace from a name such as "C8", "D4", "c16" (C_N: rotations, D_N: rotations and flips)."""
    name = group_name.strip().upper()
    if len(name) < 2 or name[0] not in "CD" or not name[1:].isdigit() or int(name[1:]) < 1:
        raise ValueError(f"Unknown group '{group_name}'; use C<N> or D<N>, e.g. C8 or D8.")
    n = int(name[1:])
    return gspaces.rot2dOnR2(N=n) if name[0] == "C" else gspaces.flipRot2dOnR2(N=n)
