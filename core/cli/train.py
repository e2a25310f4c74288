"""`python -m core train --config configs/X.toml [overrides]`: train and write a checkpoint.

Every TrainConfig field has a flag (`--epochs 5`, `--lr 3e-4`, `--no-augment`, ...); model and
loss settings are set with `--set model_config.group=C8` or `--set loss.ms_ssim=0.5` (values
parsed as TOML). Under `torchrun --nproc_per_node=N -m core train ...` the run is data
parallel (see core/train/ddp.py).
"""

from __future__ import annotations

import argparse
import tomllib

from core.errors import InputError

HELP = "Train a model from a TOML config (configs/*.toml) and write a checkpoint with its index entry."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.train.config import FIELDS, cli_flag

    parser.add_argument("--config", default=None, help="TOML file with TrainConfig fields (see configs/)")
    for name, f in FIELDS.items():
        if name in ("model_config", "loss"):
            continue
        if f.type in ("bool", bool):
            parser.add_argument(cli_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None)
        else:
            typ = {"int": int, "float": float, "int | None": int, "float | None": float}.get(str(f.type), str)
            parser.add_argument(cli_flag(name), dest=name, type=typ, default=None, metavar=name.upper())
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a model_config or loss entry, e.g. model_config.group=C8 (TOML value)")


def parse_sets(sets: list[str]) -> dict[str, dict]:
    """["model_config.group=C8", "loss.ms_ssim=0.5"] -> {"model_config": {"group": "C8"}, "loss": {...}}."""
    out: dict[str, dict] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        table, dot, field = key.strip().partition(".")
        if not sep or not dot or table not in ("model_config", "loss"):
            raise InputError(f"Cannot read --set {item}; write it as model_config.KEY=VALUE or loss.KEY=VALUE.")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as C8
        out.setdefault(table, {})[field] = value
    return out


def overrides_from_args(args: argparse.Namespace) -> dict:
    from core.train.config import FIELDS

    values = {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}
    values.update(parse_sets(args.sets))
    return values


def run(args: argparse.Namespace, command: str = "train") -> int:
    from core.progress import tqdm_progress
    from core.train.config import command_for, load_config
    from core.train.fit import fit

    overrides = overrides_from_args(args)
    cfg = load_config(args.config, overrides)
    if not cfg.data:
        raise InputError("No training data given; set `data` in the config or pass --data DIR.")
    import os

    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 draws a bar
    progress, bar = tqdm_progress() if main_rank else (None, None)
    try:
        path = fit(cfg, progress=progress, command=command_for(args.config, overrides, command))
    finally:
        if bar is not None:
            bar.close()
    if path is not None:
        print(f"wrote {path}")
    return 0
