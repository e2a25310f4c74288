"""`python -m core pretrain --config configs/lenses-ssl-equivariant.toml [overrides]`: self-supervised
pretraining of a backbone (model kind "encoder": `equivariant_encoder` | `cnn_encoder`).

The same trainer as `python -m core train` (resumable from runs/<name>/last.pt, `max_minutes`
budget, tqdm bar, loss history in the checkpoint), with the VICReg loss of core/train/pretrain.py;
class folders are allowed but their labels are not read (only a diagnostic probe in the metrics)."""

from __future__ import annotations

import argparse

from core.errors import InputError

HELP = "Pretrain a backbone without labels (VICReg on instrument views) from a TOML config; writes a checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.cli.train import add_arguments as train_arguments

    train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from core.cli.train import overrides_from_args
    from core.cli.train import run as train
    from core.models.registry import MODEL_NAMES, model_kind
    from core.train.config import load_config

    cfg = load_config(args.config, overrides_from_args(args))
    encoders = [n for n in MODEL_NAMES if model_kind(n) == "encoder"]
    if cfg.model not in MODEL_NAMES or model_kind(cfg.model) != "encoder":
        raise InputError(f"pretrain trains a backbone, but the config's model is {cfg.model!r}; set model to one of "
                         f"{', '.join(encoders)} (or use `python -m core train` for {cfg.model}).")
    return train(args, command="pretrain")
