"""x2 super-resolution networks: an E(2)-equivariant one (escnn) and two plain baselines.

All three map a low-resolution image x (B, 1, h, w), normalised to [0, 1] by its own range, to
(B, 1, 2h, 2w) in the same units, as bicubic upsampling of x plus a learned residual (its last
layer starts at zero, so an untrained model is bicubic). They are
fully convolutional (stride 1, zero padding), so any h, w works, odd or even.

- `EquivariantSR` ("equivariant_sr"): D4 (or any C_N / D_N) regular fields at LR resolution:
  R2Conv head, residual blocks (R2Conv, ReLU, R2Conv + skip), then one R2Conv to a single regular
  field whose |G| channels are folded into the 2 x 2 sub-pixels ("group pixel shuffle"): the
  channel of group element g feeds the sub-pixel g maps the top-left corner to (the mean of the
  channels feeding a sub-pixel). A group element
  turns the LR grid and the 2 x 2 block at once and permutes the regular channels the same way,
  so the output is exactly equivariant (float rounding) under 90-degree rotations and flips, on
  any grid size; the bicubic path is symmetric too (scale 2, align_corners=False). Only groups
  whose elements map the 2 x 2 block onto itself and reach all four sub-pixels qualify: C4, D2, D4.
- `SRCNN` ("srcnn_sr"): SRCNN-style (Dong et al. 2014, 9-5-5): bicubic upsampling, then three
  convolutions at HR resolution (9x9, 5x5, 5x5) predicting the residual.
- `EDSR` ("edsr_sr"): EDSR-style (Lim et al. 2017): conv head, residual blocks without batch
  norm at LR resolution, conv to 4 channels and pixel shuffle, plus bicubic.

Default widths give about 12.6k parameters each (equal within 3 %, asserted in tests/test_superres.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.escnn_setup import enn, make_gspace
from core.models.approx_layers import conv_options
from core.models.config import PlainConfig
from core.models.equivariant import EscnnStateMixin, _tensor, act_on_image, group_elements
from core.models.features import FeatureMap

SCALE = 2  # the only upscaling factor built
SR_GROUPS = ("C4", "D2", "D4")  # groups whose elements map a 2 x 2 pixel block onto itself, reaching all 4 sub-pixels


def bicubic_up(x: torch.Tensor, scale: int = SCALE) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, scale h, scale w), bicubic, align_corners=False (symmetric under flips and 90-degree turns)."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


@dataclass
class EquivariantSRConfig(PlainConfig):
    group: str = "D4"  # symmetry group: one of SR_GROUPS (exact on the pixel grid)
    image_size: int = 32  # LR side the model was trained on (informational: any size works)
    scale: int = 2  # upscaling factor (only 2 is built)
    fields: int = 8  # regular fields per layer (|G| channels each)
    n_blocks: int = 2  # residual blocks at LR resolution
    kernel_size: int = 3  # odd R2Conv kernel side, LR pixels
    frequencies_cutoff: float = 0.0  # band limit of the R2Conv bases (core.models.approx_layers); 0 = escnn's default


@dataclass
class SRCNNConfig(PlainConfig):
    image_size: int = 32  # LR side the model was trained on (informational)
    scale: int = 2  # upscaling factor (only 2 is built)
    channels: tuple = (32, 12)  # widths of the first two convolutions (the 9x9 and the 5x5)
    kernels: tuple = (9, 5, 5)  # kernel sides of the three convolutions, HR pixels


@dataclass
class EDSRConfig(PlainConfig):
    image_size: int = 32  # LR side the model was trained on (informational)
    scale: int = 2  # upscaling factor (only 2 is built)
    channels: int = 18  # feature width at LR resolution
    n_blocks: int = 2  # residual blocks (conv, ReLU, conv + skip), no batch norm
    kernel_size: int = 3  # odd kernel side, LR pixels
    res_scale: float = 1.0  # EDSR residual scaling inside each block


def _check_scale(scale: int) -> None:
    if scale != SCALE:
        raise ValueError(f"Only x{SCALE} super-resolution is built; got scale {scale}.")


def _check_kernel(k: int) -> None:
    if k % 2 != 1:
        raise ValueError(f"Kernel size {k} is even; use an odd kernel such as 3 or 5 so the grid stays centred.")


def subpixel_of_elements(group: str) -> list[int]:
    """For each regular channel (group element, escnn order): the 2 x 2 sub-pixel (row * 2 + col)
    to which the element moves the top-left sub-pixel, acting on the block as on images."""
    block = torch.zeros(1, 1, 2, 2)
    block[0, 0, 0, 0] = 1.0
    out = []
    for flip, angle in group_elements(group):
        moved = act_on_image(block, flip, angle)[0, 0]
        out.append(int(moved.flatten().argmax()))
    return out


class _ResBlock(nn.Module):
    def __init__(self, ftype, kernel_size: int, band: dict):
        super().__init__()
        pad = kernel_size // 2
        self.body = enn.SequentialModule(enn.R2Conv(ftype, ftype, kernel_size, padding=pad, **band), enn.ReLU(ftype, inplace=True),
                                         enn.R2Conv(ftype, ftype, kernel_size, padding=pad, **band))
        self.exported = False

    def forward(self, h):
        return self.body(h) + h  # GeometricTensors add like tensors

    def export_(self) -> None:
        if self.exported:
            return
        self.eval()
        self.body = self.body.export()
        self.exported = True


class EquivariantSR(EscnnStateMixin, nn.Module):
    """x (B, 1, h, w) in [0, 1] -> (B, 1, 2h, 2w): bicubic + an exactly G-equivariant residual."""

    kind = "superres"

    def __init__(self, config: EquivariantSRConfig | None = None):
        super().__init__()
        cfg = config or EquivariantSRConfig()
        _check_scale(cfg.scale)
        _check_kernel(cfg.kernel_size)
        if cfg.group.strip().upper() not in SR_GROUPS:
            raise ValueError(f"Group {cfg.group} does not permute the 2x2 sub-pixels of an upscaled pixel; use one of {', '.join(SR_GROUPS)}.")
        self.config = cfg
        self.image_size = cfg.image_size
        gs = make_gspace(cfg.group)
        self.group_order = gs.fibergroup.order()
        k, pad, band = cfg.kernel_size, cfg.kernel_size // 2, conv_options(cfg.frequencies_cutoff)
        self.in_type = enn.FieldType(gs, [gs.trivial_repr])
        feat = enn.FieldType(gs, cfg.fields * [gs.regular_repr])
        self.head = enn.SequentialModule(enn.R2Conv(self.in_type, feat, k, padding=pad, **band), enn.ReLU(feat, inplace=True))
        self.blocks = nn.ModuleList(_ResBlock(feat, k, band) for _ in range(cfg.n_blocks))
        self.tail = enn.R2Conv(feat, enn.FieldType(gs, [gs.regular_repr]), k, padding=pad, **band)
        with torch.no_grad():  # start as bicubic: the residual path begins at zero
            self.tail.weights.zero_()
        fold = torch.zeros(SCALE * SCALE, self.group_order)  # (4, |G|): regular channel -> its sub-pixel
        for g, sub in enumerate(subpixel_of_elements(cfg.group)):
            fold[sub, g] = 1.0
        self.register_buffer("fold", fold / fold.sum(1, keepdim=True), persistent=False)
        self.exported = False

    def _features(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        """x (B, 1, h, w) -> tail output (B, |G|, h, w): one regular field."""
        h = x if self.exported else enn.GeometricTensor(x, self.in_type)
        h = self.head(h)
        if maps is not None:
            maps.append(FeatureMap("head", _tensor(h), self.group_order))
        for i, block in enumerate(self.blocks):
            h = block(h)
            if maps is not None:
                maps.append(FeatureMap(f"block{i + 1}", _tensor(h), self.group_order))
        t = _tensor(self.tail(h))  # (B, |G|, h, w)
        if maps is not None:
            maps.append(FeatureMap("tail", t, self.group_order))
        return t

    def forward(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        t = self._features(x, maps)  # (B, |G|, h, w)
        sub = torch.einsum("sg,bghw->bshw", self.fold, t)  # (B, 4, h, w): group pixel shuffle
        residual = F.pixel_shuffle(sub, SCALE)  # (B, 1, 2h, 2w)
        if maps is not None:
            maps.append(FeatureMap("residual", residual, None))
        return bicubic_up(x) + residual

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        maps: list[FeatureMap] = []
        maps.append(FeatureMap("output", self.forward(x, maps), None))
        return maps

    def export_(self) -> None:
        """Replace every escnn module by its plain-torch export (eval mode), in place."""
        if self.exported:
            return
        self.eval()
        self.head = self.head.export()
        for block in self.blocks:
            block.export_()
        self.tail = self.tail.export()
        self.exported = True


class SRCNN(nn.Module):
    """SRCNN-style: bicubic x2, then conv 9x9 -> ReLU -> conv 5x5 -> ReLU -> conv 5x5 (residual)."""

    kind = "superres"
    group_order = None

    def __init__(self, config: SRCNNConfig | None = None):
        super().__init__()
        cfg = config or SRCNNConfig()
        _check_scale(cfg.scale)
        for k in cfg.kernels:
            _check_kernel(k)
        self.config = cfg
        self.image_size = cfg.image_size
        c1, c2 = cfg.channels
        k1, k2, k3 = cfg.kernels
        self.convs = nn.ModuleList([nn.Conv2d(1, c1, k1, padding=k1 // 2), nn.Conv2d(c1, c2, k2, padding=k2 // 2),
                                    nn.Conv2d(c2, 1, k3, padding=k3 // 2)])
        nn.init.zeros_(self.convs[-1].weight)  # start as bicubic
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        up = bicubic_up(x)  # (B, 1, 2h, 2w)
        h = up
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
            if maps is not None:
                maps.append(FeatureMap(f"conv{i + 1}", h, None))
        return up + h

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        maps: list[FeatureMap] = []
        maps.append(FeatureMap("output", self.forward(x, maps), None))
        return maps


class EDSR(nn.Module):
    """EDSR-style: conv head, residual blocks (no batch norm), conv to 4 channels, pixel shuffle, + bicubic."""

    kind = "superres"
    group_order = None

    def __init__(self, config: EDSRConfig | None = None):
        super().__init__()
        cfg = config or EDSRConfig()
        _check_scale(cfg.scale)
        _check_kernel(cfg.kernel_size)
        self.config = cfg
        self.image_size = cfg.image_size
        c, k = cfg.channels, cfg.kernel_size
        self.head = nn.Conv2d(1, c, k, padding=k // 2)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU(inplace=True), nn.Conv2d(c, c, k, padding=k // 2))
            for _ in range(cfg.n_blocks))
        self.tail = nn.Conv2d(c, SCALE * SCALE, k, padding=k // 2)
        nn.init.zeros_(self.tail.weight)  # start as bicubic
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, maps: list | None = None) -> torch.Tensor:
        h = self.head(x)  # (B, C, h, w)
        skip = h
        for i, block in enumerate(self.blocks):
            h = h + self.config.res_scale * block(h)
            if maps is not None:
                maps.append(FeatureMap(f"block{i + 1}", h, None))
        residual = F.pixel_shuffle(self.tail(h + skip), SCALE)  # (B, 1, 2h, 2w)
        return bicubic_up(x) + residual

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        maps: list[FeatureMap] = []
        maps.append(FeatureMap("output", self.forward(x, maps), None))
        return maps


@dataclass
class SRLossConfig(PlainConfig):
    l1: float = 1.0  # weight of the mean absolute error (LR-normalised units)
    mse: float = 0.0  # weight of the mean squared error
    ssim: float = 0.1  # weight of 1 - SSIM (7-pixel Gaussian window, data range 1)


def superres_loss(pred: torch.Tensor, hr: torch.Tensor, cfg: SRLossConfig | None = None):
    """Weighted L1 / MSE / (1 - SSIM) of pred vs hr, both (B, 1, H, W) -> (total, {name: float}); reports mse always."""
    from core.models.losses import ssim_loss

    cfg = cfg or SRLossConfig()
    parts: dict[str, torch.Tensor] = {}
    if cfg.l1:
        parts["l1"] = F.l1_loss(pred, hr)
    if cfg.mse:
        parts["mse"] = F.mse_loss(pred, hr)
    if cfg.ssim:
        parts["ssim"] = ssim_loss(pred, hr)
    weights = {"l1": cfg.l1, "mse": cfg.mse, "ssim": cfg.ssim}
    total = sum(weights[k] * v for k, v in parts.items()) if parts else pred.new_zeros(())
    out = {k: float(v.detach()) for k, v in parts.items()}
    out.setdefault("mse", float(F.mse_loss(pred.detach(), hr)))
    return total, out
