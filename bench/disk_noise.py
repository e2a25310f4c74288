"""Disk autoencoders against the noiseless truth: what the thermal noise costs MS-SSIM.

Run: .venv/bin/python -m bench.disk_noise [--n 200] [--seed 2024]

The simulated disks carry thermal noise at a peak SNR of 10-1000 (disk generator 2.0). An autoencoder with a
16-number latent reconstructs the disk, not the noise, so MS-SSIM against the noisy input is
capped: the cap is the MS-SSIM between the noisy image and its own noiseless model (the
simulator re-renders it from the manifest parameters, `noise=False`). Rows:

- ceiling: MS-SSIM(noiseless model, noisy input): a perfect denoiser's score against the input;
- per autoencoder: MS-SSIM(recon(noisy), noisy) (the usual metric), MS-SSIM(recon(noisy),
  noiseless model) (how well it recovers the disk) and MS-SSIM(recon(noiseless), noiseless)
  (noise-free inputs, the setting of the EXXA reference's MCFOST images).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bench.checkpoints import test_set
from bench.record import record
from core.checkpoints import SHIPPED, list_checkpoints, load_model
from core.data.dataset_writer import image_rng, sample_params
from core.data.disks import simulate_disk
from core.data.preprocess import prepare
from core.models.losses import ms_ssim_value


def noisy_and_clean(n: int, seed: int, size: int = 129) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n images of the disk test set of `seed` and their noiseless twins, (n, 1, S, S) each."""
    test_set("disks", n, seed)  # the same images bench.checkpoints evaluates
    noisy, clean = [], []
    for i in range(n):
        rng = image_rng(seed, i)
        params = sample_params("disks", i, size, rng)
        noisy.append(prepare(simulate_disk(params, size, rng), size))
        clean.append(prepare(simulate_disk(params, size, noise=False), size))
    return torch.from_numpy(np.stack(noisy))[:, None], torch.from_numpy(np.stack(clean))[:, None]


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, batch: int = 32) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def mean_ms_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.cat([ms_ssim_value(a[i : i + 64], b[i : i + 64]).reshape(-1) for i in range(0, len(a), 64)]).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="test images (from the start of the bench test set)")
    parser.add_argument("--seed", type=int, default=2024, help="simulation seed of the test set (unseen in training)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    noisy, clean = noisy_and_clean(args.n, args.seed)
    rows = [["noiseless model itself (ceiling)", f"{mean_ms_ssim(clean, noisy):.4f}", "1", "1"]]
    names = [e["name"] for e in list_checkpoints() if e["name"] in SHIPPED and e["kind"] == "autoencoder"]
    for name in names:
        model = load_model(name).model
        rec_noisy, rec_clean = reconstruct(model, noisy), reconstruct(model, clean)
        rows.append([name, f"{mean_ms_ssim(rec_noisy, noisy):.4f}", f"{mean_ms_ssim(rec_noisy, clean):.4f}",
                     f"{mean_ms_ssim(rec_clean, clean):.4f}"])
    record("disk_noise", "Disk autoencoders: MS-SSIM against the noisy input and the noiseless truth",
           ["model", "vs noisy input", "recon(noisy) vs noiseless", "recon(noiseless) vs noiseless"], rows,
           notes=f"Disk test set seed {args.seed}, first {args.n} images, 129 px, MS-SSIM with a 7-px window "
                 "(core.models.losses). The first row is the cap that thermal noise puts on any model "
                 "judged against its noisy input.")


if __name__ == "__main__":
    main()
