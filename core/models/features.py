"""One layer's activations, as every model hands them to the feature-map page."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FeatureMap:
    """Activations of one layer for a batch.

    `tensor` is (B, C, H, W). For a layer of regular fields `group_order` is |G| and the
    channels are field-major: channel `f * group_order + g` is field f at group element g
    (escnn's element order, see `core.models.equivariant.group_elements`), so a 90-degree
    rotation of the input rotates every map and permutes the g-index. `group_order` is None
    for plain channels (CNN layers, group-pooled or decoder layers).
    """

    name: str
    tensor: torch.Tensor
    group_order: int | None = None
