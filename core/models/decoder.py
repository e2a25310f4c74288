"""Plain CNN decoder shared by both autoencoders: latent vector -> image on the odd model grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.features import FeatureMap


class UpsamplingDecoder(nn.Module):
    """z (B, latent_dim) -> image (B, 1, S, S) with values in [0, 1].

    A Linear layer makes a (channels[0], s0, s0) map on the coarsest grid s0 = (S - 1) / 2**n + 1
    (9 for S = 129 and n = 4 stages); each stage upsamples bilinearly from s to 2s - 1 with
    `align_corners=True` (old pixels kept, new ones at the midpoints) and applies a 3x3 conv,
    BatchNorm and ELU; a last 3x3 conv and a sigmoid give one channel at S x S.

    Args:
        latent_dim: length of the input vector.
        image_size: output side S (pixels); S - 1 must be divisible by 2**(len(channels) - 1).
        channels: feature channels on each grid, coarsest first; len(channels) - 1 upsampling stages.
    """

    def __init__(self, latent_dim: int, image_size: int, channels=(32, 32, 16, 16, 8)):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        n = len(channels) - 1
        if n < 1 or (image_size - 1) % 2**n or image_size < 2**n + 1:
            raise ValueError(
                f"The decoder cannot reach image size {image_size} with {n} upsampling stages; use a size of the form {2**n}*m + 1."
            )
        self.image_size = image_size
        self.s0 = (image_size - 1) // 2**n + 1
        self.c0 = channels[0]
        self.fc = nn.Linear(latent_dim, channels[0] * self.s0 * self.s0)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ELU(inplace=True))
            for cin, cout in zip(channels[:-1], channels[1:], strict=True)
        )
        self.out = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def forward(self, z: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        h = F.elu(self.fc(z)).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        if maps is not None:
            maps.append(FeatureMap("decoder0", h, None))
        for i, stage in enumerate(self.stages):
            s = 2 * h.shape[-1] - 1
            h = stage(F.interpolate(h, size=(s, s), mode="bilinear", align_corners=True))  # (B, C, s, s)
            if maps is not None:
                maps.append(FeatureMap(f"decoder{i + 1}", h, None))
        return torch.sigmoid(self.out(h))  # (B, 1, S, S)
