"""K fold members of one architecture served as one model.

`forward` averages the members' outputs: reconstructions for autoencoders; for classifiers the log
of the mean softmax probability, so `softmax(forward(x))` is the ensemble's mean probability.
`encode`, `embed` and `feature_maps` come from member 0 alone, because the latent spaces of
independently trained members are not aligned with each other.
"""

from __future__ import annotations

import torch
from torch import nn


class EnsembleModel(nn.Module):
    """K fold members of one architecture; `forward` averages their outputs (see the module doc)."""

    def __init__(self, members: list[nn.Module], kind: str):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.kind = kind
        self.image_size = getattr(members[0], "image_size", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([m(x) for m in self.members])  # (K, B, ...)
        if self.kind == "classifier":
            probs = outs.softmax(dim=-1).mean(dim=0)  # (B, n_classes)
            return probs.clamp_min(1e-12).log()
        return outs.mean(dim=0)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in {"encode", "decode", "embed", "feature_maps", "latent_dim", "n_classes"}:
                return getattr(self._modules["members"][0], name)
            raise
