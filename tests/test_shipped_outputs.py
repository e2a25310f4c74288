"""Shipped checkpoints: same outputs as the files they were converted from, with the local
escnn bases and on another machine's, and the symmetry each promises.

`tests/data/checkpoint_outputs.npz` holds, for every shipped checkpoint, its outputs on
`probe_images(129)` computed from the original (fat, format 1) files before they were
rewritten in the lean and then the portable form: `<name>/latent` and `<name>/recon` (every 2nd pixel) for
autoencoders, `<name>/logits` for classifiers, `<name>/embedding` and `<name>/projection` for
self-supervised encoders, `<name>/upscaled` (every 2nd pixel) for super-resolution
models (on `probe_images` of their training LR side). Regenerate only on purpose:
`python tests/test_shipped_outputs.py` (it overwrites the fixture from checkpoints/ as they are).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import checkpoints as ck
from core.models import registry
from core.models.registry import is_equivariant
from core.paths import CHECKPOINTS_DIR, REPO_ROOT

torch.set_num_threads(1)
FIXTURE = REPO_ROOT / "tests" / "data" / "checkpoint_outputs.npz"
ENTRIES = json.loads((CHECKPOINTS_DIR / "index.json").read_text())["checkpoints"]


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
        if loaded.kind == "superres":
            return {"upscaled": loaded.model(x)[:, :, ::2, ::2].numpy()}
        if loaded.kind == "encoder":
            return {"embedding": loaded.model.embed(x).numpy(), "projection": loaded.model(x).numpy()}
        return {"latent": loaded.model.encode(x).numpy(), "recon": loaded.model(x)[:, :, ::2, ::2].numpy()}


def _load(entry):
    return ck.load_model(entry["name"], folders=[CHECKPOINTS_DIR])


def _ids(entry) -> str:
    return entry["name"]


def _assert_outputs_of_the_original_file(entry, loaded, tolerance: float) -> None:
    reference = np.load(FIXTURE)
    for key, value in outputs(loaded).items():
        ref = reference[f"{entry['name']}/{key}"]
        assert np.abs(value - ref).max() <= tolerance * np.abs(ref).max(), key


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids)
def test_shipped_checkpoint_gives_the_outputs_of_the_original_file(entry):
    _assert_outputs_of_the_original_file(entry, _load(entry), 1e-5)


def _other_machines_bases(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A private copy of `model` whose escnn bases are another basis of the same spans, as another
    CPU's BLAS builds them: each block's sampled basis and each bias expansion turned by a random
    orthogonal matrix (escnn shares basis modules between models: the copy keeps them private)."""
    from core.escnn_setup import enn

    model, g = copy.deepcopy(model), torch.Generator().manual_seed(seed)

    def turn(n: int) -> torch.Tensor:
        return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]

    for m in model.modules():
        if hasattr(m, "sampled_basis"):
            b = m.sampled_basis
            m.sampled_basis = (turn(b.shape[0]) @ b.double().reshape(b.shape[0], -1)).reshape(b.shape).to(b.dtype)
        if isinstance(m, enn.R2Conv) and m.bias is not None:
            e = m.bias_expansion
            m.bias_expansion = (e.double() @ turn(e.shape[1])).to(e.dtype)
    return model


@pytest.mark.parametrize("entry", [e for e in ENTRIES if is_equivariant(e["model"])], ids=_ids)
def test_shipped_checkpoint_gives_the_same_outputs_with_another_machines_bases(entry, monkeypatch):
    build, seeds = registry.build_model, iter(range(1000))
    monkeypatch.setattr(registry, "build_model", lambda *a, **k: _other_machines_bases(build(*a, **k), next(seeds)))
    loaded = _load(entry)
    assert next(seeds) == entry["members"], "every member was built with other bases"
    _assert_outputs_of_the_original_file(entry, loaded, 1e-5)


_KERNEL_PROBE = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[2])
from test_shipped_outputs import ENTRIES, _load, outputs
np.savez(sys.argv[1], **{f"{e['name']}/{k}": v for e in ENTRIES if e["name"] in sys.argv[3:] for k, v in _load(e).items()})
""".replace("_load(e).items()", "outputs(_load(e)).items()")


@pytest.mark.slow
@pytest.mark.parametrize("coretype", ["auto", "Haswell", "SkylakeX"])
def test_d8_checkpoints_load_alike_under_other_blas_kernels_on_a_cold_cache(coretype, tmp_path):
    """The real thing: a fresh process, a private escnn copy with an empty basis cache (as after a
    fresh install) and another OpenBLAS kernel choice (auto = unset, as on users' machines)."""
    import os
    import shutil
    import subprocess
    import sys

    from core.escnn_setup import escnn

    names = ["lenses-model2-equivariant", "lenses-finder-equivariant", "lenses-sr-equivariant"]
    shutil.copytree(Path(escnn.__file__).parent, tmp_path / "pkg" / "escnn", ignore=shutil.ignore_patterns("_cache"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "pkg"), str(REPO_ROOT)])}
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype != "auto":
        env["OPENBLAS_CORETYPE"] = coretype
    tests = str(REPO_ROOT / "tests")
    proc = subprocess.run([sys.executable, "-c", _KERNEL_PROBE, str(tmp_path / "out.npz"), tests, *names], env=env,
                          capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reference = np.load(FIXTURE)
    with np.load(tmp_path / "out.npz") as got:
        assert sorted({k.split("/")[0] for k in got.files}) == sorted(names)
        for key in got.files:
            assert np.abs(got[key] - reference[key]).max() <= 1e-5 * np.abs(reference[key]).max(), key


def test_every_shipped_file_is_small_and_equivariant_ones_are_portable():
    members = {e["file"]: e["members"] for e in ENTRIES}
    for path in (CHECKPOINTS_DIR).iterdir():  # under 2 MB per model (an ensemble holds K)
        assert path.stat().st_size < 2_000_000 * members.get(path.name, 1), path.name
    for entry in ENTRIES:
        raw = torch.load(CHECKPOINTS_DIR / entry["file"], weights_only=True)
        assert raw["format"] == ck.FORMAT and "recomputed" not in raw, entry["name"]
        assert bool(raw["portable"]) == is_equivariant(entry["model"]), entry["name"]
        assert not any(k.endswith(("sampled_basis", "bias_expansion")) for k in raw["members"][0]), entry["name"]


def _transforms(group: str | None):
    """The 90-degree rotations, and for D_N / plain CNNs also the flips: (label, image -> image)."""
    flips = (False, True) if group is None or group.upper().startswith("D") else (False,)
    return [(f"flip={f},k={k}", lambda x, f=f, k=k: torch.rot90(torch.flip(x, dims=(-1,)) if f else x, k, dims=(-2, -1)))
            for f in flips for k in range(4) if f or k]


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids)
def test_equivariant_outputs_are_invariant_and_cnn_outputs_are_not(entry):
    """Latent (autoencoders), logits (classifiers) or embedding (encoders) under 90-degree rotations and, where the
    group has them, flips: exact up to rounding on the odd 129-px grid for escnn models."""
    loaded = _load(entry)
    f = {"classifier": loaded.model, "superres": loaded.model, "encoder": getattr(loaded.model, "embed", None)}.get(
        entry["kind"], getattr(loaded.model, "encode", None))
    x = probe_images(loaded.image_size)
    group = entry["config"].get("group") if is_equivariant(entry["model"]) else None
    assert group is None or int(group[1:]) % 4 == 0, "90-degree rotations must be group elements"
    with torch.no_grad():
        y = f(x)
        for label, g in _transforms(group):
            expected = g(y) if entry["kind"] == "superres" else y  # an upscaled image turns with its input
            rel = float((f(g(x)) - expected).abs().max() / y.abs().max())
            if group:
                assert rel <= 1e-5, (label, rel)
            else:
                assert rel > 1e-3, (label, rel)


if __name__ == "__main__":
    import sys

    only = sys.argv[1:]  # names to add or refresh; the other entries keep the fixture's arrays
    kept = {k: v for k, v in np.load(FIXTURE).items()} if only and FIXTURE.is_file() else {}
    arrays = {**kept, **{f"{e['name']}/{k}": v for e in ENTRIES if not only or e["name"] in only for k, v in outputs(_load(e)).items()}}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes): {', '.join(arrays)}")
