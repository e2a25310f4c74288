"""Shipped checkpoints: same outputs as the files they were converted from, and the symmetry each promises.

`tests/data/checkpoint_outputs.npz` holds, for every shipped checkpoint, its outputs on
`probe_images(129)` computed from the original (fat, format 1) files before they were
rewritten in the lean form: `<name>/latent` and `<name>/recon` (every 2nd pixel) for
autoencoders, `<name>/logits` for classifiers. Regenerate only on purpose:
`python tests/test_shipped_outputs.py` (it overwrites the fixture from checkpoints/ as they are).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core import checkpoints as ck  # noqa: E402

torch.set_num_threads(1)
FIXTURE = ROOT / "tests" / "data" / "checkpoint_outputs.npz"
ENTRIES = json.loads((ROOT / "checkpoints" / "index.json").read_text())["checkpoints"]


def probe_images(size: int) -> torch.Tensor:
    """Two deterministic, asymmetric images (2, 1, size, size) in [0, 1] from a formula (no RNG):
    an off-centre tilted elliptical blob with a faint ring, and a lopsided arc around a core."""
    v, u = torch.meshgrid(torch.linspace(-1, 1, size, dtype=torch.float64),
                          torch.linspace(-1, 1, size, dtype=torch.float64), indexing="ij")
    a, b = 0.8 * u + 0.6 * v - 0.15, -0.6 * u + 0.8 * v + 0.1
    r = torch.sqrt(u**2 + v**2)
    blob = torch.exp(-(a**2 / 0.08 + b**2 / 0.01)) + 0.3 * torch.exp(-((r - 0.6) ** 2) / 0.002)
    theta = torch.atan2(v, u)
    arc = 0.6 * torch.exp(-((r - 0.45) ** 2) / 0.004) * (1 + torch.cos(theta - 0.7)) / 2 + torch.exp(-(r**2) / 0.01)
    x = torch.stack([blob, arc])[:, None]
    return (x / x.amax(dim=(2, 3), keepdim=True)).float()


def outputs(loaded) -> dict[str, np.ndarray]:
    """The outputs the fixture keeps for one loaded checkpoint on `probe_images`."""
    x = probe_images(loaded.image_size)
    with torch.no_grad():
        if loaded.kind == "classifier":
            return {"logits": loaded.model(x).numpy()}
        return {"latent": loaded.model.encode(x).numpy(), "recon": loaded.model(x)[:, :, ::2, ::2].numpy()}


def _load(entry):
    return ck.load_model(entry["name"], folders=[ROOT / "checkpoints"])


if __name__ == "__main__":
    arrays = {f"{e['name']}/{k}": v for e in ENTRIES for k, v in outputs(_load(e)).items()}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes): {', '.join(arrays)}")
