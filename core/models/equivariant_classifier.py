"""E(2)-equivariant classifier: escnn encoder -> exactly invariant features -> MLP -> logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.config import PlainConfig
from core.models.equivariant import (
    EquivariantEncoder,
    EscnnStateMixin,
    center_crop,
    checked_crop,
    encoder_options,
    halvings,
)
from core.models.features import FeatureMap
from core.models.input_stretch import input_views, stretched


@dataclass
class EquivariantClassifierConfig(PlainConfig):
    group: str = "D8"  # symmetry group: C<N> rotations or D<N> rotations + flips
    image_size: int = 129  # model grid side in pixels; S - 1 divisible by 2**len(fields)
    fields: tuple = (2, 4, 8, 16)  # regular fields per stride-2 block (129 -> 65 -> 33 -> 17 -> 9)
    kernel_size: int = 5  # odd R2Conv kernel side in pixels
    activation: str = "elu"  # pointwise nonlinearity of the encoder: "elu" or "relu"
    hidden: int = 64  # width of the invariant embedding returned by `embed`
    dropout: float = 0.1  # dropout before the last Linear (training only)
    n_classes: int = 3  # number of classes (lenses: no_sub, cdm, vortex)
    crop: int = 0  # the network sees the central `crop` px of the grid (odd; 0 = whole grid), e.g. the lensing region
    # approximate equivariance and cost (core.models.approx_layers; all off = the original layout):
    kernel_sizes: tuple = ()  # odd kernel per block, e.g. (5, 5, 3, 3); empty = kernel_size for every block
    circular_fov: bool = False  # zero the input outside its inscribed disc (escnn MaskModule)
    antialias: float = 0.0  # sigma (px) of a Gaussian blur before every stride-2 step; 0 = none
    frequencies_cutoff: float = 0.0  # band limit: angular frequencies up to this x ring radius (px); 0 = escnn's default
    early_pool: bool = False  # an anti-aliased stride-2 pool after block 1 (one more halving: S - 1 divisible by 2**(blocks + 1))
    input_stretch: float = 0.0  # > 0: an asinh stretch of the input, this many noise sigmas linear (core.models.input_stretch)
    input_highpass: int = 0  # > 0: a second input channel, the (stretched) image minus its median over a disc of this radius (px)


class EquivariantClassifier(EscnnStateMixin, nn.Module):
    """x (B, 1, S, S) -> logits (B, n_classes), invariant under the group (exact for 90-degree elements)."""

    kind = "classifier"

    def __init__(self, config: EquivariantClassifierConfig | None = None):
        super().__init__()
        cfg = config or EquivariantClassifierConfig()
        side = checked_crop(cfg.image_size, cfg.crop, halvings(cfg))
        self.config = cfg
        self.image_size = cfg.image_size
        self.n_classes = cfg.n_classes
        self.stretch, self.highpass, channels = input_views(cfg, side)
        self.encoder = EquivariantEncoder(cfg.group, cfg.fields, cfg.kernel_size, cfg.activation,
                                          fov=side if cfg.circular_fov else 0, in_channels=channels, **encoder_options(cfg))
        self.group_order = self.encoder.order
        self.embedding = nn.Sequential(nn.Linear(self.encoder.out_dim, cfg.hidden), nn.ELU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.n_classes))

    def embed(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        """x (B, 1, S, S) -> invariant features (B, hidden) before the last Linear."""
        h = stretched(self.stretch, center_crop(x, self.config.crop), maps, self.highpass)
        inv, _ = self.encoder(h, maps)  # (B, 2F)
        return self.embedding(inv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # (B, n_classes)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """Every encoder layer's activations for x (B, 1, S, S)."""
        maps: list[FeatureMap] = []
        self.embed(x, maps)
        return maps
