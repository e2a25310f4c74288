"""Plain-CNN baselines with about the parameter count of their equivariant counterparts.

Same grid, same stride-2 downsampling (129 -> 65 -> 33 -> 17 -> 9), same global mean pool and
the same decoder / head shapes, so a comparison isolates the effect of the symmetry
constraint. The default widths are chosen so that parameter counts match within 10 % at
the default configs (asserted in tests/test_models.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.config import PlainConfig
from core.models.decoder import UpsamplingDecoder
from core.models.equivariant import center_crop, check_grid, checked_crop
from core.models.features import FeatureMap
from core.models.input_stretch import input_views, stretched
from core.models.plain_approx import PlainBlur, PlainMask, disc_mask


@dataclass
class CNNAEConfig(PlainConfig):
    image_size: int = 129  # model grid side in pixels; S - 1 divisible by 2**len(channels)
    channels: tuple = (4, 8, 16, 16)  # conv channels per stride-2 block (params match equivariant_ae)
    kernel_size: int = 5  # odd conv kernel side in pixels
    latent_dim: int = 16  # length of the latent vector z
    decoder_channels: tuple = (32, 32, 16, 16, 8)  # decoder channels per grid, coarsest first


@dataclass
class CNNClassifierConfig(PlainConfig):
    image_size: int = 129  # model grid side in pixels; S - 1 divisible by 2**(len(channels))
    channels: tuple = (8, 16, 24, 32)  # stem width, then one stride-2 residual stage per further entry
    stem_kernel: int = 5  # odd kernel of the stride-2 stem conv, pixels
    hidden: int = 64  # width of the embedding returned by `embed`
    dropout: float = 0.1  # dropout before the last Linear (training only)
    n_classes: int = 3  # number of classes (lenses: no_sub, cdm, vortex)
    crop: int = 0  # the network sees the central `crop` px of the grid (odd; 0 = whole grid), e.g. the lensing region
    # the equivariant twin's field of view and anti-aliasing (core.models.plain_approx; off = the original layout):
    circular_fov: bool = False  # zero the input outside its inscribed disc (the same mask as escnn's MaskModule)
    antialias: float = 0.0  # sigma (px) of a Gaussian blur before the stem and before every stride-2 stage; 0 = none
    input_stretch: float = 0.0  # > 0: an asinh stretch of the input, this many noise sigmas linear (core.models.input_stretch)
    input_highpass: int = 0  # > 0: a second input channel, the (stretched) image minus its median over a disc of this radius (px)


def _conv_block(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.BatchNorm2d(cout), nn.ELU(inplace=True))


class CNNAutoencoder(nn.Module):
    """x (B, 1, S, S) in [0, 1] -> recon (B, 1, S, S); latent z (B, latent_dim) after a global mean pool."""

    kind = "autoencoder"
    group_order = None

    def __init__(self, config: CNNAEConfig | None = None):
        super().__init__()
        cfg = config or CNNAEConfig()
        check_grid(cfg.image_size, len(cfg.channels))
        self.config = cfg
        self.image_size = cfg.image_size
        self.latent_dim = cfg.latent_dim
        chans = (1, *cfg.channels)
        self.blocks = nn.ModuleList(_conv_block(a, b, cfg.kernel_size) for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.to_latent = nn.Linear(cfg.channels[-1], cfg.latent_dim)
        self.decoder = UpsamplingDecoder(cfg.latent_dim, cfg.image_size, cfg.decoder_channels)

    def encode(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        """x (B, 1, S, S) -> z (B, latent_dim)."""
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)  # (B, C, s, s)
            if maps is not None:
                maps.append(FeatureMap(f"block{i + 1}", h, None))
        return self.to_latent(h.mean((2, 3)))

    def decode(self, z: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        """z (B, latent_dim) -> image (B, 1, S, S) in [0, 1]."""
        return self.decoder(z, maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        maps: list[FeatureMap] = []
        recon = self.decode(self.encode(x, maps), maps)
        maps.append(FeatureMap("reconstruction", recon, None))
        return maps


class ResidualStage(nn.Module):
    """Stride-2 basic residual block: two 3x3 convs, 1x1 stride-2 projection on the shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class CNNClassifier(nn.Module):
    """Small ResNet-style classifier: stride-2 stem, stride-2 residual stages, mean pool, MLP head."""

    kind = "classifier"
    group_order = None

    def __init__(self, config: CNNClassifierConfig | None = None):
        super().__init__()
        cfg = config or CNNClassifierConfig()
        side = checked_crop(cfg.image_size, cfg.crop, len(cfg.channels))
        self.config = cfg
        self.image_size = cfg.image_size
        self.n_classes = cfg.n_classes
        c = cfg.channels
        k = cfg.stem_kernel
        self.stretch, self.highpass, channels = input_views(cfg, side)
        self.stem = nn.Sequential(nn.Conv2d(channels, c[0], k, stride=2, padding=k // 2, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList(ResidualStage(a, b) for a, b in zip(c[:-1], c[1:], strict=True))
        if cfg.antialias < 0:
            raise ValueError(f"The anti-aliasing blur is a width in pixels; use 0 (off) or a positive sigma, not {cfg.antialias}.")
        self.fov_mask = PlainMask(disc_mask(side)) if cfg.circular_fov else None
        self.blurs = nn.ModuleList(PlainBlur.gaussian(n, cfg.antialias) for n in (channels, *c[:-1])) if cfg.antialias else None
        self.embedding = nn.Sequential(nn.Linear(c[-1], cfg.hidden), nn.ELU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.n_classes))

    def embed(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        """x (B, 1, S, S) -> features (B, hidden) before the last Linear."""
        h = stretched(self.stretch, center_crop(x, self.config.crop), maps, self.highpass)
        if self.fov_mask is not None:
            h = self.fov_mask(h)
        h = self.stem(h if self.blurs is None else self.blurs[0](h))  # (B, C0, S/2, S/2)
        if maps is not None:
            maps.append(FeatureMap("stem", h, None))
        for i, stage in enumerate(self.stages):
            h = stage(h if self.blurs is None else self.blurs[i + 1](h))
            if maps is not None:
                maps.append(FeatureMap(f"stage{i + 1}", h, None))
        return self.embedding(h.mean((2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # (B, n_classes)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        maps: list[FeatureMap] = []
        self.embed(x, maps)
        return maps
