"""`python -m core <command>`: one entry point; each command lives in its own module.

A command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`,
and imports its heavy dependencies inside `run` so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import CheckpointError, InputError

COMMANDS: dict[str, str] = {
    "simulate": "core.data.simulate",
    "train": "core.train.cli",
    "evaluate": "core.analysis.evaluate",
    "embed": "core.analysis.cli_embed",
    "equivariance": "core.analysis.cli_equivariance",
    "reconstruct": "core.analysis.cli_reconstruct",
    "superres": "core.analysis.superres",
    "pretrain": "core.train.pretrain_cli",
    "probe": "core.train.fewlabel",
    "reproduce": "core.reproduce",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="EquiScope: simulate, train, evaluate and analyse E(2)-equivariant models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise RuntimeError(f"The command '{name}' is registered in core/cli.py but its module {module_name} "
                               "does not exist; restore the module or remove the command.") from exc
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (InputError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
