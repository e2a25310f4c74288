"""The training configuration: one dataclass, read from TOML (`configs/*.toml`) plus overrides, and the
command line that reproduces a run."""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import paths
from core.errors import InputError

SCHEDULES = ("cosine", "onecycle", "constant")
ROTATIONS = ("right", "continuous", "continuous-physical")  # augment_rotations


@dataclass
class TrainConfig:
    data: str = ""  # training folder (class-folder layout written by `python -m core simulate`)
    model: str = "equivariant_ae"  # registry name: equivariant_ae | cnn_ae | equivariant_classifier | cnn_classifier
    model_config: dict = field(default_factory=dict)  # overrides of the model's config dataclass
    loss: dict = field(default_factory=dict)  # loss weights, e.g. {mse = 1.0, ms_ssim = 0.2}; see losses.py
    epochs: int = 10  # maximum passes over the training split
    batch_size: int = 32  # images per optimiser step (per process under DDP)
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    schedule: str = "cosine"  # cosine (per epoch) | onecycle (per step, 10% warm-up) | constant
    val_fraction: float = 0.1  # held-out share for validation when folds == 1
    folds: int = 1  # K > 1: K-fold training, the checkpoint holds the K members as an ensemble
    patience: int = 0  # early stopping after this many epochs without a better val loss; 0 = off
    seed: int = 0  # seeds split, initialisation, shuffling and augmentation
    device: str | None = None  # "cpu" | "cuda" | None (CUDA when available)
    num_workers: int = 0  # DataLoader workers (data are preloaded, so 0 is usually best)
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    augment: bool = True  # random E(2) augmentation of training batches (core.data.transforms.RandomE2Augment)
    augment_rotations: str = "right"  # "right" (exact multiples of 90 deg) | "continuous" (any angle, interpolated) |
    # "continuous-physical" (the noiseless twin turned by any angle, then observed afresh: core.data.observe; needs simulate --twins)
    augment_shift_px: float = 0.5  # continuous-physical: pointing jitter, uniform in [-s, s] pixels per axis
    augment_psf_jitter: float = 0.05  # continuous-physical: PSF FWHM widened by a factor uniform in [1, 1 + j]
    augment_resample_jitter: float = 0.0  # continuous-physical: share of images resampled once more after the noise (bilinear)
    augment_cosmic_rays: float = 0.0  # continuous-physical, CCD data: residual cosmic-ray hits and warm pixels, at most this many
    # per 1000 model pixels (core.data.observe.cosmic_rays; per image uniform from none to this)
    train_fraction: float = 1.0  # use only this share of the training split (sample-efficiency runs)
    max_minutes: float | None = None  # wall-clock budget for the whole run; stops after the epoch that exceeds it
    amp: bool = True  # mixed precision (float16 autocast + GradScaler) on CUDA; ignored on CPU
    test_data: str | None = None  # optional held-out test folder, evaluated at the end into the metrics
    name: str = "run"  # checkpoint name in the index
    out: str | None = None  # folder of the final `<name>.pt` and its index.json; default runs/ of the repository
    work_dir: str | None = None  # resume state (last.pt) and logs; default runs/<name>/
    resume: bool = True  # continue from work_dir/last.pt when it exists and matches this config
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights (name or .pt; same model and config)
    target_test_data: str | None = None  # optional labelled test folder of another domain, evaluated into metrics["test_target"]
    domain_adaptation: str = "none"  # "none" | "dann" (adversarial feature alignment with target_data; core/train/domain.py)
    target_data: str | None = None  # target-domain images for domain adaptation (labels, if any, unused)
    clean_data: str | None = None  # autoencoders: noise-free twins of `data` (same files, `simulate --noise none`) as targets (denoising)
    clean_input_fraction: float = 0.0  # with clean_data: share of training inputs replaced by their noise-free twin
    sr_degrade_fraction: float = 0.0  # super-resolution: share of training pairs whose LR is drawn afresh per batch from the
    # degradation family (core.data.pairs.degrade_pairs: block mean, wider Gaussian/Airy PSF, noise, sub-pixel offset); needs augment
    pair_turn_fraction: float = 0.0  # autoencoder / super-resolution pairs: share turned by one uniform angle, input and
    # target alike (core.data.pairs.turn_pairs), before the exact D4 element; needs augment
    sr_sky_turn_fraction: float = 0.0  # super-resolution: share of the freshly degraded pairs whose noiseless HR sky is
    # turned by a uniform angle, band-limited, before the family observes it (core.data.pairs.turn_sky); needs sr_degrade_fraction
    domain_weight: float = 1.0  # largest gradient-reversal weight of the DANN domain loss (ramped 2/(1+exp(-10p))-1)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise InputError(f"Unknown schedule '{self.schedule}'; use one of {', '.join(SCHEDULES)}.")
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction}.")
        if not 0.0 < self.train_fraction <= 1.0:
            raise InputError(f"train_fraction must be in (0, 1], got {self.train_fraction}.")
        if not 0.0 <= self.clean_input_fraction <= 1.0:
            raise InputError(f"clean_input_fraction must be in [0, 1], got {self.clean_input_fraction}.")
        if not 0.0 <= self.sr_degrade_fraction <= 1.0 or (self.sr_degrade_fraction > 0 and not self.augment):
            raise InputError(f"sr_degrade_fraction must be in [0, 1] and needs augment = true (it acts per batch), got {self.sr_degrade_fraction}.")
        if not 0.0 <= self.pair_turn_fraction <= 1.0 or (self.pair_turn_fraction > 0 and not self.augment):
            raise InputError(f"pair_turn_fraction must be in [0, 1] and needs augment = true, got {self.pair_turn_fraction}.")
        if not 0.0 <= self.sr_sky_turn_fraction <= 1.0 or (self.sr_sky_turn_fraction > 0 and self.sr_degrade_fraction == 0):
            raise InputError("sr_sky_turn_fraction must be in [0, 1] and turns the skies that sr_degrade_fraction observes afresh; "
                             f"got {self.sr_sky_turn_fraction} with sr_degrade_fraction = {self.sr_degrade_fraction}.")
        if isinstance(self.augment_rotations, str) and self.augment_rotations not in ROTATIONS:
            raise InputError(f"Unknown augment_rotations '{self.augment_rotations}'; use one of {', '.join(ROTATIONS)}.")
        if not (0.0 <= self.augment_shift_px <= 4.0 and 0.0 <= self.augment_psf_jitter <= 1.0
                and 0.0 <= self.augment_resample_jitter <= 1.0):
            raise InputError("augment_shift_px must be in [0, 4] pixels, augment_psf_jitter and augment_resample_jitter in [0, 1].")
        if not 0.0 <= self.augment_cosmic_rays <= 100.0 or (self.augment_cosmic_rays > 0 and self.augment_rotations != "continuous-physical"):
            raise InputError("augment_cosmic_rays is a number of hits per 1000 pixels in [0, 100], added when the noiseless twins are "
                             f"observed afresh (augment_rotations = \"continuous-physical\"); got {self.augment_cosmic_rays}.")
        for key in ("epochs", "batch_size", "folds"):
            if int(getattr(self, key)) < 1:
                raise InputError(f"{key} must be at least 1, got {getattr(self, key)}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def out_path(self) -> Path:
        return Path(self.out) if self.out else paths.RUNS_DIR  # the folder the app lists

    @property
    def work_path(self) -> Path:
        return Path(self.work_dir) if self.work_dir else paths.RUNS_DIR / self.name


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig; unknown keys are an InputError naming the known ones."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise InputError(f"Unknown training option(s) {', '.join(unknown)}; known options: {', '.join(FIELDS)}.")
    return TrainConfig(**values)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a TOML file (top-level keys = TrainConfig fields; [model_config] and [loss] tables)."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"The config file {path} does not exist; pass one of the files in configs/.")
        try:
            values = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"The config file {path} is not valid TOML ({exc}).") from exc
        values = _anchor_paths(values, path)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("model_config", "loss"):
            values[key] = {**values.get(key, {}), **value}
        else:
            values[key] = value
    return from_dict(values)


PATH_FIELDS = ("data", "test_data", "out", "work_dir", "target_data", "target_test_data", "clean_data")


def _anchor_paths(values: dict[str, Any], config_path: Path) -> dict[str, Any]:
    """Relative folders written in a config file mean the same folder from any working directory:
    relative to the repository for a config inside it (configs/*.toml say "data/disks-train"),
    else relative to the config file's own folder. Flags typed on the command line stay relative
    to the working directory."""
    config_path = config_path.resolve()
    base = paths.REPO_ROOT if config_path.is_relative_to(paths.REPO_ROOT) else config_path.parent
    out = dict(values)
    for key in PATH_FIELDS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out[key] = str(base / value)
    return out


def cli_flag(name: str) -> str:
    """The `python -m core train` flag of a TrainConfig field: "max_minutes" -> "--max-minutes"."""
    return "--" + name.replace("_", "-")


def command_for(config_path: str | None, cfg_or_overrides, command: str = "train") -> str:
    """The command line that reproduces a run: the config file plus the overrides given
    (`command`: "train", or "pretrain" for a self-supervised backbone)."""
    if isinstance(cfg_or_overrides, TrainConfig):
        default = TrainConfig()
        overrides = {k: v for k, v in dataclasses.asdict(cfg_or_overrides).items() if v != getattr(default, k)}
    else:
        overrides = dict(cfg_or_overrides)
    parts = ["python", "-m", "core", command]
    if config_path:
        parts += ["--config", str(config_path)]
    for key, value in overrides.items():
        if key in ("model_config", "loss"):
            for k, v in value.items():
                parts += ["--set", f"{key}.{k}={_toml(v)}"]
        elif isinstance(value, bool):
            parts.append(cli_flag(key) if value else "--no-" + key.replace("_", "-"))
        else:
            parts += [cli_flag(key), str(value)]
    return shlex.join(parts)


def _toml(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)
