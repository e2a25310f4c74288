"""Quality of the shipped checkpoints on freshly simulated test sets.

Run: .venv/bin/python -m bench.checkpoints [--n 300] [--seed 2024]
Test sets are simulated with a seed no training set used (training: seed 0, the held-out
test sets in the configs: 1000), into data/bench-disks-<seed>-<n> and data/bench-lenses-<seed>-<n>.
Autoencoders: mean MS-SSIM, SSIM, MSE, PSNR; classifiers: macro / micro AUC, the weakest
class's AUC, accuracy. Only checkpoints shipped in checkpoints/ are scored (nothing from runs/),
so the table is the same on any clone.
`--kind disks` (or `lenses`) re-measures only that kind's rows and keeps the other kind's rows of
the recorded table as they are (the notes say when each part was measured).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.record import record
from core.analysis.evaluate import evaluate_loaded
from core.checkpoints import RUNS_DIR, SHIPPED, list_checkpoints, load_model
from core.paths import DATA_DIR

TARGETS = "Disk rows: MS-SSIM of the reconstruction against the noisy input; the denoising disk autoencoders are meant to differ from it (thermal noise caps this at about 0.92), their target (noise-free MS-SSIM >= 0.97, above disks-ae-cnn) is measured in the disk_family section. Target: lenses-classifier-equivariant macro AUC >= 0.99 and >= the CNN."


def test_set(kind: str, n: int, seed: int) -> Path:
    """A fresh simulated test set (disks at 129 px, lenses at 150 px), simulated once and reused."""
    from core.data.dataset_writer import simulate_dataset

    out = DATA_DIR / f"bench-{kind}-{seed}-{n}"
    if not (out / "manifest.json").is_file():
        simulate_dataset(kind, n, size=129 if kind == "disks" else 150, seed=seed, out=out, workers=2, progress=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per test set")
    parser.add_argument("--seed", type=int, default=2024, help="simulation seed of the test sets (unseen in training)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry", action="store_true", help="print the table without writing BENCHMARKS.md")
    parser.add_argument("--kind", choices=("disks", "lenses"), default=None, help="re-measure only this kind's rows")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    entries = {e["name"]: e for e in list_checkpoints()}
    names = [n for n in SHIPPED if n in entries]
    rows = []
    for name in names:
        entry = entries[name]
        kind = "disks" if entry["kind"] == "autoencoder" else "lenses"
        if args.kind and kind != args.kind:
            continue
        data = test_set(kind, args.n, args.seed)
        loaded = load_model(name)
        m = evaluate_loaded(loaded, data)
        n_train = entry["metrics"].get("n_train", "?")
        minutes = round(entry["metrics"].get("train_seconds", float("nan")) / 60, 1)
        where = "checkpoints" if not str(entry["path"]).startswith(str(RUNS_DIR)) else "runs"
        if entry["kind"] == "autoencoder":
            quality = f"MS-SSIM {m['ms_ssim']:.4f}, SSIM {m['ssim']:.4f}, MSE {m['mse']:.2e}, PSNR {m['psnr_db']:.1f} dB"
        else:
            weakest = min(m["per_class_auc"].items(), key=lambda kv: kv[1] if kv[1] is not None else 2.0)
            quality = (f"macro AUC {m['macro_auc']:.4f}, micro AUC {m['micro_auc']:.4f}, "
                       f"weakest {weakest[0]} {weakest[1]:.4f}, accuracy {m['accuracy']:.3f}")
        rows.append([name, entry["model"], where, n_train, entry["metrics"].get("epochs_run", "?"), minutes,
                     f"{kind} seed {args.seed}, n={m['n']}", quality])
    header = ["checkpoint", "model", "in", "train images", "epochs", "train min", "test set", "quality"]
    if args.dry:
        from bench.record import markdown_table

        print(markdown_table(header, rows))
        return
    notes = TARGETS + " Reproduce each checkpoint with the `command` in checkpoints/index.json."
    if args.kind:
        kept, stamp = recorded_rows("checkpoints", lambda row: args.kind not in row[6])
        rows += kept
        notes += f" Only the {args.kind} rows were measured at the date above; the other rows are kept from {stamp}."
    record("checkpoints", "Shipped checkpoints on unseen simulated test sets", header, rows, notes=notes)


def recorded_rows(section: str, keep) -> tuple[list[list[str]], str]:
    """The table rows of a recorded BENCHMARKS.md section for which `keep(row)` is true, and when they were recorded."""
    import re

    from bench.record import BENCHMARKS_MD

    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else ""
    body = re.search(rf"<!-- bench:{section} -->(.*?)<!-- /bench:{section} -->", text, re.S)
    if not body:
        return [], "nowhere"
    stamp = re.search(r"Recorded: ([^\n]*?)\s*$", body.group(1), re.M)
    lines = [ln for ln in body.group(1).splitlines() if ln.startswith("| ")][1:]  # the header row is skipped
    rows = [[cell.strip() for cell in ln.strip().strip("|").split("|")] for ln in lines]
    return [r for r in rows if keep(r)], stamp.group(1) if stamp else "an earlier run"


if __name__ == "__main__":
    main()
