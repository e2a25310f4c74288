"""E(2)-equivariant autoencoder: exactly invariant latent, reconstruction that follows the input's pose.

Design ("invariant + pose", after Winter et al. 2022, Unsupervised Learning of Group
Invariant and Equivariant Representations): the escnn encoder gives an invariant vector ->
Linear -> latent z (B, latent_dim), and a pose vector s (B, |G|) that permutes like the
regular representation. A plain CNN decoder maps z to a canonical image c; the
reconstruction is

    recon = sum_g softmax(s' / T)_g * (g . c),   s' = s standardised over g (mean 0, std 1)

where g . c is c flipped and rotated by g (exact rot90 for multiples of 90 degrees, bilinear
about the grid centre otherwise). Since s(h.x) = P(h) s(x) and z(h.x) = z(x),
recon(h.x) = h.recon(x) for every 90-degree rotation and flip h on an odd grid. An
invariant vector alone cannot say where a disk's major axis points; s carries that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.config import PlainConfig
from core.models.decoder import UpsamplingDecoder
from core.models.equivariant import (
    EquivariantEncoder,
    EscnnStateMixin,
    act_on_image,
    check_grid,
    encoder_options,
    group_elements,
    halvings,
)
from core.models.features import FeatureMap


@dataclass
class EquivariantAEConfig(PlainConfig):
    group: str = "D8"  # symmetry group: C<N> rotations or D<N> rotations + flips (N rotations by 360/N deg)
    image_size: int = 129  # model grid side in pixels; S - 1 divisible by 2**len(fields) keeps 90-deg rotations exact
    fields: tuple = (2, 4, 4, 8)  # regular fields per stride-2 block (129 -> 65 -> 33 -> 17 -> 9)
    kernel_size: int = 5  # odd R2Conv kernel side in pixels
    activation: str = "elu"  # pointwise nonlinearity of the encoder: "elu" or "relu"
    latent_dim: int = 16  # length of the invariant latent vector z
    decoder_channels: tuple = (32, 32, 16, 16, 8)  # decoder channels per grid, coarsest (9 px) first
    pose_temperature: float = 0.5  # T in softmax(s / T) weighting the rotated/flipped canonical images
    pose_standardize: bool = True  # standardise s over the group axis (mean 0, std 1) before / T
    # approximate equivariance and cost (core.models.approx_layers; all off = the original layout):
    kernel_sizes: tuple = ()  # odd kernel per encoder block, e.g. (5, 5, 3, 3); empty = kernel_size for every block
    circular_fov: bool = False  # zero the input outside its inscribed disc (escnn MaskModule)
    antialias: float = 0.0  # sigma (px) of a Gaussian blur before every stride-2 step; 0 = none
    frequencies_cutoff: float = 0.0  # band limit: angular frequencies up to this x ring radius (px); 0 = escnn's default
    early_pool: bool = False  # an anti-aliased stride-2 pool after block 1 (S - 1 divisible by 2**(blocks + 1))
    radial_blocks: tuple = ()  # 1-based blocks whose group-pooled fields also enter z as ring means about the centre
    profile_decoder: bool = False  # the decoder also draws a radial profile from z on ellipses (core.models.decoder.ProfileRender)


class EquivariantAutoencoder(EscnnStateMixin, nn.Module):
    """x (B, 1, S, S) in [0, 1] -> recon (B, 1, S, S) in [0, 1]; `encode` gives the invariant latent."""

    kind = "autoencoder"

    def __init__(self, config: EquivariantAEConfig | None = None):
        super().__init__()
        cfg = config or EquivariantAEConfig()
        check_grid(cfg.image_size, halvings(cfg))
        self.config = cfg
        self.image_size = cfg.image_size
        self.latent_dim = cfg.latent_dim
        self.encoder = EquivariantEncoder(cfg.group, cfg.fields, cfg.kernel_size, cfg.activation, pose=True,
                                          fov=cfg.image_size if cfg.circular_fov else 0,
                                          radial_blocks=cfg.radial_blocks, image_size=cfg.image_size, **encoder_options(cfg))
        self.group_order = self.encoder.order
        self.elements = group_elements(cfg.group)  # [(flip, angle_deg)] in regular-field order
        self.to_latent = nn.Linear(self.encoder.out_dim, cfg.latent_dim)
        self.decoder = UpsamplingDecoder(cfg.latent_dim, cfg.image_size, cfg.decoder_channels, profile=cfg.profile_decoder)

    def encode_pose(self, x: torch.Tensor, maps: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, S, S) -> (z (B, latent_dim) invariant, pose logits s (B, |G|) permuting under G)."""
        inv, pose = self.encoder(x, maps)  # (B, 2F), (B, |G|)
        return self.to_latent(inv), pose

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, S, S) -> z (B, latent_dim), invariant under the group (exactly for 90-degree elements)."""
        return self.encode_pose(x)[0]

    def decode(self, z: torch.Tensor, pose: torch.Tensor | None = None, maps: list | None = None) -> torch.Tensor:
        """z (B, latent_dim) [, pose (B, |G|)] -> image (B, 1, S, S) in [0, 1].

        Without `pose` this is the canonical image c (the orientation z cannot hold); with the
        pose logits from `encode_pose` it is the reconstruction in the input's orientation."""
        c = self.decoder(z, maps)  # (B, 1, S, S)
        if pose is None:
            return c
        w = self.pose_weights(pose)  # (B, |G|)
        recon = (w[:, :, None, None] * self.orbit(c)).sum(1, keepdim=True)  # (B, 1, S, S)
        if maps is not None:
            maps.append(FeatureMap("canonical", c, None))
        return recon  # (B, 1, S, S)

    def orbit(self, c: torch.Tensor) -> torch.Tensor:
        """c (B, 1, S, S) -> every g . c stacked in regular order (B, |G|, S, S).

        Same numbers as `act_on_image(c, flip, angle)` per element, but the bilinear part
        (rotation by angle mod 90) is sampled once per (flip, remainder) and reused."""
        cache: dict[tuple[bool, float], torch.Tensor] = {}
        out = []
        for flip, angle in self.elements:
            quarter, rest = divmod(angle % 360.0, 90.0)
            key = (flip, rest)
            if key not in cache:
                cache[key] = act_on_image(c, flip, rest)
            out.append(torch.rot90(cache[key], int(quarter), dims=(-2, -1)) if quarter else cache[key])
        return torch.cat(out, dim=1)  # (B, |G|, S, S)

    def pose_weights(self, pose: torch.Tensor) -> torch.Tensor:
        """Pose logits s (B, |G|) -> mixing weights (B, |G|) summing to 1 (permute like s)."""
        if self.config.pose_standardize:  # mean and std over the group axis are invariant
            pose = (pose - pose.mean(1, keepdim=True)) / (pose.std(1, keepdim=True) + 1e-3)
        return torch.softmax(pose / self.config.pose_temperature, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, pose = self.encode_pose(x)
        return self.decode(z, pose)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """Every layer's activations for x (B, 1, S, S), encoder first, reconstruction last."""
        maps: list[FeatureMap] = []
        z, pose = self.encode_pose(x, maps)
        recon = self.decode(z, pose, maps)
        maps.append(FeatureMap("reconstruction", recon, None))
        return maps
