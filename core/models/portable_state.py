"""Portable escnn weights: coefficients stored in a basis that every machine rebuilds alike.

escnn expands an `R2Conv`'s weights in a sampled kernel basis, one per pair of field types
(a "block"), and its bias through a `bias_expansion` matrix. The basis comes out of SVDs whose
result, inside degenerate subspaces, depends on the BLAS kernels (OpenBLAS picks them per CPU),
so coefficients saved on one machine are wrong on another. The span of each block's basis (the
space of equivariant filters) does not depend on the machine. A portable checkpoint stores each
block's coefficients in a canonical orthonormal basis of that span: the Q factor (positive
diagonal R) of the span's projector applied to fixed integer probes, which is unique. If the
machine's basis is `B` (k filters as rows) and the canonical one `U`, then `B = G U` with
`G = B U^T` (k x k), so weights `w` in `B` are `c = w G` in `U`, and back `w = c G^{-1}`.

`portable_members` converts state dicts for saving; `restore_portable` converts them back for
the local basis, after checking (with a sketch of every `U`) that escnn builds the same
spans here. Every buffer escnn computes at construction is left out of the file and rebuilt.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.errors import CheckpointError
from core.models.lean_state import escnn_version, recomputed_keys, sketch

_PROBE_SEED = 20261207


def _probes(dim: int, k: int) -> np.ndarray:
    """Fixed integer probe vectors (dim, k), the same bits on every machine."""
    return np.random.Generator(np.random.PCG64(_PROBE_SEED)).integers(-7, 8, size=(dim, k)).astype(np.float64)


def _canonical(rows: np.ndarray) -> np.ndarray:
    """The canonical orthonormal basis (k, D) of the row span of `rows` (k, D), which must have rank k."""
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    if s[-1] <= 1e-9 * s[0]:
        raise CheckpointError("An escnn kernel basis is rank-deficient, so its weights cannot be stored portably.")
    probes = _probes(rows.shape[1], rows.shape[0])
    q, r = np.linalg.qr(vt.T @ (vt @ probes))  # projector onto the span, applied to the probes
    return (q * np.sign(np.diag(r))).T


def _expansions(model: nn.Module):
    """(state key, [(slice, basis rows), ...]) for every escnn-expanded parameter of `model`.

    For an R2Conv's `weights`: one (slice of the flat weight vector, block basis (k, D)) per
    block; its coefficients form rows of k. For its `bias`: the whole vector and the
    expansion's columns as rows."""
    from core.escnn_setup import enn

    for name, conv in model.named_modules():
        if not isinstance(conv, enn.R2Conv):
            continue
        manager = conv.basisexpansion
        blocks = []
        for pair in manager._representations_pairs:
            block = getattr(manager, f"block_expansion_{manager._escape_pair(pair)}")
            start, stop = manager._weights_ranges[pair]
            blocks.append((slice(start, stop), block.sampled_basis.reshape(block.dimension(), -1)))
        yield f"{name}.weights", blocks
        if conv.bias is not None:
            yield f"{name}.bias", [(slice(0, conv.bias.numel()), conv.bias_expansion.T)]


class _Bases:
    """Canonical bases and change-of-basis matrices, computed once per distinct block basis."""

    def __init__(self):
        self._done: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, rows: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        key = (rows.data_ptr(), tuple(rows.shape), rows.stride())  # escnn shares block bases between layers
        if key not in self._done:
            b = rows.detach().to("cpu", torch.float64).numpy()
            u = _canonical(b)
            self._done[key] = (u, b @ u.T)
        return self._done[key]


def portable_members(model: nn.Module, members: list[dict]) -> tuple[list[dict], dict | None]:
    """State dicts of `model`'s architecture with escnn coefficients in the canonical bases and
    the recomputed buffers left out, and the record that checks the bases on load (None for a
    model without escnn layers)."""
    keys = recomputed_keys(model)
    if not keys:
        return members, None
    bases, sketches, out = _Bases(), {}, [{k: v for k, v in sd.items() if k not in keys} for sd in members]
    for key, blocks in _expansions(model):
        for i, (part, rows) in enumerate(blocks):
            u, g = bases(rows)
            sketches[f"{key}[{i}]"] = sketch(torch.from_numpy(u))[0].tolist()
            for sd in out:
                w = sd[key].detach().to(torch.float64).flatten()
                c = w[part].numpy().reshape(-1, g.shape[0]) @ g
                w[part] = torch.from_numpy(c.reshape(-1))
                sd[key] = w.to(sd[key].dtype).reshape(sd[key].shape)
    return out, {"sketch": sketches, "escnn": escnn_version()}


def restore_portable(model: nn.Module, state: dict, record: dict, label: str) -> dict:
    """`state` (portable) with its escnn coefficients in the local escnn's bases and the rebuilt buffers added."""
    bases, out, fresh = _Bases(), dict(state), model.state_dict()
    for key, blocks in _expansions(model):
        w = out[key].detach().to(torch.float64).flatten()
        for i, (part, rows) in enumerate(blocks):
            u, g = bases(rows)
            saved = record["sketch"].get(f"{key}[{i}]")
            sums, tol = sketch(torch.from_numpy(u))
            if saved is None or (sums - torch.tensor(saved, dtype=torch.float64)).abs().max() > tol:
                here, then = escnn_version(), record.get("escnn", "unknown")
                fix = f"install escnn=={then}" if then != here else "re-train it"
                raise CheckpointError(f"Checkpoint {label} needs kernel bases that this escnn {here} does not build "
                                      f"(the filter space of {key} differs); {fix}.")
            c = w[part].numpy().reshape(-1, g.shape[0])
            w[part] = torch.from_numpy(np.linalg.solve(g.T, c.T).T.reshape(-1))
        out[key] = w.to(state[key].dtype).reshape(state[key].shape)
    return {**out, **{k: fresh[k] for k in recomputed_keys(model)}}
