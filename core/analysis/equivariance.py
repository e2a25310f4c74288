"""How well a model respects rotations and flips of its input, measured, for any model.

For a group element g (a flip, then a rotation by an angle, as `core.data.transforms.
apply_group_element` applies it to an image):
- invariant outputs (latent vectors, logits): relative error ||f(g.x) - f(x)|| / ||f(x)||;
- equivariant outputs (feature maps, reconstructions): ||f(g.x) - g.f(x)|| / ||g.f(x)||,
  where g acts on an output map by the same flip + rotation about the grid centre and, for
  a layer of regular fields, also by permuting each field's |G| channels with escnn's
  regular representation of g (`gspace.fibergroup.regular_representation(element)`).
  A rotation that is not in the model's group (e.g. 30 degrees for D8) has no such
  permutation: those layers are then compared after the max over the group axis (an
  invariant summary that rotates like a plain image), and the result is flagged `pooled`.
  CNN maps are plain channels and are only rotated spatially.

Errors are per image, then averaged over the batch (also the maximum is kept); all are
dimensionless (0 = exactly equivariant / invariant). `relative_error` is the one measure;
`equivariance_error(f, g, x)` applies it to one image-to-image map and one element (the
Equivariance and Super-resolution pages, bench/superres.py).

Border mask (documented choice): rotating a square image by an angle that is not a
multiple of 90 degrees moves its corners out of the frame and brings zeros in. So (1) the
input is multiplied by its inscribed disc (radius (S - 1) / 2 pixels about the centre pixel)
before anything else, so that every rotated copy holds the same content; and (2) output maps
are compared only inside the disc of radius `mask_radius` * (s - 1) / 2 of each map of side s
(default 0.8: the outer 20 % of the disc is left out, where zero padding of the convolutions
meets the rotated disc edge).

Element convention: `apply_group_element(x, angle, flip)` flips along the width axis, then
rotates by `angle` degrees in the sense of `torch.rot90(x, 1, dims=(-2, -1))` for +90; escnn's
element (flip, k) of C_N / D_N acts on images the same way with angle = 360 k / N (checked in
tests/test_analysis_equivariance.py against a real escnn R2Conv).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from core.errors import InputError
from core.progress import Progress

# Decoder layers are computed from the latent alone (invariant for an equivariant AE, undefined
# for a CNN); they are covered by the reconstruction curve, so only encoder maps are compared.
DECODER_MAPS = ("decoder", "canonical", "reconstruction")
_EPS = 1e-12
BATCH_IMAGES = 48  # images per forward pass when measuring many transforms (memory bound for feature maps)


def parse_angles(spec: str) -> list[float]:
    """"START:STOP:STEP" in degrees, STOP excluded (like range): "0:360:15" -> 0, 15, ..., 345."""
    try:
        parts = [float(p) for p in spec.split(":")]
    except ValueError:
        parts = []
    if len(parts) != 3 or parts[2] <= 0 or parts[1] <= parts[0]:
        raise InputError(f"Angles '{spec}' are not START:STOP:STEP in degrees with STOP > START and STEP > 0, e.g. 0:360:15.")
    start, stop, step = parts
    n = int(np.ceil((stop - start) / step - 1e-9))
    return [round(start + i * step, 9) for i in range(n)]


def disc_mask(size: int, radius: float = 1.0) -> torch.Tensor:
    """(size, size) bool: pixels whose centre lies within radius * (size - 1) / 2 of the centre pixel."""
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return ((yy - c) ** 2 + (xx - c) ** 2) <= (radius * c) ** 2 + 1e-6


def relative_error(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """Per-sample ||a - b|| / ||b|| over every axis but the first; (H, W) `mask` keeps pixels."""
    d, r = (a - b).double(), b.double()
    if mask is not None:
        d, r = d * mask, r * mask
    num = d.flatten(1).norm(dim=1)
    den = r.flatten(1).norm(dim=1)
    return (num / (den + _EPS)).cpu().numpy()


class ImagePair(NamedTuple):
    """g·x, f(g·x), g·f(x) (each (B, C, H, W)) and their per-sample relative error (B,)."""

    gx: torch.Tensor
    f_gx: torch.Tensor
    g_fx: torch.Tensor
    error: np.ndarray


@torch.no_grad()
def equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], g: Callable[[torch.Tensor], torch.Tensor],
                       x: torch.Tensor, mask: torch.Tensor | None = None) -> ImagePair:
    """The one measure of an image-to-image map f (a reconstruction, an upscaled image) against a group
    element g that acts on its inputs and outputs alike: ||f(g·x) − g·f(x)|| / ||g·f(x)|| per image of
    x (B, C, H, W), inside the outputs' (H, W) `mask` (`relative_error`). f runs once, on g·x and x
    together, unless g changes the shape (a quarter turn of an oblong image)."""
    gx = g(x)
    if gx.shape == x.shape:
        out = f(torch.cat([gx, x]))
        f_gx, fx = out[: len(x)], out[len(x):]
    else:
        f_gx, fx = f(gx), f(x)
    g_fx = g(fx)
    return ImagePair(gx, f_gx, g_fx, relative_error(f_gx, g_fx, mask))


def per_image(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function of one 2-D float32 array (h, w) -> (h', w') as a function of images (B, 1, h, w) -> (B, 1, h', w')."""
    return lambda x: torch.stack([torch.from_numpy(fn(image[0].numpy()))[None] for image in x])


def _group(group: str | None):
    if group is None:
        return None
    from core.escnn_setup import make_gspace

    return make_gspace(group).fibergroup


@functools.lru_cache(maxsize=256)
def group_permutation(group: str | None, angle_deg: float, flip: bool) -> torch.Tensor | None:
    """(|G|, |G|) regular representation of the element (flip, angle) of `group`, or None if not in it.

    Cached: the returned tensor is shared, do not modify it in place."""
    G = _group(group)
    if G is None:
        return None
    dihedral = group.strip().upper().startswith("D")
    if flip and not dihedral:
        return None
    k = (angle_deg % 360.0) * G.rotation_order / 360.0
    if abs(k - round(k)) > 1e-6:
        return None
    k = int(round(k)) % G.rotation_order
    element = G.element((int(flip), k)) if dihedral else G.element(k)
    rho = np.asarray(G.regular_representation(element))  # (|G|, |G|), numerically a permutation
    perm = np.round(rho)
    if np.abs(rho - perm).max() > 1e-6 or not (perm.sum(0) == 1).all() or not (perm.sum(1) == 1).all():
        raise RuntimeError(f"escnn's regular representation of {element} in {group} is not a permutation matrix.")
    return torch.as_tensor(perm, dtype=torch.float32)


def rotation_curve_key(interp: str) -> str:
    """The index metrics key of a checkpoint's score-against-angle curve measured with `interp` turns (bench.rotation
    writes it, the Equivariance lab reads it): "rotation_curve" for bilinear turns, else "rotation_curve_<interp>"."""
    return "rotation_curve" if interp == "bilinear" else f"rotation_curve_{interp}"


def act_on_map(y: torch.Tensor, angle_deg: float, flip: bool, group_order: int | None = None,
               perm: torch.Tensor | None = None, mode: str = "bilinear") -> torch.Tensor:
    """g acting on output maps y (B, C, H, W): spatial flip + rotation (`mode` of core.data.transforms.rotate), and
    for regular fields (channel f * |G| + i is field f, element i) the permutation `perm` of each field's channels."""
    from core.data.transforms import apply_group_element

    if mode == "sinc":  # maps reach their square's edge: continue them by their azimuthal profile, or the turned edge rings
        from core.data.observe import turn

        y = turn(y, torch.full((y.shape[0],), float(angle_deg)), torch.full((y.shape[0],), bool(flip)), mode="sinc")
    else:
        y = apply_group_element(y, angle_deg, flip, mode=mode)  # (B, C, H, W)
    if group_order is not None and perm is not None:
        B, C, H, W = y.shape
        y = y.reshape(B, C // group_order, group_order, H, W)  # (B, F, |G|, H, W)
        y = torch.einsum("ij,bfjhw->bfihw", perm.to(y), y).reshape(B, C, H, W)
    return y


def _pool_group(y: torch.Tensor, group_order: int) -> torch.Tensor:
    B, C, H, W = y.shape
    return y.reshape(B, C // group_order, group_order, H, W).amax(dim=2)  # (B, F, H, W)


@dataclass
class Output:
    """One output of a model for comparison: a tensor and how the group acts on it."""

    tensor: torch.Tensor  # (B, d) for invariant outputs, (B, C, H, W) for maps
    kind: str  # "invariant" | "equivariant"
    group_order: int | None = None  # |G| for regular fields


@dataclass
class Curve:
    """Error of one output against angle, for each flip setting."""

    name: str
    kind: str  # "invariant" | "equivariant"
    angles: list[float]
    flips: list[bool]
    error: np.ndarray  # (n_flips, n_angles) mean relative error over the images
    error_max: np.ndarray  # (n_flips, n_angles) worst image
    pooled: np.ndarray  # (n_flips, n_angles) bool: regular fields compared after group pooling

    def as_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind,
            "error": self.error.tolist(), "error_max": self.error_max.tolist(),
            "pooled": self.pooled.tolist(),
        }


def _compare(name: str, ref: Output, out: Output, angle: float, flip: bool, group: str | None,
             mask_radius: float, mode: str = "bilinear") -> tuple[np.ndarray, bool]:
    if ref.kind == "invariant":
        return relative_error(out.tensor, ref.tensor), False
    a, b, pooled = out.tensor, ref.tensor, False
    perm = group_permutation(group, angle, flip) if ref.group_order is not None else None
    if ref.group_order is not None and perm is None:
        a, b, pooled = _pool_group(a, ref.group_order), _pool_group(b, ref.group_order), True
        target = act_on_map(b, angle, flip, mode=mode)
    else:
        target = act_on_map(b, angle, flip, ref.group_order, perm, mode=mode)
    if a.shape != target.shape:
        raise InputError(f"Output '{name}' changes shape under the transform ({tuple(a.shape)} vs {tuple(target.shape)}); use a square input.")
    return relative_error(a, target, disc_mask(a.shape[-1], mask_radius).to(a.device)), pooled


def equivariance_curves(
    outputs_fn: Callable[[torch.Tensor], dict[str, Output]],
    x: torch.Tensor,
    angles: Sequence[float],
    flips: Sequence[bool] = (False,),
    group: str | None = None,
    mask_radius: float = 0.8,
    mask_input: bool = True,
    progress: Progress | None = None,
    mode: str = "bilinear",
) -> dict[str, Curve]:
    """Curves for every output of `outputs_fn` (x (B, 1, S, S) -> {name: Output}); `mode` resamples every turn of
    inputs and output maps (core.data.transforms.rotate: "bilinear", "bicubic" or "sinc")."""
    from core.data.transforms import apply_group_element

    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise InputError(f"Expected square images of shape (B, C, S, S); got {tuple(x.shape)}.")
    if not 0 < mask_radius <= 1:
        raise InputError(f"The mask radius is a fraction of the inscribed disc; use a value in (0, 1], not {mask_radius}.")
    angles, flips = [float(a) for a in angles], [bool(f) for f in flips]
    if not angles or not flips:
        raise InputError("Give at least one angle and one flip setting.")
    if mask_input:
        x = x * disc_mask(x.shape[-1], 1.0).to(x)
    pairs = [(i, j, flip, angle) for i, flip in enumerate(flips) for j, angle in enumerate(angles)]
    per_pass = max(1, BATCH_IMAGES // len(x))  # transformed copies run through the model together
    with torch.inference_mode():
        ref = outputs_fn(x)
        shape = (len(flips), len(angles))
        err = {n: np.zeros(shape) for n in ref}
        err_max = {n: np.zeros(shape) for n in ref}
        pooled = {n: np.zeros(shape, dtype=bool) for n in ref}
        for start in range(0, len(pairs), per_pass):
            chunk = pairs[start:start + per_pass]
            outs = outputs_fn(torch.cat([apply_group_element(x, angle, flip, mode=mode) for _, _, flip, angle in chunk]))
            for c, (i, j, flip, angle) in enumerate(chunk):
                rows = slice(c * len(x), (c + 1) * len(x))
                for name, r in ref.items():
                    out = Output(outs[name].tensor[rows], outs[name].kind, outs[name].group_order)
                    e, p = _compare(name, r, out, angle, flip, group, mask_radius, mode)
                    err[name][i, j], err_max[name][i, j], pooled[name][i, j] = e.mean(), e.max(), p
            if progress:
                _, _, flip, angle = chunk[-1]
                progress(start + len(chunk), len(pairs), f"{'flip + ' if flip else ''}rotation {angle:g} deg")
    return {n: Curve(n, ref[n].kind, angles, flips, err[n], err_max[n], pooled[n]) for n in ref}


def equivariance_curve(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    angles: Sequence[float],
    flips: Sequence[bool] = (False,),
    kind: str = "invariant",
    mask_radius: float = 0.8,
    group: str | None = None,
    group_order: int | None = None,
    mask_input: bool = True,
    mode: str = "bilinear",
) -> Curve:
    """Error curve of one callable: `kind="invariant"` compares f(g.x) with f(x) (any shape);
    `kind="equivariant"` compares maps f(g.x) with g.f(x) ((B, C, H, W); `group` and
    `group_order` given for regular fields)."""
    if kind not in ("invariant", "equivariant"):
        raise InputError(f"Unknown kind '{kind}'; use 'invariant' or 'equivariant'.")
    curves = equivariance_curves(
        lambda t: {"f": Output(fn(t), kind, group_order)}, x, angles, flips, group, mask_radius, mask_input, mode=mode
    )
    return curves["f"]


def model_group(loaded) -> str | None:
    """The symmetry group name ("D8", ...) of an equivariant model, None for a CNN."""
    config = getattr(loaded, "config", None) or {}
    group = config.get("group") if isinstance(config, dict) else None
    model = getattr(loaded, "model", loaded)
    return group or getattr(model, "group", None) or getattr(getattr(model, "encoder", None), "group", None)


def model_outputs(loaded, include_maps: bool = True) -> Callable[[torch.Tensor], dict[str, Output]]:
    """x -> every comparable output of a loaded model: latent (and logits), reconstruction, and
    the encoder's feature maps (named "map:<layer>"; decoder layers, see DECODER_MAPS, are left out)."""
    model = getattr(loaded, "model", loaded)
    kind = getattr(loaded, "kind", None) or model.kind

    def outputs(x: torch.Tensor) -> dict[str, Output]:
        out: dict[str, Output] = {}
        if kind == "autoencoder":
            out["latent"] = Output(model.encode(x), "invariant")
            out["reconstruction"] = Output(model(x), "equivariant")
        elif kind == "superres":  # x2 image: g acts on the input grid and on the upscaled grid alike
            out["upscaled"] = Output(model(x), "equivariant")
        else:
            out["latent"] = Output(model.embed(x), "invariant")
            out["logits"] = Output(model(x), "invariant")
        if include_maps:
            for fm in model.feature_maps(x):
                if not fm.name.startswith(DECODER_MAPS):
                    out[f"map:{fm.name}"] = Output(fm.tensor, "equivariant", fm.group_order)
        return out

    return outputs


@dataclass
class EquivarianceReport:
    model_name: str
    group: str | None
    angles: list[float]
    flips: list[bool]
    mask_radius: float
    n_images: int
    curves: dict[str, Curve] = field(default_factory=dict)

    def feature_map_mean(self) -> np.ndarray:
        """(n_flips, n_angles) mean over layers of the feature-map errors (NaN if no maps)."""
        maps = [c.error for n, c in self.curves.items() if n.startswith("map:")]
        return np.mean(maps, axis=0) if maps else np.full((len(self.flips), len(self.angles)), np.nan)

    def as_dict(self) -> dict:
        return {
            "model": self.model_name, "group": self.group, "angles": self.angles, "flips": self.flips,
            "mask_radius": self.mask_radius, "n_images": self.n_images,
            "curves": {n: c.as_dict() for n, c in self.curves.items()},
            "feature_maps_mean": self.feature_map_mean().tolist(),
        }


def model_equivariance(
    loaded,
    x: torch.Tensor,
    angles: Sequence[float],
    flips: Sequence[bool] = (False,),
    mask_radius: float = 0.8,
    include_maps: bool = True,
    progress: Progress | None = None,
    mode: str = "bilinear",
) -> EquivarianceReport:
    """Every curve of a loaded model (`core.checkpoints.LoadedModel`) on images x (B, 1, S, S) in [0, 1]; `mode`
    resamples the turns (see `equivariance_curves`)."""
    model = getattr(loaded, "model", loaded)
    device = next(iter(model.parameters()), torch.zeros(0)).device
    group = model_group(loaded)
    curves = equivariance_curves(
        model_outputs(loaded, include_maps), x.to(device), angles, flips, group, mask_radius, progress=progress,
        mode=mode,
    )
    return EquivarianceReport(
        getattr(loaded, "name", type(model).__name__), group, [float(a) for a in angles],
        [bool(f) for f in flips], mask_radius, len(x), curves,
    )
