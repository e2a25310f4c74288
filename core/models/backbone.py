"""Self-supervised backbones (kind "encoder"): a classifier's trunk without a class head, plus a
projector MLP that only the pretraining loss sees.

`embed(x) -> (B, hidden)` is the representation (invariant for the equivariant backbone, exactly
for the 90-degree elements of its group); `forward(x) = projector(embed(x)) -> (B, projector[-1])`
is what VICReg compares between two views. The trunk's parameters carry the same names as in
the matching classifier (`encoder.*` / `stem.*`, `stages.*`, `embedding.*`), so
`classifier_twin` + `trunk_state` turn a backbone into a classifier to fine-tune.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.cnn import CNNClassifier, CNNClassifierConfig
from core.models.config import PlainConfig
from core.models.equivariant_classifier import EquivariantClassifier, EquivariantClassifierConfig


@dataclass
class EquivariantBackboneConfig(PlainConfig):
    group: str = "D4"  # symmetry group: C<N> rotations or D<N> rotations + flips
    image_size: int = 65  # model grid side in pixels; S - 1 divisible by 2**len(fields)
    fields: tuple = (2, 4, 8, 16)  # regular fields per stride-2 block (65 -> 33 -> 17 -> 9 -> 5)
    kernel_size: int = 5  # odd R2Conv kernel side in pixels
    activation: str = "elu"  # pointwise nonlinearity of the encoder: "elu" or "relu"
    hidden: int = 64  # width of the invariant embedding returned by `embed`
    crop: int = 0  # the network sees the central `crop` px of the grid (odd; 0 = whole grid)
    projector: tuple = (256, 256)  # widths of the projector MLP (pretraining only)
    # approximate equivariance and cost, as in EquivariantClassifierConfig (all off = the original layout):
    kernel_sizes: tuple = ()  # odd kernel per block; empty = kernel_size for every block
    circular_fov: bool = False  # zero the input outside its inscribed disc (escnn MaskModule)
    antialias: float = 0.0  # sigma (px) of a Gaussian blur before every stride-2 step; 0 = none
    frequencies_cutoff: float = 0.0  # band limit of the R2Conv bases; 0 = escnn's default
    early_pool: bool = False  # an anti-aliased stride-2 pool after block 1


@dataclass
class CNNBackboneConfig(PlainConfig):
    image_size: int = 65  # model grid side in pixels; S - 1 divisible by 2**(len(channels))
    channels: tuple = (8, 16, 24, 32)  # stem width, then one stride-2 residual stage per further entry
    stem_kernel: int = 5  # odd kernel of the stride-2 stem conv, pixels
    hidden: int = 64  # width of the embedding returned by `embed`
    crop: int = 0  # the network sees the central `crop` px of the grid (odd; 0 = whole grid)
    projector: tuple = (256, 256)  # widths of the projector MLP (pretraining only)
    circular_fov: bool = False  # zero the input outside its inscribed disc (as CNNClassifierConfig)
    antialias: float = 0.0  # sigma (px) of a Gaussian blur before the stem and every stride-2 stage; 0 = none


def projector_mlp(d_in: int, widths: tuple) -> nn.Sequential:
    """VICReg's expander: Linear-BN-ReLU blocks, the last Linear without them."""
    layers: list[nn.Module] = []
    dims = (d_in, *widths)
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 1:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


CLASSIFIER_OF = {"equivariant_encoder": "equivariant_classifier", "cnn_encoder": "cnn_classifier"}


def classifier_twin(model_name: str, config: dict, n_classes: int) -> tuple[str, dict]:
    """(registry name, config) of the classifier with the same trunk as backbone `model_name`."""
    values = {k: v for k, v in config.items() if k != "projector"}
    return CLASSIFIER_OF[model_name], {**values, "n_classes": int(n_classes)}


def trunk_state(state_dict: dict) -> dict:
    """The backbone's weights a classifier twin takes (everything but the projector)."""
    return {k: v for k, v in state_dict.items() if not k.startswith("projector.")}


class _Backbone:
    """Shared by both backbones: build the classifier trunk from the backbone config, drop the class
    head, add the projector. Subclasses name their two config classes."""

    kind = "encoder"
    config_class: type
    classifier_config_class: type

    def __init__(self, config=None):
        cfg = config or self.config_class()
        trunk = {k: v for k, v in cfg.to_dict().items() if k != "projector"}
        super().__init__(self.classifier_config_class.from_dict({**trunk, "n_classes": 1}))
        del self.head
        self.n_classes = None
        self.config = cfg
        self.projector = projector_mlp(cfg.hidden, tuple(cfg.projector))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.embed(x))  # (B, projector[-1])


class EquivariantBackbone(_Backbone, EquivariantClassifier):
    """x (B, 1, S, S) -> invariant embedding (B, hidden) via `embed`; `forward` adds the projector."""

    config_class = EquivariantBackboneConfig
    classifier_config_class = EquivariantClassifierConfig


class CNNBackbone(_Backbone, CNNClassifier):
    """The plain-CNN twin: x (B, 1, S, S) -> embedding (B, hidden); `forward` adds the projector."""

    config_class = CNNBackboneConfig
    classifier_config_class = CNNClassifierConfig
