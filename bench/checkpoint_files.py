"""Shipped checkpoint files: size and load time, lean (format 2) against the fat originals (format 1).

Run: .venv/bin/python -m bench.checkpoint_files [--repeats 3] [--fat-rev 9ef36b1]
The fat originals are read from git at `--fat-rev` (the last commit before the lean rewrite)
into a temporary folder. Load = `core.checkpoints.load_model` (read, rebuild, export for
serving), median of `--repeats` runs in this process, after one warm-up load that fills
escnn's basis cache; "max abs diff" compares both files' outputs on the same two images.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from bench.record import record
from core.checkpoints import build_from_checkpoint, list_checkpoints, load_model, read_checkpoint
from core.paths import REPO_ROOT


def fat_original(entry: dict, rev: str, folder: Path) -> Path | None:
    """The file of `entry` as it was at git revision `rev`, or None when git does not have it."""
    rel = Path(entry["path"]).resolve().relative_to(REPO_ROOT).as_posix()
    proc = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=REPO_ROOT, capture_output=True, timeout=60)
    if proc.returncode != 0:
        return None
    out = folder / Path(rel).name
    out.write_bytes(proc.stdout)
    return out


def seconds_to_load(path: Path, repeats: int) -> float:
    load_model(path)  # warm-up: escnn's basis cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_model(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def outputs(path: Path) -> torch.Tensor:
    payload = read_checkpoint(path)
    model = build_from_checkpoint(payload)
    size = int(payload["config"].get("image_size", 129))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, size, size, generator=g)
    with torch.no_grad():
        return model(x).flatten()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fat-rev", default="9ef36b1", help="git revision holding the format-1 files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry", action="store_true", help="print the table without writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in list_checkpoints([REPO_ROOT / "checkpoints"]):
            lean = Path(entry["path"])
            fat = fat_original(entry, args.fat_rev, Path(tmp))
            row = [entry["name"], f"{lean.stat().st_size / 1e6:.2f}", f"{seconds_to_load(lean, args.repeats):.2f}"]
            if fat is None:
                row += ["n/a", "n/a", "n/a"]
            else:
                diff = float((outputs(lean) - outputs(fat)).abs().max())
                row += [f"{fat.stat().st_size / 1e6:.2f}", f"{seconds_to_load(fat, args.repeats):.2f}", f"{diff:.1e}"]
            rows.append(row)
            print(row, flush=True)
    header = ["checkpoint", "lean MB", "lean load s", "fat MB", "fat load s", "max abs diff of outputs"]
    notes = (f"Fat = the same checkpoint as committed at {args.fat_rev} (format 1, escnn kernel bases stored). "
             "Both loads rebuild the model with escnn; the lean file takes the kernel bases from that rebuild, "
             "after checking their fingerprint.")
    if args.dry:
        from bench.record import markdown_table

        print(markdown_table(header, rows))
    else:
        record("checkpoint_files", "Checkpoint files: lean against fat (size, load time, outputs)", header, rows, notes)


if __name__ == "__main__":
    main()
