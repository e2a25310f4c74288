"""Serving copy of a model: eval mode, escnn modules exported to plain torch."""

from __future__ import annotations

import copy

from torch import nn


def export_for_serving(model: nn.Module) -> nn.Module:
    """A deep copy of `model` in eval mode whose escnn parts are replaced by escnn's `export()`.

    The copy keeps the same public methods (`encode`, `decode`, `embed`, `forward`,
    `feature_maps`) and gives the same outputs as the escnn model in eval mode (to float
    rounding) while running faster (filters expanded once, no GeometricTensor checks). The
    original model is left untouched.
    """
    served = copy.deepcopy(model).eval()
    for m in list(served.modules()):
        if hasattr(m, "export_") and callable(m.export_):
            m.export_()
    return served.eval()
