"""`python -m core <command>`: one entry point; each command is a module of this package, core/cli/<command>.py.

A command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`,
and imports its heavy dependencies inside `run` so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import CheckpointError, InputError

COMMANDS: dict[str, str] = {name: f"core.cli.{name}" for name in (
    "simulate", "train", "evaluate", "embed", "equivariance", "reconstruct", "superres", "pretrain", "probe", "reproduce",
)}


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
            raise RuntimeError(f"The command '{name}' is registered in core.cli.COMMANDS but its module {module_name} "
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
