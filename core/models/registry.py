"""Models by name: `build_model("equivariant_ae", {"group": "C8"})`.

Names: "equivariant_ae", "cnn_ae", "equivariant_classifier", "cnn_classifier", and the x2
super-resolution models "equivariant_sr", "edsr_sr", "srcnn_sr", and the self-supervised backbones
"equivariant_encoder", "cnn_encoder". `CONFIGS[name]`
is the config dataclass (call it for the defaults); `model_kind(name)` says what the model
outputs ("autoencoder" | "classifier" | "superres" | "encoder"), `is_equivariant(name)` whether escnn builds it. Nothing is built or imported from escnn until a model
is requested.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from core.models.config import PlainConfig

MODEL_KINDS = ("autoencoder", "classifier", "superres", "encoder")  # what a model outputs; superres: x2 upscaled image;
# encoder: a self-supervised backbone (embedding only, no classes; core/models/backbone.py)
# name -> (module, config class, model class, kind); resolved lazily so importing is cheap.
_MODELS = {
    "equivariant_ae": ("core.models.equivariant_ae", "EquivariantAEConfig", "EquivariantAutoencoder", "autoencoder"),
    "cnn_ae": ("core.models.cnn", "CNNAEConfig", "CNNAutoencoder", "autoencoder"),
    "equivariant_classifier": ("core.models.equivariant_classifier", "EquivariantClassifierConfig", "EquivariantClassifier",
                               "classifier"),
    "cnn_classifier": ("core.models.cnn", "CNNClassifierConfig", "CNNClassifier", "classifier"),
    "equivariant_sr": ("core.models.superres", "EquivariantSRConfig", "EquivariantSR", "superres"),
    "edsr_sr": ("core.models.superres", "EDSRConfig", "EDSR", "superres"),
    "srcnn_sr": ("core.models.superres", "SRCNNConfig", "SRCNN", "superres"),
    "equivariant_encoder": ("core.models.backbone", "EquivariantBackboneConfig", "EquivariantBackbone", "encoder"),
    "cnn_encoder": ("core.models.backbone", "CNNBackboneConfig", "CNNBackbone", "encoder"),
}
MODEL_NAMES = tuple(_MODELS)
EQUIVARIANT_MODELS = frozenset({"equivariant_ae", "equivariant_classifier", "equivariant_sr", "equivariant_encoder"})  # built with escnn; the others are baselines


def _check_name(name: str) -> None:
    if name not in _MODELS:
        raise ValueError(f"Unknown model '{name}'; use one of {', '.join(MODEL_NAMES)}.")


def model_kind(name: str) -> str:
    """What model `name` (a registry name) outputs: one of MODEL_KINDS ("autoencoder" | "classifier")."""
    _check_name(name)
    return _MODELS[name][3]


def is_equivariant(name: str) -> bool:
    """Whether model `name` (a registry name) is built from escnn layers (else a plain-CNN baseline)."""
    _check_name(name)
    return name in EQUIVARIANT_MODELS


class _Configs:
    """Mapping-like access `CONFIGS[name]` -> config dataclass, importing the module on first use."""

    def __getitem__(self, name: str) -> type[PlainConfig]:
        _check_name(name)
        module, cfg_cls, _, _ = _MODELS[name]
        return getattr(importlib.import_module(module), cfg_cls)

    def __iter__(self):
        return iter(MODEL_NAMES)

    def __contains__(self, name: object) -> bool:
        return name in _MODELS

    def keys(self):
        return MODEL_NAMES


CONFIGS = _Configs()


def make_config(name: str, config: dict[str, Any] | PlainConfig | None = None) -> PlainConfig:
    """The config dataclass of model `name` from a dict of plain values (missing keys = defaults)."""
    cls = CONFIGS[name]
    if isinstance(config, cls):
        return config
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"The config of '{name}' must be a dict or a {cls.__name__}, not {type(config).__name__}.")
    return cls.from_dict(config)


def build_model(name: str, config: dict[str, Any] | PlainConfig | None = None) -> nn.Module:
    """A freshly initialised model (train mode) of registry name `name` with `config`."""
    cfg = make_config(name, config)
    module, _, model_cls, _ = _MODELS[name]
    return getattr(importlib.import_module(module), model_cls)(cfg)
