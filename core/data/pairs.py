"""Super-resolution pairs: one sky, seen by the preset's instrument (HR) and by a 2x coarser one (LR).

`python -m core simulate lenses --preset P --pairs 2` writes

    DIR/hr/<class>/<id>.npy   float32 (S, S): the preset's noiseless sky through the preset's instrument
    DIR/lr/<class>/<id>.npy   float32 (S/2, S/2): the same sky (same lens and source parameters, same
                              substructure) through a coarser instrument, with that instrument's own noise
    DIR/manifest.json         one entry per pair ("file" is relative to lr/ and hr/) + the "pairs" recipe

(same file names in lr/ and hr/, class sub-folders kept). The LR image is rendered, not decimated:

- pixels: `PAIR_FACTOR` (2) times the HR pixel, S/2 pixels on the same field of view, pixel centres
  aligned so that each LR pixel covers exactly 2 x 2 HR pixels;
- PSF: Gaussian of FWHM `LR_PSF_FACTOR` (2) times the HR PSF's, i.e. the same FWHM in pixels, e.g.
  Model I 0.087" -> 0.174" on 0.05" -> 0.10" pixels; Model II 0.16" -> 0.32" on 0.101" -> 0.202";
  project 0.10" -> 0.20" on 0.05" -> 0.10";
- sampling: the sky is ray-traced at the HR pixel centres (lenstronomy supersampling 2 in each LR
  pixel), binned, then convolved with the LR PSF;
- noise (HR: none): the preset's own noise recipe applied to the LR instrument's pixels at the same
  exposure, so a 4x larger pixel collects 4x the flux (per-pixel S/N about 2x the HR's):
  Model I: Poisson counts of the official recipe (exposure time of the system, background rms 0.01
  per pixel); Model II: lenstronomy's Euclid VIS noise (`SimAPI.noise_for_model`) with the LR pixel
  (sky and read noise per LR pixel); project: `lenses.noise_sigma_map` with the per-pixel S/N doubled.
- units: both images in the same surface-brightness unit (flux per HR pixel area: the LR flux per
  pixel divided by 4), so the mean of a 2 x 2 HR block and the LR pixel agree without any rescaling.
  Project preset: units of the source's central surface brightness, as `core.data.lenses`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

PAIR_FACTOR = 2  # LR pixel side / HR pixel side (the only factor built)
LR_PSF_FACTOR = 2.0  # LR PSF FWHM / HR PSF FWHM
LR_SUPERSAMPLING = PAIR_FACTOR  # ray-tracing points per LR pixel side: the HR pixel centres
LR_DIR, HR_DIR = "lr", "hr"


@dataclass
class Instrument:
    """Where and how finely a sky is sampled: square grid of `size` pixels of `pixel_scale_arcsec`,
    Gaussian PSF of `psf_fwhm_arcsec` FWHM."""

    size: int
    pixel_scale_arcsec: float
    psf_fwhm_arcsec: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_pair_size(size: int) -> None:
    if size % PAIR_FACTOR or size < 2 * 16:
        raise ValueError(f"Super-resolution pairs need an even HR size of at least 32 pixels (the LR image has half as many); got {size}.")


def instruments(preset: str, size: int, pixel_scale_arcsec: float | None = None, psf_fwhm_arcsec: float | None = None) -> tuple[Instrument, Instrument]:
    """(HR, LR) instruments of a pair set: the preset's own, and the 2x coarser one."""
    from core.data import deeplense

    check_pair_size(size)
    if preset == "project":
        from core.data.lenses import LensParams

        pixel = 7.5 / size if pixel_scale_arcsec is None else pixel_scale_arcsec  # sample_lens_params: 7.5" field
        fwhm = LensParams().psf_fwhm_arcsec if psf_fwhm_arcsec is None else psf_fwhm_arcsec
    else:
        pixel, fwhm = deeplense.pixel_scale_arcsec(preset), deeplense.psf_fwhm_arcsec(preset)
    hr = Instrument(size, pixel, fwhm)
    return hr, Instrument(size // PAIR_FACTOR, pixel * PAIR_FACTOR, fwhm * LR_PSF_FACTOR)


LR_NOISE = {
    "project": "Gaussian approximation of Poisson + background (core.data.lenses.noise_sigma_map), per-pixel S/N doubled (4x pixel area, same exposure)",
    "deeplense-model1": "official Model I counts: Poisson(t (m + N(0, m/t) + N(0, 0.01))) at the system's exposure time t, per LR pixel, divided by t",
    "deeplense-model2": "lenstronomy Euclid VIS noise (SimAPI.noise_for_model: Poisson, sky 22.35 mag/arcsec^2, read noise 4.2 e-) with the LR pixel",
}


def recipe(preset: str, size: int) -> dict:
    """The manifest's description of how the pairs were made."""
    hr, lr = instruments(preset, size)
    return {
        "factor": PAIR_FACTOR,
        "layout": f"{LR_DIR}/<class>/<id>.npy and {HR_DIR}/<class>/<id>.npy (same names; entry 'file' is relative to both)",
        "hr": {**hr.to_dict(), "noise": "none (noiseless sky through the preset's instrument)"},
        "lr": {**lr.to_dict(), "noise": LR_NOISE[preset], "supersampling": LR_SUPERSAMPLING,
               "note": "rendered from the same lens, source and substructure parameters, not decimated from HR"},
        "units": "LR and HR in the same surface-brightness unit (LR flux per pixel / 4 = flux per HR pixel area)",
    }


# ---------------------------------------------------------------------------- rendering


def _deeplense_image(p, inst: Instrument, supersampling: int, kwargs_source: list[dict]) -> np.ndarray:
    """lenstronomy image (flux per pixel) of a DeepLense system through `inst`."""
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    from lenstronomy.Util.simulation_util import data_configure_simple

    from core.data import deeplense

    data = ImageData(**data_configure_simple(inst.size, inst.pixel_scale_arcsec, inverse=False))
    psf = PSF(psf_type="GAUSSIAN", fwhm=inst.psf_fwhm_arcsec, pixel_size=inst.pixel_scale_arcsec, truncation=deeplense.MODEL1_PSF_TRUNCATION * 2)
    models, kwargs_lens = deeplense.lens_model(p)
    image_model = ImageModel(data, psf, lens_model_class=LensModel(models), source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                             kwargs_numerics={"supersampling_factor": supersampling, "supersampling_convolution": False})  # fmt: skip
    return np.asarray(image_model.image(kwargs_lens, kwargs_source), dtype=np.float64)


def _model2_source(p) -> list[dict]:
    """Model II's source with its magnitude turned into lenstronomy's amplitude (Euclid VIS zero point)."""
    from core.data import deeplense

    _, kwargs_source, _ = deeplense._euclid_sim(p).magnitude2amplitude(None, deeplense._source(p, "magnitude", deeplense.SOURCE_MAGNITUDE_MODEL2))
    return kwargs_source


def _euclid_lr_noise(p, lr: Instrument, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Euclid VIS noise realisation for an LR image (counts/s per LR pixel)."""
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    from core.data import deeplense

    band = {**deeplense.EUCLID_VIS_DEEPLENSE, "pixel_scale": lr.pixel_scale_arcsec, "seeing": lr.psf_fwhm_arcsec}
    models, _ = deeplense.lens_model(p)
    sim = SimAPI(lr.size, kwargs_single_band=band, kwargs_model={"lens_model_list": models, "source_light_model_list": ["SERSIC_ELLIPSE"]})
    return sim.noise_for_model(image, seed=int(rng.integers(0, 2**31 - 1)))


def render_deeplense_pair(p, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(LR, HR, extra manifest fields) of a DeepLense system `p` (its `size` is the HR side)."""
    from core.data import deeplense

    hr_inst, lr_inst = instruments(p.preset, p.size)
    area = PAIR_FACTOR**2
    if p.preset == "deeplense-model1":
        source = deeplense._source(p, "amp", deeplense.SOURCE_AMP_MODEL1)
        hr = deeplense.model1_noiseless(p)  # flux per 0.05" pixel per unit exposure
        lr_clean = _deeplense_image(p, lr_inst, LR_SUPERSAMPLING, source)
        lr = deeplense.model1_counts(lr_clean, p.exposure_time, rng) / p.exposure_time
    else:
        hr = deeplense.model2_noiseless(p)  # counts/s per 0.101" pixel (the official 'as-written' image is twice this)
        lr_clean = _deeplense_image(p, lr_inst, LR_SUPERSAMPLING, _model2_source(p))
        lr = lr_clean + _euclid_lr_noise(p, lr_inst, lr_clean, rng)
    return (lr / area).astype(np.float32), hr.astype(np.float32), {"lr_noiseless_peak": float(lr_clean.max() / area)}


def render_project_pair(params, label: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(LR, HR, substructure truth) of the project's generator; draws as `lenses.observe_lens`."""
    from core.data import lenses

    hr_inst, lr_inst = instruments("project", size, params.pixel_scale_arcsec, params.psf_fwhm_arcsec)
    sub_seed, noise_seed = rng.integers(0, 2**63 - 1, size=2)
    sub = lenses.draw_substructure(params, label, np.random.default_rng(sub_seed))
    hr = lenses.render_lens(params, sub, size)  # surface brightness
    lr_params = replace(params, pixel_scale_arcsec=lr_inst.pixel_scale_arcsec, psf_fwhm_arcsec=lr_inst.psf_fwhm_arcsec, snr=params.snr * PAIR_FACTOR)
    lr_clean = lenses.render_lens(lr_params, sub, lr_inst.size)
    z = np.random.default_rng(noise_seed).standard_normal(lr_clean.shape)
    lr = lr_clean + z * lenses.noise_sigma_map(lr_clean, lr_params)
    sub["n_subhalos"] = len(sub["mass_msun"])
    sub["profile"] = "POINT_MASS"
    return lr.astype(np.float32), hr.astype(np.float32), sub


def noiseless_lr(params, label: str, preset: str, size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The LR image before noise, same units as `render_*_pair` (for tests and checks)."""
    if preset == "project":
        from core.data import lenses

        _, lr_inst = instruments("project", size, params.pixel_scale_arcsec, params.psf_fwhm_arcsec)
        sub_seed, _ = rng.integers(0, 2**63 - 1, size=2)
        sub = lenses.draw_substructure(params, label, np.random.default_rng(sub_seed))
        lr_params = replace(params, pixel_scale_arcsec=lr_inst.pixel_scale_arcsec, psf_fwhm_arcsec=lr_inst.psf_fwhm_arcsec)
        return lenses.render_lens(lr_params, sub, lr_inst.size).astype(np.float32)
    from core.data import deeplense

    _, lr_inst = instruments(preset, params.size)
    source = deeplense._source(params, "amp", deeplense.SOURCE_AMP_MODEL1) if preset == "deeplense-model1" else _model2_source(params)
    return (_deeplense_image(params, lr_inst, LR_SUPERSAMPLING, source) / PAIR_FACTOR**2).astype(np.float32)


def render_pair(params, label: str, preset: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(LR (S/2, S/2), HR (S, S), truth) of one system whose `params` were drawn from `rng`.

    `truth`: the drawn substructure (project preset) or extra fields (DeepLense presets)."""
    if preset == "project":
        return render_project_pair(params, label, size, rng)
    return render_deeplense_pair(params, rng)


# ---------------------------------------------------------------------------- pair folders


@dataclass
class PairIndex:
    """The LR/HR files of a pair folder (`root/lr/...` and `root/hr/...`, same relative names)."""

    root: Path
    lr_files: list[Path]
    hr_files: list[Path]
    manifest: dict | None = None
    fingerprint: str = ""
    classes: list = field(default_factory=list)  # pairs carry no training labels

    def __len__(self) -> int:
        return len(self.lr_files)


def pair_dir(root: Path, name: str) -> Path | None:
    """The sub-folder `name` of root (lr or hr), in any letter case (the DeepLense SR sets write LR/ and HR/)."""
    if (root / name).is_dir():
        return root / name
    try:
        return next((d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() == name), None)
    except OSError:
        return None


def is_pair_folder(path: str | Path) -> bool:
    """A folder holding `lr/` and `hr/` sub-folders (any letter case)."""
    root = Path(path)
    return root.is_dir() and pair_dir(root, LR_DIR) is not None and pair_dir(root, HR_DIR) is not None


def pair_folders(root: str | Path, max_depth: int = 3) -> list[Path]:
    """Every pair folder at or below `root` (down to `max_depth` levels), sorted; one inside another is not searched."""
    root = Path(root)
    if is_pair_folder(root):
        return [root]
    if max_depth <= 0 or not root.is_dir():
        return []
    found = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            found += pair_folders(d, max_depth - 1)
    return found


def scan_pairs(path: str | Path) -> PairIndex:
    """Index a pair folder: every image under lr/ (any depth) with the HR file of the same relative path
    (or the same relative path with another image extension) under hr/."""
    import hashlib

    from core.errors import InputError
    from core.io import is_supported_name

    root = Path(path)
    if not is_pair_folder(root):
        raise InputError(f"{root} has no lr/ and hr/ sub-folders; super-resolution data is a folder with lr/ and hr/ "
                         "holding the same file names (e.g. `python -m core simulate lenses --pairs 2`).")
    lr_root, hr_root = pair_dir(root, LR_DIR), pair_dir(root, HR_DIR)
    lr_files = sorted(f for f in lr_root.rglob("*") if f.is_file() and is_supported_name(f.name) and not f.name.startswith("."))
    if not lr_files:
        raise InputError(f"{lr_root} holds no images; put the low-resolution .npy/.fits/.png files there.")
    hr_by_stem = {}
    for f in hr_root.rglob("*"):
        if f.is_file() and is_supported_name(f.name):
            hr_by_stem.setdefault(_stem_key(f.relative_to(hr_root)), f)
    hr_files, missing = [], []
    for f in lr_files:
        rel = f.relative_to(lr_root)
        match = hr_root / rel if (hr_root / rel).is_file() else hr_by_stem.get(_stem_key(rel))
        (hr_files.append(match) if match is not None else missing.append(rel))
    if missing:
        raise InputError(f"{len(missing)} LR images have no HR image of the same name (first: {missing[0]}); "
                         "give lr/ and hr/ the same file names.")
    manifest = _read_manifest(root)
    h = hashlib.sha256()
    for a, b in zip(lr_files, hr_files, strict=True):
        h.update(f"{a.relative_to(root)}\t{a.stat().st_size}\t{a.stat().st_mtime_ns}\t{b.relative_to(root)}\t{b.stat().st_size}\t{b.stat().st_mtime_ns}\n".encode())
    return PairIndex(root, lr_files, hr_files, manifest, h.hexdigest())


def _stem_key(rel: Path) -> str:
    name = rel.name
    for ext in (".gz", ".fz"):
        name = name.removesuffix(ext)
    return (rel.parent / name.rsplit(".", 1)[0]).as_posix().lower()


def lr_range(lr: np.ndarray) -> tuple[float, float]:
    """(offset, scale) that maps an LR image to [0, 1]: its own min and range (1 for a constant image)."""
    lo, hi = float(np.min(lr)), float(np.max(lr))
    return lo, (hi - lo) if hi > lo else 1.0


def read_pair(lr_path: Path, hr_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) float32 2-D arrays; HR must be exactly twice the LR on each axis."""
    from core.errors import InputError
    from core.io import read_image

    lr, hr = read_image(lr_path).data, read_image(hr_path).data
    if hr.shape != (PAIR_FACTOR * lr.shape[0], PAIR_FACTOR * lr.shape[1]):
        raise InputError(f"{hr_path.name} is {hr.shape[0]}x{hr.shape[1]} px but its LR image is {lr.shape[0]}x{lr.shape[1]}; "
                         f"x{PAIR_FACTOR} super-resolution needs HR = {PAIR_FACTOR} x LR on each axis.")
    return lr, hr


def load_pairs(source: str | Path | PairIndex, progress=None, *, limit: int | None = None):
    """A pair folder in memory: (LR (N, 1, h, w), HR (N, 1, 2h, 2w), index), float32 tensors.

    Each LR image is normalised to [0, 1] by its own range (`lr_range`) and its HR image mapped
    with the same offset and scale (so the HR may leave [0, 1]): what the models are trained on.
    Every pair must have the same size (training batches); `progress(done, total, message)`.
    """
    import torch

    from core.errors import InputError

    index = source if isinstance(source, PairIndex) else scan_pairs(source)
    n = len(index) if limit is None else min(limit, len(index))
    lrs, hrs = [], []
    for i in range(n):
        lr, hr = read_pair(index.lr_files[i], index.hr_files[i])
        if lrs and lr.shape != lrs[0].shape:
            raise InputError(f"{index.lr_files[i].name} is {lr.shape[0]}x{lr.shape[1]} px, the first LR image "
                             f"{lrs[0].shape[0]}x{lrs[0].shape[1]}; training needs pairs of one size.")
        lo, scale = lr_range(lr)
        lrs.append((lr - lo) / scale)
        hrs.append((hr - lo) / scale)
        if progress is not None and (i + 1) % 500 == 0:
            progress(i + 1, n, "reading pairs")
    X = torch.from_numpy(np.stack(lrs).astype(np.float32))[:, None]  # (N, 1, h, w)
    Y = torch.from_numpy(np.stack(hrs).astype(np.float32))[:, None]  # (N, 1, 2h, 2w)
    return X, Y, index


def degradation_family():
    """The degradation family of super-resolution training (issue 26): `core.data.observe.Degradation` with its
    ranges (2 x 2 block mean; Gaussian or Airy PSF 1.5-3 x the HR's; noise 0.1-3 % of the LR peak, log-uniform;
    sub-pixel offsets over one LR pixel), a third of the images without extra PSF (the plain block mean) and a
    third without noise. The data's own noise lies inside: Model II LR 0.26 %, Model I LR 2.6 % of the peak. The sky
    goes on beyond the frame (mirrored): the Model I frames hold 9 % of their peak at the edge."""
    from core.data.observe import Degradation

    return Degradation(sharp=1 / 3, clean=1 / 3, psf_step=0.02, padding="reflect")


# HR PSF FWHM (HR pixels) the family widens: the SR training sets' HR, Model II 0.16"/0.101" = 1.58 px, Model I
# 0.087"/0.05" = 1.74 px; the 1.5-3 x range absorbs the difference.
FAMILY_HR_FWHM_PX = 1.6
FAMILY_MIN_HR = 24  # HR side the widest PSF needs (its kernel reaches 20 px; the mirrored edge must be wider)


def degrade_pairs(x, y, share: float, family=None, sky_turn: float = 0.0):
    """A `share` of the training pairs (LR x (B, 1, h, w), HR y (B, 1, 2h, 2w), both on the LR's range) replaced by
    a fresh draw of the family from their HR (`core.data.observe.degradation_pairs`), each new pair normalised by
    its new LR's range as `load_pairs` does; the others unchanged. `sky_turn`: the share of those new pairs whose
    HR sky is first turned by a uniform angle, band-limited (`turn_sky`): the sky turned, then observed.
    Draws from torch's global generator."""
    import torch

    from core.data.observe import degradation_pairs

    if min(y.shape[-2:]) < FAMILY_MIN_HR:
        from core.errors import InputError

        raise InputError(f"sr_degrade_fraction needs HR images of at least {FAMILY_MIN_HR} px (the widest PSF reaches 20 px); "
                         f"these are {y.shape[-1]} x {y.shape[-2]}.")
    pick = torch.rand(x.shape[0]) < share
    if not bool(pick.any()):
        return x, y
    with torch.no_grad():
        sky = turn_sky(y[pick].float(), sky_turn) if sky_turn > 0 else y[pick].float()
        lr, hr = degradation_pairs(sky, FAMILY_HR_FWHM_PX, family or degradation_family())
    lo = lr.amin(dim=(1, 2, 3), keepdim=True)
    span = lr.amax(dim=(1, 2, 3), keepdim=True) - lo
    span = torch.where(span > 0, span, torch.ones_like(span))
    x, y = x.clone(), y.clone()
    x[pick] = ((lr - lo) / span).to(x.dtype)
    y[pick] = ((hr - lo) / span).to(y.dtype)
    return x, y


def turn_sky(hr, share: float, generator=None):
    """A `share` of the noiseless HR skies (B, 1, H, W) turned by a uniform angle each, band-limited (mode "sinc" of
    core.data.observe.turn: no smoothing, the corners continued by each image's azimuthal profile); no mirror or
    shift (the degradation family adds the sub-pixel offset). The others are returned unchanged."""
    from core.data.observe import ObserveConfig, turn_share

    return turn_share((hr,), share, ObserveConfig(flips=False, shift_px=0.0), "sinc", generator)[0]


def turn_pairs(x, y, share: float, generator=None):
    """A `share` of the pairs (B, 1, h, w) / (B, 1, H, W) turned by one angle uniform in [0, 360) each, input and target
    alike, about the grid centre (core.data.observe.turn: bicubic, the corners filled from each image's azimuthal
    profile). Same-size pairs also share a sub-pixel shift; an x2 super-resolution pair is turned without one, so LR and
    HR keep one centre. The noise of a noisy input is resampled with it, as any pipeline's turn does."""
    from core.data.observe import ObserveConfig, turn_share

    return turn_share((x, y), share, ObserveConfig(flips=False, shift_px=0.5 if x.shape == y.shape else 0.0),
                      generator=generator)


class PairAugment:
    """One random element of D4 (90-degree turns and a mirror, exact on the grid) per pair,
    applied to LR and HR alike; draws from torch's global generator (the trainer seeds it).

    clean_input_fraction: for same-size (noisy, noise-free) pairs, the share of pairs whose input
    is replaced by its target, so that a denoising autoencoder also sees noise-free inputs.
    degrade: for super-resolution pairs, the share whose LR is drawn afresh from the degradation
    family (`degrade_pairs`) before the D4 element; 0 draws nothing, as before the option existed.
    turn: the share of pairs turned by any angle first (`turn_pairs`); 0 turns nothing.
    sky_turn: the share of the freshly degraded pairs whose HR sky is turned before the degradation (`turn_sky`)."""

    paired = True

    def __init__(self, clean_input_fraction: float = 0.0, degrade: float = 0.0, turn: float = 0.0, sky_turn: float = 0.0):
        self.clean_input_fraction = float(clean_input_fraction)
        self.degrade = float(degrade)
        self.turn = float(turn)
        self.sky_turn = float(sky_turn)

    def __call__(self, x, y):
        import torch

        if self.degrade > 0:
            x, y = degrade_pairs(x, y, self.degrade, sky_turn=self.sky_turn)
        if self.turn > 0:
            x, y = turn_pairs(x, y, self.turn)
        if self.clean_input_fraction > 0:
            swap = torch.rand(x.shape[0]) < self.clean_input_fraction
            x = torch.where(swap[:, None, None, None], y, x)
        k = torch.randint(0, 4, (x.shape[0],))
        flip = torch.randint(0, 2, (x.shape[0],)).bool()
        xs, ys = [], []
        for i in range(x.shape[0]):
            a, b = (x[i].flip(-1), y[i].flip(-1)) if flip[i] else (x[i], y[i])
            xs.append(torch.rot90(a, int(k[i]), dims=(-2, -1)))
            ys.append(torch.rot90(b, int(k[i]), dims=(-2, -1)))
        return torch.stack(xs), torch.stack(ys)


# ---------------------------------------------------------------------------- mixed training sets


def decimate(hr: np.ndarray) -> np.ndarray:
    """The 2 x 2 block mean of an HR image: the plain degradation (no PSF change, no noise) other groups often use."""
    h, w = hr.shape[0] // PAIR_FACTOR, hr.shape[1] // PAIR_FACTOR
    return hr[: h * PAIR_FACTOR, : w * PAIR_FACTOR].reshape(h, PAIR_FACTOR, w, PAIR_FACTOR).mean((1, 3)).astype(np.float32)


def mix_pairs(out: str | Path, parts: list[tuple[str, str | Path, int | None, bool]]) -> Path:
    """A training folder combining pair folders: `parts` = [(name, folder, limit, decimated)].

    Pairs go to out/lr/<name>/... and out/hr/<name>/... (hard links where possible, else copies);
    `decimated` replaces each LR by `decimate(HR)`, and then `folder` may also be a data set with noiseless
    twins, whose twins are the HR images (`_twin_pairs`). Writes out/manifest.json naming the sources
    (their manifests' commands and pair recipes) and returns its path.
    """
    import os
    import shutil

    from core.atomic import atomic_save_npy, atomic_write_json

    out = Path(out)
    sources = []
    for name, folder, limit, decimated in parts:
        index = _twin_pairs(Path(folder)) if decimated and not is_pair_folder(folder) else scan_pairs(folder)
        n = len(index) if limit is None else min(int(limit), len(index))
        for lr_path, hr_path in zip(index.lr_files[:n], index.hr_files[:n], strict=True):
            rel = hr_path.relative_to(index.root / "noiseless" if lr_path is None else pair_dir(index.root, HR_DIR))
            for src, dst in ([] if decimated else [(lr_path, out / LR_DIR / name / lr_path.relative_to(pair_dir(index.root, LR_DIR)))]) + [(hr_path, out / HR_DIR / name / rel)]:
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copyfile(src, dst)
            if decimated:
                atomic_save_npy((out / LR_DIR / name / rel).with_suffix(".npy"), decimate(np.load(hr_path)))
        manifest = index.manifest or {}
        sources.append({"name": name, "folder": str(folder), "n": n, "decimated_lr": bool(decimated),
                        "command": manifest.get("command"), "preset": manifest.get("preset"), "pairs": manifest.get("pairs")})
    size = int(np.load(scan_pairs(out).hr_files[0]).shape[0])
    args = " ".join(f"{name}={folder}" + (f":{'' if limit is None else limit}:decimated" if dec else f":{limit}" if limit is not None else "")
                    for name, folder, limit, dec in parts)
    manifest = {"generator": "lenses", "preset": "+".join(s["name"] for s in sources), "size": size, "version": "pairs-mix-1",
                "seed": None, "classes": [], "sources": sources, "command": f"python -m core.data.pairs {out} {args}"}
    atomic_write_json(out / "manifest.json", manifest)
    return out / "manifest.json"


def _twin_pairs(folder: Path) -> PairIndex:
    """A data set's noiseless twins (folder/noiseless/<class>/<id>.npy, `simulate --twins`) as HR images for a
    decimated mix part (no LR files: each LR is the HR's block mean), ordered by image id so that the classes
    alternate and a limit takes some of each."""
    from core.errors import InputError

    twins = sorted((folder / "noiseless").glob("*/*.npy"), key=lambda p: (p.stem, p.parent.name))
    if not twins:
        raise InputError(f"{folder} has neither lr/ and hr/ sub-folders nor noiseless twins (noiseless/<class>/*.npy); "
                         "a decimated mix part takes either.")
    return PairIndex(folder, [None] * len(twins), twins, _read_manifest(folder))


def _read_manifest(root: Path) -> dict | None:
    """root/manifest.json as a dict, or None when it is missing or unreadable (it only describes the source)."""
    try:
        return json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _parse_part(text: str) -> tuple[str, str, int | None, bool]:
    """NAME=FOLDER[:LIMIT][:decimated] -> (name, folder, limit, decimated)."""
    name, rest = text.split("=", 1)
    folder, *opts = rest.split(":")
    limit = int(opts[0]) if opts and opts[0] else None
    return name, folder, limit, bool(len(opts) > 1 and opts[1] == "decimated")


if __name__ == "__main__":  # python -m core.data.pairs OUT NAME=FOLDER[:LIMIT][:decimated] ...
    import sys

    print(mix_pairs(sys.argv[1], [_parse_part(a) for a in sys.argv[2:]]))
