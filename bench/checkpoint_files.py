"""Shipped checkpoint files on other machines: size, first load on a cold escnn cache, and outputs
across OpenBLAS kernel choices.

Run: .venv/bin/python -m bench.checkpoint_files [--coretypes auto Haswell SkylakeX]

For each OpenBLAS kernel choice (`auto` = OPENBLAS_CORETYPE unset, as on users' machines) one
fresh process loads every shipped checkpoint with a private copy of escnn whose on-disk basis
cache is empty (as after a fresh install), times each first load (`core.checkpoints.load_model`:
read, rebuild, map the portable weights, export) and records its outputs on two fixed random
images. The table gives the size, the first-load time per kernel choice, in the order of the
index (so escnn's in-memory cache warms as a server's does), and the largest difference of the
outputs across kernel choices relative to the largest output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.record import record
from core.checkpoints import list_checkpoints
from core.paths import CHECKPOINTS_DIR, REPO_ROOT

PROBE = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(2)
from core.checkpoints import list_checkpoints, load_model
out, seconds = {}, {}
for entry in list_checkpoints([sys.argv[2]]):
    t0 = time.perf_counter()
    loaded = load_model(entry["name"], folders=[sys.argv[2]])
    seconds[entry["name"]] = time.perf_counter() - t0
    size = 33 if loaded.kind == "superres" else loaded.image_size
    x = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out[entry["name"]] = loaded.model(x).flatten().numpy()
np.savez(sys.argv[1] + ".npz", **out)
json.dump(seconds, open(sys.argv[1] + ".json", "w"))
"""


def run_probe(coretype: str, folder: Path) -> tuple[dict, dict]:
    """Outputs and first-load seconds of every shipped checkpoint in a fresh process with a cold escnn cache."""
    from core.escnn_setup import escnn

    pkg = folder / f"pkg-{coretype}"
    shutil.copytree(Path(escnn.__file__).parent, pkg / "escnn", ignore=shutil.ignore_patterns("_cache", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": f"{pkg}{os.pathsep}{REPO_ROOT}"}
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype != "auto":
        env["OPENBLAS_CORETYPE"] = coretype
    stem = folder / coretype
    subprocess.run([sys.executable, "-c", PROBE, str(stem), str(CHECKPOINTS_DIR)], env=env, check=True, cwd=REPO_ROOT,
                   stdout=subprocess.DEVNULL)
    with np.load(f"{stem}.npz") as f:
        outputs = {k: f[k] for k in f.files}
    return outputs, json.loads(Path(f"{stem}.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coretypes", nargs="+", default=["auto", "Haswell", "SkylakeX"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {c: run_probe(c, Path(tmp)) for c in args.coretypes}
    rows = []
    for entry in list_checkpoints([CHECKPOINTS_DIR]):
        name = entry["name"]
        ref = runs[args.coretypes[0]][0][name]
        diff = max(float(np.abs(runs[c][0][name] - ref).max() / np.abs(ref).max()) for c in args.coretypes)
        rows.append([name, entry["members"], f"{Path(entry['path']).stat().st_size / 1e6:.2f}",
                     *[f"{runs[c][1][name]:.2f}" for c in args.coretypes], f"{diff:.1e}"])
    header = ["checkpoint", "members", "MB", *[f"first load s ({c})" for c in args.coretypes],
              "max output difference across kernels (relative)"]
    notes = ("Each column is one fresh process with a cold escnn cache and OPENBLAS_CORETYPE as named (auto = unset); "
             "checkpoints load in index order in that process, so the first equivariant model of each group pays "
             "for escnn's basis construction and later ones reuse it, as in a server. Outputs on two fixed "
             "uniform-random images; difference = max |y - y_first| / max |y_first| over the kernel choices.")
    record("checkpoint_files", "Checkpoint files on other machines: size, cold first load, outputs across BLAS kernels",
           header, rows, notes)


if __name__ == "__main__":
    main()
