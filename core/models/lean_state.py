"""The buffers escnn recomputes at construction, and loading of lean (format-2) checkpoints.

A D8 model's state is 14 MB, 13.5 MB of it escnn's sampled kernel bases, which escnn builds from
the field types (`recomputed_keys`); no checkpoint stores them. Format-2 files kept the learned
coefficients in the saving machine's bases with a record of the bases: their keys, a sha256 over
names, shapes, dtypes and bytes, a rounding-tolerant sketch and the escnn version.
`restore_recomputed` puts the rebuilt buffers back once they match that record, else refuses
with one sentence. Format 3 (`core.models.portable_state`) needs no such match.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from core.errors import CheckpointError


def escnn_version() -> str:
    try:
        from importlib.metadata import version

        return version("escnn")
    except Exception:  # noqa: BLE001 - escnn metadata missing is not fatal here
        return "unknown"


def recomputed_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the buffers escnn fills in at construction from the field types alone.

    The rule, by owning escnn module type (escnn 1.0.11): every buffer of a basis manager
    (`BasisManager`: the sampled kernel bases and their block index buffers), `bias_expansion`
    of an `R2Conv`, and the channel index buffers of `GroupPooling` and `InnerBatchNorm`
    (whose running statistics live in its torch BatchNorm children, so they are not owned by
    it). Parameters, and learned or stateful buffers, are never among them.
    """
    if not any(type(m).__module__.startswith("escnn.") for m in model.modules()):
        return set()
    from escnn.nn.modules.basismanager import BasisManager

    from core.escnn_setup import enn

    keys = set()
    for name, m in model.named_modules(remove_duplicate=False):  # escnn shares basis modules between layers
        if isinstance(m, BasisManager | enn.GroupPooling | enn.InnerBatchNorm):
            owned = list(m._buffers)
        elif isinstance(m, enn.R2Conv):
            owned = ["bias_expansion"]
        else:
            continue
        keys |= {f"{name}.{b}" if name else b for b in owned}
    return keys & set(model.state_dict())


def fingerprint(state: dict, keys) -> str:
    """sha256 over the buffers `keys` of `state`: name, shape, dtype and bytes, in sorted key order."""
    h = hashlib.sha256()
    for k in sorted(keys):
        t = state[k].detach().to("cpu").contiguous()
        h.update(f"{k}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def sketch(t: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Eight fixed integer-weighted sums of a buffer (float64), and how far they may move when
    every value changes by up to 1e-6 relative (float32 rounding is 6e-8): compares bases
    that are equal up to rounding but not bit for bit, e.g. built on another CPU."""
    x = t.detach().to("cpu", torch.float64).flatten()
    i = torch.arange(x.numel(), dtype=torch.int64)
    sums = torch.stack([(((i * p) % 97 - 48).double() * x).sum() for p in (3, 5, 7, 11, 13, 17, 19, 23)])
    return sums, 48e-6 * float(x.abs().sum()) + 1e-12  # weights lie in [-48, 48]


def bases_match(ref: dict, record: dict) -> bool:
    """The rebuilt buffers match a lean checkpoint's record: same sha256, else every sketch within rounding."""
    if fingerprint(ref, record["keys"]) == record["sha256"]:
        return True
    for k in record["keys"]:
        sums, tol = sketch(ref[k])
        if (sums - torch.tensor(record["sketch"][k], dtype=torch.float64)).abs().max() > tol:
            return False
    return True


def restore_recomputed(model: nn.Module, state: dict, record: dict, label: str) -> dict:
    """`state` completed with the freshly built `model`'s recomputed buffers, once they match the record."""
    keys, ref = record["keys"], model.state_dict()
    if not set(keys) <= recomputed_keys(model):
        raise CheckpointError(f"Checkpoint {label} leaves out buffers that escnn does not recompute for this model; re-train it.")
    if not bases_match(ref, record):
        saved, here = record.get("escnn", "unknown"), escnn_version()
        fix = (f"install escnn=={saved} or re-train it" if saved != here else
               "convert it with core.checkpoints.convert_checkpoint where it was trained, or re-train it")
        raise CheckpointError(f"Checkpoint {label} was saved with escnn {saved} whose kernel bases differ from "
                              f"the ones this escnn {here} builds; {fix}.")
    return {**state, **{k: ref[k] for k in keys}}
