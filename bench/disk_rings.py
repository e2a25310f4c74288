"""Disk autoencoders on many-ring disks: are the rings and gaps kept, or smoothed into one disk?

    python -m bench.disk_rings [--data data/disks-test-v2] [--checkpoint NAME ...] [--limit N] [--no-record]

On the DSHARP-like test set (disk generator 3.0, preset dsharp-figures, never trained on), per model:

- MS-SSIM of the reconstruction against its input, over every image and over the disks with four or more rings;
- the detail error on those (core.models.losses.detail_loss: the relative error of the image minus its 2-px
  blur; 1 when the fine structure is smoothed away, 0 when it is kept);
- on the near face-on ones (inclination < 40 degrees, so rings are nearly circles about the centre): the ring means
  of input and reconstruction (core.models.equivariant.ring_weights), each minus its 2-px smoothed self; their
  correlation (1: the rings and gaps come back at the right radii; 0: none come back) and the ratio of their
  spreads (1: at the input's contrast).

Rows: the shipped autoencoders trained on the DSHARP-like data, then each `--checkpoint` (e.g. an experiment in runs/).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.record import record
from core.checkpoints import list_checkpoints, load_model
from core.data.datasets import load_tensors
from core.models.equivariant import ring_weights
from core.models.losses import detail_loss, ms_ssim_value
from core.paths import CHECKPOINTS_DIR, DATA_DIR, repo_relative

MANY_RINGS = 4
FACE_ON_DEG = 40.0
SMOOTH_PX = 2.0


def ring_detail(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) -> (N, R') ring means about the centre minus their 2-px smoothed selves (centre and rim cut)."""
    profile = images.flatten(1) @ ring_weights(images.shape[-1]).T  # (N, R)
    half = int(3 * SMOOTH_PX)
    kernel = torch.exp(-0.5 * (torch.arange(-half, half + 1) / SMOOTH_PX) ** 2)
    smooth = F.conv1d(F.pad(profile[:, None], (half, half), mode="replicate"), (kernel / kernel.sum())[None, None])[:, 0]
    return (profile - smooth)[:, 2:-half]


def ring_agreement(x: torch.Tensor, recon: torch.Tensor) -> tuple[float, float]:
    """(mean correlation, mean spread ratio) of the ring details of reconstructions against their inputs."""
    a, b = ring_detail(x).numpy(), ring_detail(recon).numpy()
    corr = [np.corrcoef(u, v)[0, 1] for u, v in zip(a, b, strict=True)]
    return float(np.mean(corr)), float(np.mean(b.std(1) / a.std(1)))


def reconstruct(model, X: torch.Tensor, batch: int = 50) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(X[i : i + batch]) for i in tqdm(range(0, len(X), batch), desc="reconstructing", leave=False)])


def default_names() -> list[str]:
    """Shipped autoencoders trained on the DSHARP-like disks (disk generator 3.0)."""
    return [e["name"] for e in list_checkpoints([CHECKPOINTS_DIR])
            if e.get("kind") == "autoencoder" and str((e.get("data") or {}).get("version", "")).startswith("3.")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA_DIR / "disks-test-v2"), help="a simulated disk folder with a manifest")
    parser.add_argument("--checkpoint", action="append", default=[], help="also this checkpoint (name or .pt), repeatable")
    parser.add_argument("--limit", type=int, default=None, help="the first N images only")
    parser.add_argument("--no-record", action="store_true", help="print the table without writing BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    X, _, index = load_tensors(args.data, 129, limit=args.limit)
    params = [m["params"] for m in json.loads((index.root / "manifest.json").read_text())["images"][: len(X)]]
    rings = np.array([len(p.get("ring_radii_au", [])) for p in params])
    face_on = np.array([p["inclination_deg"] < FACE_ON_DEG for p in params])
    many, round_many = np.where(rings >= MANY_RINGS)[0], np.where((rings >= MANY_RINGS) & face_on)[0]
    rows = []
    for name in default_names() + args.checkpoint:
        loaded = load_model(name)
        if loaded.image_size != X.shape[-1]:
            X = load_tensors(args.data, loaded.image_size, limit=args.limit)[0]
        R = reconstruct(loaded.model.eval(), X)
        ms = np.array([float(ms_ssim_value(R[i : i + 1], X[i : i + 1])) for i in range(len(X))])
        detail = np.mean([float(detail_loss(R[i : i + 1], X[i : i + 1])) for i in many])
        corr, spread = ring_agreement(X[round_many], R[round_many])
        rows.append([repo_relative(name) if name.endswith(".pt") else name, ms.mean(), ms[many].mean(), detail, corr, spread])
        print(rows[-1], flush=True)
    header = ["checkpoint", "MS-SSIM, all", f"MS-SSIM, >= {MANY_RINGS} rings", f"detail error, >= {MANY_RINGS} rings",
              "ring-profile correlation, face-on", "ring contrast kept, face-on"]
    if args.no_record:
        from bench.record import markdown_table

        print(markdown_table(header, rows))
        return
    record("disk_rings", "Disk autoencoders on many-ring disks: rings kept or smoothed", header, rows,
           notes=f"{len(X)} disks of {repo_relative(args.data)}; {len(many)} with >= {MANY_RINGS} rings, {len(round_many)} of them "
                 f"at inclination < {FACE_ON_DEG:g} deg. Ring profile: ring means about the centre minus their {SMOOTH_PX:g}-px "
                 "smoothing; correlation and spread ratio of reconstruction against input (1 = rings kept).")


if __name__ == "__main__":
    main()
