"""The sky is turned, then observed: the one module for augmentation by observation.

A telescope turned on the sky (or a sky turned under it) sees the same sources at another angle
through the same instrument: the PSF, the pixels and a fresh noise realisation are the
instrument's, not the sky's. Turning a noisy image instead turns its noise, and interpolation
smooths that noise (at 45 degrees bilinear interpolation removes about half of its variance), which a
model can learn to read as "turned". So, where a data set keeps noiseless twins
(`python -m core simulate ... --twins`, core.data.dataset_writer), `observe_twins`:

1. turns (and mirrors) the noiseless twin by any angle, with a sub-pixel pointing offset, in one
   bicubic resampling (`turn`); the twin is PSF-smoothed, so resampling it is accurate. The sky
   beyond the original square, which a turn brings into the corners, is unknown: it is filled with
   the image's own azimuthal mean profile at that radius (`radial_profile`), so only the inscribed
   circle holds turned data, and the corners hold no edge and no angle-dependent hole;
2. widens the PSF by a random few per cent of its FWHM (`widen_psf`), as focus, seeing and pipeline
   PSFs vary (it can only widen: a sharper PSF would need deconvolution);
3. adds the preset's noise afresh (`add_noise`): DeepLense Model I Poisson counts
   (core.data.deeplense.model1_counts), Gaussian flux + background noise (the project's lenses,
   lenstronomy's SimAPI for Model II "euclid" and lens finding, then the block mean onto the grid),
   beam-correlated thermal noise (disks, with the beam turned with the sky so that signal and
   noise share one beam), or none (Model II "as-written": twice the noiseless image);
   Optionally (`cosmic_rays`, CCD data) the hits of cosmic rays and warm pixels that a combined image keeps,
   sharper than the PSF, in the numbers of snapshots to deep stacks;
4. prepares the result as `core.data.preprocess.prepare` prepares a stored image (`to_model_grid`:
   antialiased bilinear resize to the model grid, per-image min-max to [0, 1]).

Everything is vectorised torch on a batch; randomness comes from `generator` or torch's global RNG
(which the trainer seeds per epoch). Orientation as core.data.transforms: a positive angle turns the
content counter-clockwise with row 0 drawn at the top; a flip mirrors columns, before the turn.

Also here, the primitives the self-supervised views use (core.data.instrument_views,
core.data.nuisance_views): `gaussian_blur`, `correlated_noise`, `resample`; and the degradation
family for super-resolution (issue 26): `block_mean`, Gaussian and Airy PSFs (`psf_kernels`,
`convolve`), `degrade`, `random_degradation` and `degradation_pairs` (aligned LR/HR training pairs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from core.data.sinc import as_batch as _as_batch
from core.data.sinc import sinc_resample
from core.data.transforms import _right_angle_turns, affine_sample, rotation_sampling_matrix

Tensor = torch.Tensor
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
AIRY_FWHM = 1.02899  # FWHM of the Airy pattern in units of lambda / D
NOISE_KINDS = ("counts", "gaussian", "correlated", "none")


# ---------------------------------------------------------------------------- blur and correlated noise


def gaussian_blur(x: Tensor, sigma: Tensor, sigma_minor: Tensor | None = None, theta_deg: Tensor | None = None,
                  padding: str = "reflect") -> Tensor:
    """x (B, C, H, W) blurred by a per-image Gaussian of std `sigma` (B,) pixels.

    Circular (sigma_minor None): separable, `padding` "reflect" or "zeros". Elliptical: `sigma` along
    the major axis, `sigma_minor` across it, the major axis at `theta_deg` from +column towards +row
    (astropy's Gaussian2D `theta`), by `convolve` with the sampled kernels (as astropy's kernels are).
    """
    if sigma_minor is not None:
        theta = torch.zeros_like(torch.as_tensor(sigma)) if theta_deg is None else theta_deg
        return convolve(x, gaussian_kernels(sigma, sigma_minor, theta), padding)
    radius = max(1, int(torch.ceil(3 * sigma.max()).item()))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)  # (k,)
    s = sigma.to(x).clamp_min(1e-3)[:, None]  # (B, 1)
    k = torch.exp(-0.5 * (t[None] / s) ** 2)
    k = k / k.sum(dim=1, keepdim=True)  # (B, k); sigma -> 0 gives a delta
    b, c, h, w = x.shape
    flat = x.reshape(1, b * c, h, w)
    kk = k.repeat_interleave(c, dim=0)  # (B*C, k)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect" if padding == "reflect" else "constant")
    flat = F.conv2d(flat, kk[:, None, None, :], groups=b * c)  # along columns
    flat = F.conv2d(flat, kk[:, None, :, None], groups=b * c)  # along rows
    return flat.reshape(b, c, h, w)


def gaussian_kernels(sigma: Tensor, sigma_minor: Tensor, theta_deg: Tensor) -> Tensor:
    """(B, k, k) normalised elliptical Gaussians sampled at pixel centres, side 2 ceil(4 max sigma) + 1
    (core.data.disks.beam_kernel's astropy kernel); theta from +column towards +row."""
    sx, sy = (torch.as_tensor(v, dtype=torch.float64).reshape(-1, 1, 1) for v in (sigma, sigma_minor))
    th = torch.as_tensor(theta_deg, dtype=torch.float64).reshape(-1, 1, 1) * (math.pi / 180.0)
    r = int(math.ceil(4 * float(sx.max())))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    c2, s2, sin2t = torch.cos(th) ** 2, torch.sin(th) ** 2, torch.sin(2 * th)
    a = 0.5 * (c2 / sx**2 + s2 / sy**2)
    b = 0.5 * (sin2t / sx**2 - sin2t / sy**2)
    c = 0.5 * (s2 / sx**2 + c2 / sy**2)
    k = torch.exp(-(a * x**2 + b * x * y + c * y**2))
    return (k / k.sum(dim=(1, 2), keepdim=True)).float()


def convolve(x: Tensor, kernels: Tensor, padding: str = "zeros") -> Tensor:
    """x (B, C, H, W) convolved with its own centred kernel (B, k, k) (k odd), same size, by FFT.

    padding "zeros" (what lies beyond the image is empty sky: astropy's convolve_fft with
    boundary="fill") or "reflect"."""
    b, c, h, w = x.shape
    r = kernels.shape[-1] // 2
    xp = F.pad(x, (r, r, r, r), mode="reflect" if padding == "reflect" else "constant")  # (B, C, H+2r, W+2r)
    hh, ww = h + 2 * r, w + 2 * r
    kp = torch.zeros(b, hh, ww, dtype=x.dtype, device=x.device)
    kp[:, : 2 * r + 1, : 2 * r + 1] = kernels.to(x)
    kp = torch.roll(kp, shifts=(-r, -r), dims=(1, 2))  # centre at (0, 0): a circular convolution without shift
    out = torch.fft.irfft2(torch.fft.rfft2(xp) * torch.fft.rfft2(kp)[:, None], s=(hh, ww))
    return out[..., r : r + h, r : r + w]  # output pixels whose kernel reach stays inside the padded frame


def correlated_noise(shape: tuple[int, ...], sigma_px: Tensor, generator: torch.Generator | None = None, *,
                     sigma_minor: Tensor | None = None, theta_deg: Tensor | None = None, padding: str = "reflect") -> Tensor:
    """Unit-variance Gaussian noise (B, 1, H, W), each image's white noise blurred by its own beam (see
    `gaussian_blur`) and divided by its standard deviation (as core.data.disks.add_noise does)."""
    noise = gaussian_blur(torch.randn(shape, generator=generator), sigma_px, sigma_minor, theta_deg, padding)
    return noise / noise.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)


def widen_psf(x: Tensor, fwhm_px: Tensor, factor: Tensor) -> Tensor:
    """x (B, C, H, W) seen through a PSF `factor` (>= 1, (B,)) times wider than its own Gaussian of `fwhm_px` (B,):
    an extra Gaussian of sigma = fwhm sigma * sqrt(factor^2 - 1) (widths add in quadrature)."""
    extra = torch.as_tensor(fwhm_px, dtype=torch.float64) * FWHM_TO_SIGMA * (torch.as_tensor(factor, dtype=torch.float64) ** 2 - 1).clamp_min(0).sqrt()
    return x if float(extra.max()) < 1e-3 else gaussian_blur(x, extra.float())


# ---------------------------------------------------------------------------- turning the sky


def _resample(x: Tensor, angle: Tensor, flip: Tensor, dy: Tensor, dx: Tensor, mode: str,
              share: bool = False, profile_fill: bool = False) -> tuple[Tensor, Tensor | None]:
    """(`resample`'s answer, with `share` the in-bounds share of each output pixel (B, 1, H, W): the same
    interpolation of a constant 1 over the input's support (1 inside, 0 beyond the original square), so
    `out + (1 - share) c` is exactly c for a constant sky c). Mode "sinc" has no share; with `profile_fill` its
    canvas beyond the square holds the (mirrored) image's azimuthal profile instead of zeros."""
    b, _, h, w = x.shape
    x = torch.where(torch.as_tensor(flip).view(-1, 1, 1, 1).to(x.device), torch.flip(x, dims=(-1,)), x)
    if mode == "sinc":
        profile = radial_profile(x) if profile_fill else None
        background = None if profile is None else (lambda ph, pw: _profile_at(profile, _radii(ph, pw)))
        return sinc_resample(x, angle, dy, dx, background), None
    out, inside = torch.empty_like(x), torch.ones(b, 1, h, w, dtype=torch.float64) if share else None
    interp = []
    for i in range(b):
        k = _right_angle_turns(float(angle[i]))
        if k is not None and dy[i] == 0 and dx[i] == 0:
            out[i] = torch.rot90(x[i], k, dims=(-2, -1))
        else:
            interp.append(i)
    if not interp:
        return out, inside
    idx = torch.tensor(interp) if len(interp) < b else slice(None)
    m = rotation_sampling_matrix(angle[idx])  # (b, 2, 2)
    offset = -(m @ torch.stack([dx[idx], dy[idx]], -1)[..., None])[..., 0]
    src = x[idx]
    if share:  # the support as one more channel: the same weights
        src = torch.cat([src.double(), torch.ones_like(src[:, :1], dtype=torch.float64)], dim=1)
    sampled = affine_sample(src, m, offset, mode=mode)
    out[idx] = sampled[:, : x.shape[1]].to(x.dtype)
    if share:
        inside[idx] = sampled[:, -1:]
    return out, inside


def resample(x: Tensor, angle_deg: Tensor, flip: Tensor, dy: Tensor | None = None, dx: Tensor | None = None,
             mode: str = "bicubic") -> Tensor:
    """Each image of x (B, C, H, W) mirrored (flip (B,) bool, columns reversed), turned counter-clockwise by
    angle_deg (B,) about the grid centre, then moved dy down and dx right (B,) pixels; one resampling
    (core.data.transforms.affine_sample, `mode` of grid_sample, or "sinc": core.data.sinc), zero outside; exact pixel permutations for
    multiples of 90 degrees without a shift."""
    b = x.shape[0]
    return _resample(x, _as_batch(angle_deg, b), flip, _as_batch(dy, b), _as_batch(dx, b), mode)[0]


def _radii(h: int, w: int) -> Tensor:
    """Distance (pixels) of every pixel from the grid centre: (H, W), float64."""
    v = torch.arange(h, dtype=torch.float64) - (h - 1) / 2.0
    u = torch.arange(w, dtype=torch.float64) - (w - 1) / 2.0
    return torch.hypot(v[:, None], u[None, :])


def radial_profile(x: Tensor) -> Tensor:
    """Azimuthal mean of x (B, C, H, W) in rings one pixel wide about the centre: (B, C, K), K = max radius + 2."""
    b, c, h, w = x.shape
    k = torch.round(_radii(h, w)).long().flatten()  # (HW,)
    n = int(k.max()) + 2
    sums = torch.zeros(b * c, n, dtype=torch.float64).index_add_(1, k, x.reshape(b * c, -1).double())
    counts = torch.bincount(k, minlength=n).clamp_min(1)
    return (sums / counts).reshape(b, c, n)


def _profile_at(profile: Tensor, radius: Tensor) -> Tensor:
    """profile (B, C, K) linearly interpolated at radius (H, W): (B, C, H, W)."""
    last = profile.shape[-1] - 2  # the outermost populated ring
    r = radius.clamp(0, last)
    k0 = r.floor().long().clamp(max=last - 1)
    f = (r - k0).to(profile.dtype)
    return profile[..., k0] * (1 - f) + profile[..., k0 + 1] * f


def turn(x: Tensor, angle_deg: Tensor, flip: Tensor, dy: Tensor | None = None, dx: Tensor | None = None,
         mode: str = "bicubic") -> Tensor:
    """`resample` (mirror, turn, shift), with what the turn brings in from beyond the original square (the
    corners) filled by the image's azimuthal mean profile at that radius instead of zeros: pixels whose
    source lies partly outside get the missing interpolation weight from the profile. Mode "sinc": the
    band-limited turn (core.data.sinc), with the profile continuing the image on its canvas."""
    b, c, h, w = x.shape
    dy, dx = _as_batch(dy, b), _as_batch(dx, b)
    if mode == "sinc":  # the profile laid on the whole canvas beyond the square
        return _resample(x, _as_batch(angle_deg, b), flip, dy, dx, mode, profile_fill=True)[0]
    out, inside = _resample(x, _as_batch(angle_deg, b), flip, dy, dx, mode, share=True)
    missing = 1.0 - inside
    if float(missing.max()) < 1e-9:
        return out
    fill = _profile_at(radial_profile(x), _radii(h, w))  # about the grid centre: the shift is a fraction of a pixel
    return (out.double() + missing * fill).to(x.dtype)


# ---------------------------------------------------------------------------- the instrument's noise


@dataclass
class NoiseTable:
    """The noise parameters of N images (one kind, as a data set's manifest "noise" entries give them):
    kind "counts" (exposure_time, background_rms), "gaussian" (flux_variance, background_rms, then the
    `bin` x `bin` block mean), "correlated" (sigma, beam_major_px, beam_minor_px, beam_theta_deg) or
    "none" (scale); every kind has psf_fwhm_px. `values`: name -> (N,) float64 tensor."""

    kind: str
    values: dict[str, Tensor]
    bin: int = 1

    def __len__(self) -> int:
        return len(self.values["psf_fwhm_px"])

    def take(self, index: Tensor) -> NoiseTable:
        return NoiseTable(self.kind, {k: v[index] for k, v in self.values.items()}, self.bin)


def noise_table(entries: Sequence[dict]) -> NoiseTable:
    """A NoiseTable from per-image dicts (a manifest's "noise" entries); ValueError (one sentence) for mixed kinds."""
    kinds = {e.get("kind") for e in entries}
    bins = {int(e.get("bin", 1)) for e in entries}
    if len(kinds) != 1 or not kinds <= set(NOISE_KINDS) or len(bins) != 1:
        raise ValueError(f"The noise parameters must share one kind (one of {', '.join(NOISE_KINDS)}) and one bin; got {sorted(map(str, kinds))}.")
    keys = [k for k in entries[0] if k not in ("kind", "bin")]
    values = {k: torch.tensor([float(e[k]) for e in entries], dtype=torch.float64) for k in keys}
    return NoiseTable(kinds.pop(), values, bins.pop())


def add_noise(m: Tensor, noise: NoiseTable, generator: torch.Generator | None = None, *,
              angle_deg: Tensor | None = None, flip: Tensor | None = None, psf_factor: Tensor | None = None) -> Tensor:
    """A fresh observation (B, 1, H', W') of the noiseless images m (B, 1, H, W) by `noise` (B rows); H' = H / bin.

    counts: Poisson(clip(t (m + N(0, |m| / t) + N(0, rms)), 0)), core.data.deeplense.model1_counts;
    gaussian: m + N(0, max(m, 0) flux_variance + background_rms^2) (lenstronomy's Gaussian Poisson
    approximation, core.data.lenses.add_noise), then the bin x bin block mean; correlated: m + sigma x
    beam-correlated unit noise (core.data.disks.add_noise), the beam mirrored and turned as the sky was
    (`flip`, `angle_deg`) and widened by `psf_factor`; none: scale x m.
    """
    v = {k: t.to(m.dtype).view(-1, 1, 1, 1) for k, t in noise.values.items()}
    if noise.kind == "none":
        out = m * v["scale"]
    elif noise.kind == "counts":
        t = v["exposure_time"]
        poisson = torch.randn(m.shape, generator=generator) * torch.sqrt(m.abs() / t)
        background = torch.randn(m.shape, generator=generator) * v["background_rms"]
        out = torch.poisson((t * (m + poisson + background)).clamp_min(0), generator=generator)
    elif noise.kind == "gaussian":
        std = torch.sqrt(m.clamp_min(0) * v["flux_variance"] + v["background_rms"] ** 2)
        out = m + std * torch.randn(m.shape, generator=generator)
    else:
        b = m.shape[0]
        theta = noise.values["beam_theta_deg"]
        if flip is not None:
            theta = torch.where(torch.as_tensor(flip), -theta, theta)
        if angle_deg is not None:
            theta = theta - torch.as_tensor(angle_deg, dtype=torch.float64)
        grow = torch.ones(b, dtype=torch.float64) if psf_factor is None else torch.as_tensor(psf_factor, dtype=torch.float64)
        unit = correlated_noise(tuple(m.shape), noise.values["beam_major_px"] * grow, generator,
                                sigma_minor=noise.values["beam_minor_px"] * grow, theta_deg=theta, padding="zeros")
        out = m + v["sigma"] * unit.to(m.dtype)
    return block_mean(out, noise.bin) if noise.bin > 1 else out


# ---------------------------------------------------------------------------- onto the model grid


def to_model_grid(x: Tensor, size: int) -> Tensor:
    """core.data.preprocess.prepare on a batch of square images (B, 1, H, H): antialiased bilinear resize to
    (size, size) (antialiased only when shrinking), then per-image min-max to [0, 1]; float32."""
    x = x.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)
    lo = x.amin(dim=(2, 3), keepdim=True)
    span = (x.amax(dim=(2, 3), keepdim=True) - lo).clamp_min(1e-12)
    return (x - lo) / span


# ---------------------------------------------------------------------------- augmentation by observation


@dataclass(frozen=True)
class ObserveConfig:
    """How a noiseless twin is observed again (training option names in brackets)."""

    shift_px: float = 0.5  # pointing jitter: uniform in [-s, s] pixels per axis; 0.5 covers every pixel phase (augment_shift_px)
    psf_jitter: float = 0.05  # PSF FWHM times a factor uniform in [1, 1 + j] (augment_psf_jitter)
    flips: bool = True  # a random mirror before the turn
    mode: str = "bicubic"  # grid_sample interpolation of the turn
    resample_jitter: float = 0.0  # share of observed images resampled once more, as drizzle or reprojection does (augment_resample_jitter)
    cosmic_rays: float = 0.0  # residual cosmic-ray hits and warm pixels: at most this many per 1000 pixels (augment_cosmic_rays)


def draw(n: int, config: ObserveConfig, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Per image: angle_deg uniform in [0, 360), flip, dy, dx, psf_factor (each (n,))."""

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    angle = uniform(0.0, 360.0)
    flip = torch.rand(n, generator=generator) < 0.5 if config.flips else torch.zeros(n, dtype=torch.bool)
    s = config.shift_px
    return {"angle_deg": angle, "flip": flip, "dy": uniform(-s, s), "dx": uniform(-s, s),
            "psf_factor": uniform(1.0, 1.0 + config.psf_jitter)}


def observe_twins(twins: Tensor, noise: NoiseTable, size: int, config: ObserveConfig = ObserveConfig(),
                  generator: torch.Generator | None = None, geometry: dict[str, Tensor] | None = None) -> Tensor:
    """Noiseless twins (B, 1, H, W) turned, mirrored and shifted (`geometry`, default `draw`), seen through a
    slightly wider PSF and observed afresh by `noise` (B rows), then prepared for the (size, size) model grid
    as a stored image is: (B, 1, size, size) float32 in [0, 1]."""
    g = draw(twins.shape[0], config, generator) if geometry is None else geometry
    sky = turn(twins, g["angle_deg"], g["flip"], g["dy"], g["dx"], config.mode)
    sky = widen_psf(sky, noise.values["psf_fwhm_px"], g["psf_factor"])
    seen = add_noise(sky, noise, generator, angle_deg=g["angle_deg"], flip=g["flip"], psf_factor=g["psf_factor"])
    if config.cosmic_rays > 0:
        if "background_rms" not in noise.values or noise.kind != "gaussian":
            raise ValueError(f"Cosmic-ray residuals are a CCD image's artefact; this data set's noise is '{noise.kind}', not a CCD's "
                             "Gaussian flux and background noise: set augment_cosmic_rays = 0.")
        seen = seen + cosmic_rays(seen.shape, noise.values["background_rms"], config.cosmic_rays, generator).to(seen.dtype)
    if config.resample_jitter > 0:
        seen = pipeline_resample(seen, config.resample_jitter, generator)
    return to_model_grid(seen, size)


CR_PEAK_SIGMAS = (5.0, 200.0)  # a residual hit's flux, in background sigmas (log-uniform): from barely seen to saturated
CR_TRACK_PX = 2.5  # longest track on the grid: a hit at a grazing angle, or its drizzled footprint


def cosmic_rays(shape: tuple[int, ...], rms: Tensor, density: float, generator: torch.Generator | None = None) -> Tensor:
    """What cosmic rays and warm pixels leave in a combined CCD image, to add to observed images of `shape` (B, 1, H, W)
    whose background noise is `rms` (B,): per image a Poisson number of hits, its mean uniform in [0, density] per
    1000 pixels (so some images are clean, as deep stacks are, and some are snapshots' single exposures); each hit a
    short straight track (0 to CR_TRACK_PX pixels, any angle) of flux log-uniform in CR_PEAK_SIGMAS x rms per pixel
    it crosses, deposited bilinearly and not through the PSF: sharper than any source on the sky."""
    b, _, h, w = shape
    mean = torch.rand(b, generator=generator, dtype=torch.float64) * density * h * w / 1000.0
    counts = torch.poisson(mean, generator=generator).long()
    out = torch.zeros(b, h * w, dtype=torch.float64)
    n = int(counts.sum())
    if n == 0:
        return out.view(b, 1, h, w)
    image = torch.repeat_interleave(torch.arange(b), counts)

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    cy, cx, length, angle = uniform(0, h - 1), uniform(0, w - 1), uniform(0, CR_TRACK_PX), uniform(0, math.pi)
    lo, hi = map(math.log, CR_PEAK_SIGMAS)
    flux = torch.exp(uniform(lo, hi)) * torch.as_tensor(rms, dtype=torch.float64)[image] * length.clamp_min(1.0)
    steps = torch.linspace(-0.5, 0.5, 5, dtype=torch.float64)  # five points along each track share its flux
    y = (cy[:, None] + steps * length[:, None] * torch.sin(angle)[:, None]).clamp(0, h - 1)
    x = (cx[:, None] + steps * length[:, None] * torch.cos(angle)[:, None]).clamp(0, w - 1)
    y0, x0 = y.floor().long().clamp(max=h - 2), x.floor().long().clamp(max=w - 2)
    fy, fx = y - y0, x - x0
    share = flux[:, None] / steps.numel()
    rows = image[:, None].expand_as(y0)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        out.index_put_((rows.reshape(-1), ((y0 + dy) * w + x0 + dx).reshape(-1)), (share * weight).reshape(-1), accumulate=True)
    return out.view(b, 1, h, w)


def turn_share(images: tuple[Tensor, ...], share: float, config: ObserveConfig, mode: str = "bicubic",
               generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    """A `share` of the batch turned (`turn`), each chosen item by its own element drawn from `config` (`draw`: a
    uniform angle, a mirror, a sub-pixel shift), the same element for every tensor of `images` (B, 1, h, w) each, so
    that (input, target) pairs stay pairs. The other items, and the tensors when none is chosen, are returned as given."""
    again = torch.rand(images[0].shape[0], generator=generator) < share
    n = int(again.sum())
    if n == 0:
        return images
    g = draw(n, config, generator)
    out = []
    for t in images:
        t = t.clone()
        t[again] = turn(t[again], g["angle_deg"], g["flip"], g["dy"], g["dx"], mode)
        out.append(t)
    return tuple(out)


def pipeline_resample(seen: Tensor, share: float, generator: torch.Generator | None = None) -> Tensor:
    """A `share` of the observed images (B, 1, H, W) resampled once more after the noise, as a user's pipeline
    does (drizzle, reprojection, a turn): a bilinear turn by a uniform angle and a sub-pixel shift, which
    smooths the noise and the sky alike. The others are returned unchanged."""
    return turn_share((seen,), share, ObserveConfig(flips=False), "bilinear", generator)[0]


@dataclass
class Twins:
    """The noiseless twins of a data set, in memory: images (N, 1, H, W) float32 at the stored pixels, their noise."""

    images: Tensor
    noise: NoiseTable
    size: int  # the model grid the observations are prepared for


class SkyAugment:
    """Training augmentation "continuous-physical": `augment(index)` -> the twins of images `index` (B,) turned
    by a uniform angle, mirrored, shifted, observed afresh and prepared: (B, 1, size, size)."""

    by_index = True  # the training loader passes the batch's image indices, not its images

    def __init__(self, twins: Twins, config: ObserveConfig = ObserveConfig(), generator: torch.Generator | None = None):
        self.twins, self.config, self.generator = twins, config, generator

    def __call__(self, index: Tensor) -> Tensor:
        index = torch.as_tensor(index, dtype=torch.long)
        with torch.no_grad():
            return observe_twins(self.twins.images[index], self.twins.noise.take(index), self.twins.size, self.config, self.generator)


# ---------------------------------------------------------------------------- degradations for super-resolution


def block_mean(x: Tensor, factor: int) -> Tensor:
    """The factor x factor block mean of x (B, C, H, W) (H, W multiples of factor): a coarser detector's pixels."""
    return F.avg_pool2d(x, factor) if factor > 1 else x


def psf_kernels(kind: Sequence[str], fwhm_px: Tensor, oversample: int = 5) -> Tensor:
    """(B, k, k) normalised PSFs of FWHM `fwhm_px` (B,): "gaussian" or "airy" ((2 J1(v) / v)^2, v = pi r D / lambda,
    FWHM = 1.029 lambda / D), integrated over each pixel (`oversample`^2 points) out to 4 FWHM (Airy) / 4 sigma."""
    fwhm = torch.as_tensor(fwhm_px, dtype=torch.float64).reshape(-1, 1, 1)
    r = int(math.ceil(4 * float(fwhm.max()))) + 1
    sub = (torch.arange(oversample, dtype=torch.float64) + 0.5) / oversample - 0.5
    t = (torch.arange(-r, r + 1, dtype=torch.float64)[:, None] + sub[None, :]).flatten()
    y, x = torch.meshgrid(t, t, indexing="ij")
    rr = torch.hypot(x, y)[None]  # (1, n, n)
    gauss = torch.exp(-0.5 * (rr / (fwhm * FWHM_TO_SIGMA)) ** 2)
    v = (math.pi * AIRY_FWHM * rr / fwhm).clamp_min(1e-9)
    airy = (2 * torch.special.bessel_j1(v) / v) ** 2 * (rr <= 4 * fwhm)
    is_airy = torch.tensor([k == "airy" for k in kind]).view(-1, 1, 1)
    if not all(k in ("gaussian", "airy") for k in kind):
        raise ValueError(f"Unknown PSF kind in {sorted(set(kind))}; use gaussian or airy.")
    k = torch.where(is_airy, airy, gauss)
    n = 2 * r + 1
    k = k.reshape(-1, n, oversample, n, oversample).sum(dim=(2, 4))
    return (k / k.sum(dim=(1, 2), keepdim=True)).float()


@functools.lru_cache(maxsize=1024)
def _psf_kernel(kind: str, fwhm_px: float) -> Tensor:
    return psf_kernels([kind], torch.tensor([fwhm_px], dtype=torch.float64))[0]


def cached_psf_kernels(kind: Sequence[str], fwhm_px: Tensor, step: float) -> Tensor:
    """`psf_kernels` with each FWHM rounded to a multiple of `step` pixels and every kernel computed once per
    process (training draws thousands), zero-padded to the batch's largest."""
    ks = [_psf_kernel(k, max(round(float(f) / step) * step, 1e-3))  # a FWHM that rounds to 0: a delta, as unrounded
          for k, f in zip(kind, torch.as_tensor(fwhm_px).reshape(-1), strict=True)]
    n = max(k.shape[-1] for k in ks)
    return torch.stack([F.pad(k, ((n - k.shape[-1]) // 2,) * 4) for k in ks])


@dataclass(frozen=True)
class Degradation:
    """The family of low-resolution observations of a high-resolution image (issue 26, item 5)."""

    factor: int = 2  # LR pixel side / HR pixel side (block mean)
    psfs: tuple[str, ...] = ("gaussian", "airy")  # PSF shapes, drawn uniformly
    widen: tuple[float, float] = (1.5, 3.0)  # LR PSF FWHM / HR PSF FWHM, uniform
    noise: tuple[float, float] = (1e-3, 3e-2)  # Gaussian noise std relative to each LR image's peak, log-uniform
    offset: bool = True  # sub-pixel offsets of the LR grid: uniform over one LR pixel
    sharp: float = 0.0  # share of images with no extra PSF (widen 1: the block mean of the HR alone)
    clean: float = 0.0  # share of images without noise
    psf_step: float = 0.0  # > 0: PSF FWHMs rounded to this many pixels, kernels cached (`cached_psf_kernels`)
    padding: str = "zeros"  # beyond the HR frame: "zeros" (empty sky) or "reflect" (the sky goes on: frames cut from more sky)


def degrade(hr: Tensor, hr_fwhm_px: Tensor, psf: Sequence[str], widen: Tensor, noise: Tensor,
            dy: Tensor, dx: Tensor, factor: int = 2, generator: torch.Generator | None = None, psf_step: float = 0.0,
            padding: str = "zeros") -> Tensor:
    """LR observations (B, 1, H / factor, W / factor) of HR images (B, 1, H, W) whose PSF has FWHM hr_fwhm_px (B,):
    convolved with a `psf` kernel making the PSF `widen` (B,) times wider (FWHMs in quadrature), offset by (dy, dx)
    HR pixels (one bicubic shift), block-averaged, plus Gaussian noise of std `noise` (B,) x each image's peak.
    psf_step > 0: the kernels' FWHMs rounded to multiples of it and cached (`cached_psf_kernels`); `padding` of the
    convolution as `convolve`'s."""
    fwhm = torch.as_tensor(hr_fwhm_px, dtype=torch.float64) * (torch.as_tensor(widen, dtype=torch.float64) ** 2 - 1).clamp_min(1e-6).sqrt()
    x = convolve(hr, psf_kernels(psf, fwhm) if psf_step <= 0 else cached_psf_kernels(psf, fwhm, psf_step), padding)
    no_turn = torch.zeros(hr.shape[0], dtype=torch.float64)
    x = resample(x, no_turn, torch.zeros(hr.shape[0], dtype=torch.bool), dy, dx)
    lr = block_mean(x, factor)
    peak = lr.amax(dim=(1, 2, 3), keepdim=True)
    return lr + torch.as_tensor(noise, dtype=lr.dtype).view(-1, 1, 1, 1) * peak * torch.randn(lr.shape, generator=generator)


def random_degradation(hr: Tensor, hr_fwhm_px: Tensor | float, config: Degradation = Degradation(),
                       generator: torch.Generator | None = None) -> Tensor:
    """`degrade` with every image's PSF shape, widening, noise level and offset drawn from `config`."""
    b = hr.shape[0]

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator, dtype=torch.float64)

    psf = [config.psfs[int(i)] for i in torch.randint(len(config.psfs), (b,), generator=generator)]
    widen = uniform(*config.widen)
    noise = torch.exp(uniform(math.log(config.noise[0]), math.log(config.noise[1])))
    half = config.factor / 2 if config.offset else 0.0
    dy, dx = uniform(-half, half), uniform(-half, half)
    if config.sharp > 0:  # drawn only when asked: the draws above stay those of a family without these shares
        widen = torch.where(torch.rand(b, generator=generator) < config.sharp, 1.0, widen)
    if config.clean > 0:
        noise = torch.where(torch.rand(b, generator=generator) < config.clean, 0.0, noise)
    fwhm = torch.as_tensor(hr_fwhm_px, dtype=torch.float64).expand(b)
    return degrade(hr, fwhm, psf, widen, noise, dy, dx, config.factor, generator, config.psf_step, config.padding)


def degradation_pairs(hr: Tensor, hr_fwhm_px: Tensor | float, config: Degradation = Degradation(),
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """(LR, HR) training pairs from HR images (B, 1, H, W): the sky moved by a sub-pixel offset (uniform over one
    LR pixel, `resample`: one bicubic shift; beyond the edge zero, or the frame mirrored for `padding` "reflect")
    that both images see, then `random_degradation` of it without a further offset. The grids stay aligned as
    core.data.pairs' are (each LR pixel the 2 x 2 HR block below it); only the sky's phase on them varies."""
    b = hr.shape[0]
    if config.offset:
        half = config.factor / 2
        dy, dx = (-half + 2 * half * torch.rand(b, generator=generator, dtype=torch.float64) for _ in range(2))
        m = 3  # margin for the shift's reach (1 px) and the bicubic taps (2 px)
        wide = F.pad(hr, (m,) * 4, mode="reflect" if config.padding == "reflect" else "constant")
        hr = resample(wide, torch.zeros(b, dtype=torch.float64), torch.zeros(b, dtype=torch.bool), dy, dx)[..., m:-m, m:-m]
    return random_degradation(hr, hr_fwhm_px, replace(config, offset=False), generator), hr
