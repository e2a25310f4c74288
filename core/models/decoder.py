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
        profile: also draw z's radial profile as an ellipse (`ProfileRender`) and give it to the last
            conv as one more channel: rings and gaps at full resolution, whatever the coarse grid holds.
    """

    def __init__(self, latent_dim: int, image_size: int, channels=(32, 32, 16, 16, 8), profile: bool = False):
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
        self.profile = ProfileRender(latent_dim, image_size) if profile else None
        self.out = nn.Conv2d(channels[-1] + int(profile), 1, 3, padding=1)

    def forward(self, z: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        h = F.elu(self.fc(z)).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        if maps is not None:
            maps.append(FeatureMap("decoder0", h, None))
        for i, stage in enumerate(self.stages):
            s = 2 * h.shape[-1] - 1
            h = stage(F.interpolate(h, size=(s, s), mode="bilinear", align_corners=True))  # (B, C, s, s)
            if maps is not None:
                maps.append(FeatureMap(f"decoder{i + 1}", h, None))
        if self.profile is not None:
            drawn = self.profile(z)  # (B, 1, S, S)
            if maps is not None:
                maps.append(FeatureMap("decoder_profile", drawn, None))  # "decoder" prefix: a canonical-frame map (DECODER_MAPS)
            h = torch.cat([h, drawn], dim=1)
        return torch.sigmoid(self.out(h))  # (B, 1, S, S)


class ProfileRender(nn.Module):
    """z (B, latent_dim) -> (B, 1, S, S): a radial profile p(r) drawn on ellipses, p(r_disk) at each pixel.

    A Linear layer gives p at the integer radii 0 .. (S - 1) / 2, cos(inclination) in [0.15, 1] and a
    position angle (as the doubled-angle vector, so 0 and 180 degrees agree); r_disk is the pixel's
    radius in the plane of a disk seen at that inclination and angle, p is interpolated linearly
    between radii and 0 beyond the last. A disk's rings are a profile on ellipses, so a few numbers
    draw them at full resolution.
    """

    def __init__(self, latent_dim: int, image_size: int):
        super().__init__()
        self.radii = (image_size - 1) // 2 + 1
        self.fc = nn.Linear(latent_dim, self.radii + 3)
        c = (image_size - 1) / 2
        yy, xx = torch.meshgrid(torch.arange(image_size) - c, torch.arange(image_size) - c, indexing="ij")
        self.register_buffer("xx", xx.float(), persistent=False)
        self.register_buffer("yy", yy.float(), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.fc(z)
        n = self.radii
        profile = out[:, :n]  # (B, R)
        cos_i = (0.15 + 0.85 * torch.sigmoid(out[:, n]))[:, None, None]  # (B, 1, 1)
        angle = 0.5 * torch.atan2(out[:, n + 2], out[:, n + 1] + 1e-6)[:, None, None]
        u = self.xx * torch.cos(angle) + self.yy * torch.sin(angle)  # along the major axis (B, S, S)
        v = (self.yy * torch.cos(angle) - self.xx * torch.sin(angle)) / cos_i
        r = torch.sqrt(u * u + v * v + 1e-12)
        inside = r <= n - 1
        r = r.clamp(max=n - 1)
        lo = r.floor().long().clamp(max=n - 2)
        w = r - lo
        flat = lambda idx: torch.gather(profile, 1, idx.flatten(1)).view_as(r)  # noqa: E731
        drawn = flat(lo) * (1 - w) + flat(lo + 1) * w
        return (drawn * inside)[:, None]  # (B, 1, S, S)
