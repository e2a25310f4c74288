"""Shared E(2)-equivariant encoder (escnn) and the action of C_N / D_N on images.

The encoder is a stack of stride-2 `R2Conv` blocks with regular fields. With an odd kernel,
padding `kernel // 2` and an input side S with S - 1 divisible by 2**n_blocks (129 -> 65 ->
33 -> 17 -> 9), every layer samples a grid that 90-degree rotations and flips map onto
itself, so equivariance to those elements is exact up to float rounding; other rotation
angles of C_N / D_N are only approximately respected on a pixel grid.

After the last block two invariant pools are taken per field: the max over the group
(escnn `GroupPooling`) and the mean over the group, then the spatial mean; the resulting
vector of length 2 * fields[-1] is exactly invariant. Optionally a 1x1 `R2Conv` maps the
last block to one regular field whose spatial mean is a pose vector of length |G| that
permutes like the group's regular representation. Optionally (`radial_blocks`) the group-pooled
fields of chosen blocks are also averaged over rings of equal radius about the grid centre:
a radial profile per field, exactly invariant as well, that keeps *where* (which radius) a
pattern is, which the spatial mean loses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.escnn_setup import enn, make_gspace
from core.models.approx_layers import Blur, CircularMask, conv_options
from core.models.features import FeatureMap

_ACTIVATIONS = ("elu", "relu")
EARLY_POOL_SIGMA = 0.66  # px: Gaussian of the early pool when `antialias` is 0 (5 taps)


def check_grid(image_size: int, n_blocks: int) -> None:
    """Raise ValueError unless every stride-2 layer keeps an odd grid (exact 90-degree equivariance)."""
    step = 2**n_blocks
    if image_size < step + 1 or (image_size - 1) % step:
        good = [step * m + 1 for m in (1, 2, 4, 8)]
        raise ValueError(
            f"Image size {image_size} does not keep every one of the {n_blocks} stride-2 layers on an odd grid; "
            f"use a size of the form {step}*m + 1, e.g. {', '.join(map(str, good))}."
        )


def encoder_options(cfg) -> dict:
    """The EquivariantEncoder keyword options of a classifier or autoencoder config (the field of view aside)."""
    return {"kernel_sizes": tuple(cfg.kernel_sizes), "antialias": float(cfg.antialias),
            "frequencies_cutoff": float(cfg.frequencies_cutoff), "early_pool": bool(cfg.early_pool)}


def halvings(cfg) -> int:
    """How many times the encoder halves the grid: one per block, one more for the early pool."""
    return len(cfg.fields) + int(bool(cfg.early_pool))


def checked_crop(image_size: int, crop: int, n_blocks: int) -> int:
    """The side the network sees: the central `crop` pixels of the grid (0 = the whole grid)."""
    if not crop:
        check_grid(image_size, n_blocks)
        return image_size
    if crop > image_size or (image_size - crop) % 2:
        raise ValueError(f"A central crop of {crop} px must fit the {image_size}-px grid with equal margins; use an odd crop up to {image_size}.")
    check_grid(crop, n_blocks)
    return crop


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """The central (crop, crop) pixels of x (..., S, S); x itself when crop is 0 or S."""
    size = x.shape[-1]
    if not crop or crop == size:
        return x
    m = (size - crop) // 2
    return x[..., m : m + crop, m : m + crop]


def group_elements(group: str) -> list[tuple[bool, float]]:
    """(flip, angle_deg) of each element of C_N / D_N in escnn's order (the regular-field channel order).

    An element acts on an image as: flip along the width axis if `flip`, then rotate by
    `angle_deg` in the sense of `torch.rot90(x, 1, dims=(-2, -1))` for +90 degrees; this is
    how escnn transforms a trivial field on the grid (checked in tests/test_models.py).
    """
    gs = make_gspace(group)
    out = []
    for g in gs.fibergroup.elements:
        v = g.to("int")
        flip, k = (bool(v[0]), v[1]) if isinstance(v, tuple) else (False, v)
        out.append((flip, 360.0 * k / gs.fibergroup.rotation_order))
    return out


def rotate_image(x: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate (B, C, H, W) about the grid centre: exact rot90 for multiples of 90 degrees,
    bilinear sampling for the remainder, extending the edge pixels outward ("border") so a
    rotated image has no empty corners. Splitting as rot90 after a rotation by less than 90
    degrees, and border padding being symmetric on a square grid, make it commute exactly
    with rot90."""
    quarter, rest = divmod(angle_deg % 360.0, 90.0)
    if rest > 1e-9:
        t = math.radians(rest)
        c, s = math.cos(t), math.sin(t)
        theta = x.new_tensor([[c, -s, 0.0], [s, c, 0.0]]).expand(x.shape[0], 2, 3)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)  # (B, H, W, 2)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return torch.rot90(x, int(quarter), dims=(-2, -1)) if quarter else x


def act_on_image(x: torch.Tensor, flip: bool, angle_deg: float) -> torch.Tensor:
    """Apply the group element (flip, angle_deg) to images (B, C, H, W): flip first, then rotate."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return rotate_image(x, angle_deg)


def ring_weights(size: int) -> torch.Tensor:
    """(R, size*size) averaging matrix over rings of integer radius r = 0 .. (size - 1) // 2 about the centre.

    Pixel p belongs to ring round(|p - centre|); corners outside the inscribed disc are left
    out. The radius is unchanged by the grid's 90-degree turns and flips, so each ring mean is
    exactly invariant under them."""
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    ring = torch.round(torch.hypot(yy, xx)).long().flatten()
    n = int(c) + 1
    w = (ring[None, :] == torch.arange(n)[:, None]).float()  # (R, P)
    return w / w.sum(1, keepdim=True)


def group_pools(t: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Regular fields (B, F*|G|, s, s) -> (max over the group, mean over the group), each (B, F, s, s)."""
    B, C, s1, s2 = t.shape
    v = t.view(B, C // order, order, s1, s2)
    return v.amax(2), v.mean(2)


def _tensor(h):
    """Plain tensor of a GeometricTensor (escnn) or of an already plain tensor (exported)."""
    return h.tensor if isinstance(h, enn.GeometricTensor) else h


class EquivariantEncoder(nn.Module):
    """Stride-2 R2Conv blocks of regular fields -> exactly invariant vector (and optional pose).

    Args:
        group: "C<N>" or "D<N>" (rotations, or rotations and flips, by multiples of 360/N degrees).
        fields: regular fields per block; each field has |G| channels.
        kernel_size: odd spatial kernel of every R2Conv (pixels).
        activation: "elu" or "relu" (pointwise, applied to regular fields).
        pose: also compute a pose vector (B, |G|) that permutes under the group.

    Options for approximate equivariance at the other angles (core.models.approx_layers; all off
    by default, which builds exactly the original layout):
        kernel_sizes: odd kernel per block (empty: `kernel_size` for every block).
        fov: input side S for a circular field of view (escnn MaskModule on the input); 0 = none.
        antialias: sigma (px) of a Gaussian blur before every stride-2 step; 0 = none.
        frequencies_cutoff: band limit of the R2Conv bases (0 = escnn's default).
        early_pool: an anti-aliased stride-2 average pool right after the first block.
        radial_blocks: 1-based blocks whose group-pooled fields are also averaged over rings of
            equal radius (`ring_weights`) and appended to the invariant; needs `image_size`.
        image_size: input side S (only to size the radial profiles).
    """

    def __init__(self, group: str, fields, kernel_size: int = 5, activation: str = "elu", pose: bool = False, *,
                 kernel_sizes=(), fov: int = 0, antialias: float = 0.0, frequencies_cutoff: float = 0.0,
                 early_pool: bool = False, in_channels: int = 1, radial_blocks=(), image_size: int = 0):
        super().__init__()
        self.fields = tuple(int(f) for f in fields)
        kernels = tuple(int(k) for k in kernel_sizes) or (kernel_size,) * len(self.fields)
        if len(kernels) != len(self.fields):
            raise ValueError(f"Give one kernel size per block: {len(self.fields)} blocks, {len(kernels)} kernel sizes.")
        if any(k % 2 != 1 for k in kernels):
            raise ValueError(f"Kernel size {next(k for k in kernels if k % 2 != 1)} is even; use an odd kernel such as 3 or 5 so the grid stays centred.")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Unknown activation '{activation}'; use one of {', '.join(_ACTIVATIONS)}.")
        if antialias < 0:
            raise ValueError(f"The anti-aliasing blur is a width in pixels; use 0 (off) or a positive sigma, not {antialias}.")
        gs = make_gspace(group)
        self.group = group
        self.order = gs.fibergroup.order()
        self.in_type = enn.FieldType(gs, in_channels * [gs.trivial_repr])  # images (and views of them) are scalar fields
        self.mask = CircularMask(self.in_type, fov) if fov else None
        types = [self.in_type] + [enn.FieldType(gs, n * [gs.regular_repr]) for n in self.fields]
        blocks = []
        for t, out, k in zip(types[:-1], types[1:], kernels, strict=True):
            act = enn.ELU(out, inplace=True) if activation == "elu" else enn.ReLU(out, inplace=True)
            conv = enn.R2Conv(t, out, kernel_size=k, padding=k // 2, stride=2, **conv_options(frequencies_cutoff))
            blocks.append(enn.SequentialModule(conv, enn.InnerBatchNorm(out), act))
        self.blocks = nn.ModuleList(blocks)
        self.blurs = nn.ModuleList(Blur(t, antialias) for t in types[:-1]) if antialias else None
        self.early_pool = Blur(types[1], antialias or EARLY_POOL_SIGMA, stride=2) if early_pool else None
        t = types[-1]
        self.gpool = enn.GroupPooling(t)
        self.pose_conv = enn.R2Conv(t, enn.FieldType(gs, [gs.regular_repr]), kernel_size=1) if pose else None
        self.radial_blocks = tuple(int(b) for b in radial_blocks)
        radial_dim = 0
        for block, size in self._radial_grids(image_size, early_pool).items():  # ring weights built once, moved with the model
            self.register_buffer(f"rings{block}", ring_weights(size), persistent=False)
            radial_dim += 2 * self.fields[block - 1] * ((size - 1) // 2 + 1)
        self.out_dim = 2 * self.fields[-1] + radial_dim
        self.exported = False

    def _radial_grids(self, image_size: int, early_pool: bool) -> dict[int, int]:
        """{block: side of its output grid} for each of `radial_blocks` (block 1's before the early pool)."""
        if not self.radial_blocks:
            return {}
        bad = [b for b in self.radial_blocks if not 1 <= b <= len(self.fields)]
        if bad or not image_size:
            raise ValueError(f"Radial profiles need the image size and blocks between 1 and {len(self.fields)}, not {list(self.radial_blocks)}.")
        size, grids = image_size, {}
        for i in range(1, len(self.fields) + 1):
            size = (size - 1) // 2 + 1
            if i in self.radial_blocks:
                grids[i] = size
            if i == 1 and early_pool:
                size = (size - 1) // 2 + 1
        return grids

    def _radial_profile(self, t: torch.Tensor, block: int) -> torch.Tensor:
        """Block `block`'s regular fields (B, F*|G|, s, s) -> ring means of both group pools, flattened (B, 2F*R)."""
        gmax, gmean = group_pools(t, self.order)
        w = getattr(self, f"rings{block}")  # (R, s*s)
        pooled = torch.cat([gmax, gmean], 1).flatten(2)  # (B, 2F, s*s)
        return (pooled @ w.T).flatten(1)  # (B, 2F*R)

    def forward(self, x: torch.Tensor, maps: list | None = None):
        """x (B, 1, S, S) -> (invariant (B, out_dim), pose (B, |G|) or None).

        If `maps` is a list, every layer's FeatureMap is appended to it."""
        h = x if self.exported else enn.GeometricTensor(x, self.in_type)
        if self.mask is not None:
            h = self.mask(h)
        profiles = []
        for i, block in enumerate(self.blocks):
            h = block(h if self.blurs is None else self.blurs[i](h))
            if maps is not None:
                maps.append(FeatureMap(f"block{i + 1}", _tensor(h), self.order))
            if i + 1 in self.radial_blocks:
                profiles.append(self._radial_profile(_tensor(h), i + 1))
            if i == 0 and self.early_pool is not None:
                h = self.early_pool(h)
                if maps is not None:
                    maps.append(FeatureMap("early_pool", _tensor(h), self.order))
        t = _tensor(h)  # (B, F*|G|, s, s)
        gmax = _tensor(self.gpool(h))  # (B, F, s, s)
        gmean = group_pools(t, self.order)[1]  # (B, F, s, s)
        if maps is not None:
            maps.append(FeatureMap("group_max", gmax, None))
            maps.append(FeatureMap("group_mean", gmean, None))
        inv = torch.cat([gmax.mean((2, 3)), gmean.mean((2, 3)), *profiles], dim=1)  # (B, 2F [+ radial])
        pose = None
        if self.pose_conv is not None:
            p = _tensor(self.pose_conv(h))  # (B, |G|, s, s)
            if maps is not None:
                maps.append(FeatureMap("pose_field", p, self.order))
            pose = p.mean((2, 3))  # (B, |G|)
        return inv, pose

    def export_(self) -> None:
        """Replace every escnn module by its plain-torch export (eval mode), in place."""
        if self.exported:
            return
        self.eval()
        self.blocks = nn.ModuleList([b.export() for b in self.blocks])
        for name in ("mask", "early_pool", "gpool", "pose_conv"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).export())
        if self.blurs is not None:
            self.blurs = nn.ModuleList([b.export() for b in self.blurs])
        self.exported = True


class EscnnStateMixin:
    """Make an nn.Module holding escnn convolutions behave like a plain one.

    escnn's R2Conv stores its expanded `filter` / `expanded_bias` as buffers in eval mode
    only, so a state_dict saved in one mode does not load strictly in the other. Models
    using this mixin leave those derived buffers out of `state_dict()`, ignore them in
    `load_state_dict()` (rebuilding them if in eval mode), and expand filters without an
    autograd graph when switching to eval, which also keeps the model deep-copyable.
    """

    def _escnn_cache_keys(self, prefix: str = "") -> set[str]:
        keys = set()
        for name, m in self.named_modules():
            if isinstance(m, enn.R2Conv):
                p = f"{prefix}{name}." if name else prefix
                keys |= {p + "filter", p + "expanded_bias"}
        return keys

    def train(self, mode: bool = True):
        with torch.no_grad():
            return super().train(mode)

    def state_dict(self, *args, **kwargs):
        sd = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", args[1] if len(args) > 1 else "")
        for k in self._escnn_cache_keys(prefix) & set(sd):
            del sd[k]
        return sd

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        cache = self._escnn_cache_keys()
        sd = {k: v for k, v in state_dict.items() if k not in cache}
        result = super().load_state_dict(sd, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if k not in cache]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"State dict does not match {type(self).__name__}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}."
            )
        if not self.training:  # rebuild the expanded filters from the loaded weights
            self.train(True)
            self.train(False)
        return result
