"""Rewrite checkpoint files in the lean form (format 2: no escnn kernel bases) and refresh their index.

    python -m core compact runs                # every *.pt directly in a folder
    python -m core compact runs/my-run.pt      # or given files

Weights, metrics and everything else stay as they were, so outputs are unchanged; see
`core.checkpoints`. When the `index.json` beside a file lists it, its entry is re-registered
under the same name (new sha256 and size_bytes). Files already lean are left untouched;
other .pt files (e.g. a run's resume state last.pt) are skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.checkpoints import INDEX_NAME, compact_checkpoint, register
from core.errors import CheckpointError


def compact_and_register(path: str | Path) -> tuple[int, int]:
    """`compact_checkpoint(path)`, then re-register it in the index of its folder if listed there."""
    path = Path(path).resolve()
    before, after = compact_checkpoint(path)
    index = path.parent / INDEX_NAME
    if after != before and index.is_file():
        for entry in json.loads(index.read_text()).get("checkpoints", []):
            if (path.parent / entry["file"]).resolve() == path:
                register(path, entry["name"])
    return before, after


HELP = "Rewrite checkpoint files in the lean form (no escnn kernel bases; same outputs) and refresh their index."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="checkpoint files, or folders whose *.pt files to convert")


def run(args: argparse.Namespace) -> int:
    files = [f for p in map(Path, args.paths) for f in (sorted(p.glob("*.pt")) if p.is_dir() else [p])]
    for f in files:
        try:
            before, after = compact_and_register(f)
        except CheckpointError as exc:
            print(f"{f}: skipped ({exc})")
            continue
        print(f"{f}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB" + ("" if after != before else " (unchanged)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core compact", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
