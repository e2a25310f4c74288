"""Import escnn through this module: it makes escnn work with the pinned stack.

escnn 1.0.11 solves kernel-basis constraints with scikit-learn's `randomized_svd` on an
`np.matrix`, which scikit-learn >= 1.2 rejects with a TypeError whenever the basis is not
already in escnn's on-disk cache. Setting the module's `randomized_svd` to None makes escnn
take its own exact `scipy.linalg.svd` path instead (the basis is small, so this is fast).
escnn also warns that `py3nj` is missing; it is only used for 3-D groups.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*py3nj.*")
    import escnn
    import escnn.group._numerical as _numerical
    from escnn import group, gspaces
    from escnn import nn as enn

_numerical.randomized_svd = None

__all__ = ["escnn", "enn", "group", "gspaces", "make_gspace"]


def make_gspace(group_name: str):
    """A 2-D gspace from a name such as "C8", "D4", "c16" (C_N: rotations, D_N: rotations and flips)."""
    name = group_name.strip().upper()
    if len(name) < 2 or name[0] not in "CD" or not name[1:].isdigit() or int(name[1:]) < 1:
        raise ValueError(f"Unknown group '{group_name}'; use C<N> or D<N>, e.g. C8 or D8.")
    n = int(name[1:])
    return gspaces.rot2dOnR2(N=n) if name[0] == "C" else gspaces.flipRot2dOnR2(N=n)
