"""Learning curve of the DeepLense classifiers: test macro AUC against training-set size.

    python -m bench.deeplense_curve --model 2 --fractions 0.1,0.333 --epochs 12,12 --minutes 8,15

For each architecture (D8-equivariant and CNN, from scratch: configs/lenses-model<M>-equivariant-stage1.toml
and configs/lenses-model<M>-cnn.toml) and each
fraction f of the training folder, trains `python -m core train --train-fraction f` into
runs/curve/ (resumable: a finished run is read back, not retrained) and reads the test-set
metrics of its checkpoint. The full-data row is the shipped checkpoint in checkpoints/.
Records the table in BENCHMARKS.md (section deeplense-curve-model<M>).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench.record import record
from core.paths import CHECKPOINTS_DIR, RUNS_DIR

ARCHS = ("equivariant", "cnn")


def _entry(folder, name: str) -> dict | None:
    index = folder / "index.json"
    if not index.exists():
        return None
    for entry in json.loads(index.read_text()).get("checkpoints", []):
        if entry["name"] == name:
            return entry
    return None


def _train(model: int, arch: str, fraction: float, epochs: int, minutes: float) -> dict:
    name = f"curve-model{model}-{arch}-f{fraction:g}"
    folder = RUNS_DIR / "curve"
    entry = _entry(folder, name)
    if entry is None:
        config = f"configs/lenses-model{model}-{arch}{'-stage1' if arch == 'equivariant' else ''}.toml"  # from scratch
        cmd = [sys.executable, "-m", "core", "train", "--config", config,
               "--train-fraction", str(fraction), "--epochs", str(epochs), "--max-minutes", str(minutes),
               "--name", name, "--out", str(folder)]
        subprocess.run(cmd, check=True)
        entry = _entry(folder, name)
    return entry


def _row(model: int, arch: str, fraction: float, entry: dict) -> list:
    metrics = entry["metrics"]
    test = metrics.get("test") or {}
    per = test.get("per_class_auc") or {}
    epochs = f"{metrics.get('epochs_run')} (fine-tuning; see training_notes)" if entry.get("training_notes") else metrics.get("epochs_run")
    return [f"Model {'I' * model}", arch, f"{fraction:g}", metrics.get("n_train"), epochs,
            round(metrics.get("train_seconds", 0) / 60, 1), test.get("macro_auc"),
            *(per.get(c) for c in ("no_sub", "cdm", "vortex")), test.get("accuracy")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=int, choices=(1, 2), required=True, help="DeepLense Model I or II preset")
    parser.add_argument("--fractions", default="0.1,0.333", help="training-set fractions besides the shipped full-data run")
    parser.add_argument("--epochs", default="12,12", help="epochs per fraction (comma list)")
    parser.add_argument("--minutes", default="8,15", help="wall-clock budget per run in minutes (comma list)")
    args = parser.parse_args(argv)
    fractions = [float(f) for f in args.fractions.split(",")]
    epochs = [int(e) for e in args.epochs.split(",")]
    minutes = [float(m) for m in args.minutes.split(",")]
    rows = []
    for arch in ARCHS:
        for fraction, n_epochs, budget in zip(fractions, epochs, minutes, strict=True):
            rows.append(_row(args.model, arch, fraction, _train(args.model, arch, fraction, n_epochs, budget)))
        shipped = _entry(CHECKPOINTS_DIR, f"lenses-model{args.model}-{arch}")
        if shipped is not None:
            rows.append(_row(args.model, arch, shipped["train_config"].get("train_fraction", 1.0) if "train_config" in shipped else 1.0, shipped))
    record(f"deeplense-curve-model{args.model}", f"DeepLense Model {'I' * args.model}: test macro AUC against training-set size",
           ["preset", "model", "fraction", "n_train", "epochs", "minutes", "test macro AUC", "no_sub", "cdm", "vortex", "accuracy"],
           rows,
           notes=f"Test set: data/dl{args.model}-test (3000 images, seed 1000, never trained on). Training folder data/dl{args.model}-train "
                 "(30 000 images, seed 0; 5 % held out for validation). Each run stops at its epoch count or its time budget, "
                 "whichever comes first (minutes column); 2 CPU threads.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
