"""Checkpoints: plain-value round trip, atomic writes, sha256 check, ensembles, shipped index."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from core import checkpoints as ck
from core.errors import CheckpointError

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "cnn_ae": {"image_size": 17, "channels": [2, 2, 2, 2], "latent_dim": 4, "decoder_channels": [4, 4, 4, 4, 4]},
    "equivariant_ae": {"image_size": 33, "group": "C4", "fields": [1, 1, 1, 1], "latent_dim": 4,
                       "decoder_channels": [4, 4, 4, 4, 4]},
    "cnn_classifier": {"image_size": 17, "channels": [2, 2, 2, 2], "hidden": 4, "n_classes": 3},
}


def _model(name: str, seed: int = 0):
    from core.models.registry import build_model

    torch.manual_seed(seed)
    return build_model(name, TINY[name]).eval()


def _save(path: Path, name: str, members, **kw):
    states = [m.state_dict() for m in members]
    return ck.save_checkpoint(path, model_name=name, config=TINY[name], state_dict=states if len(states) > 1 else states[0],
                              metrics={"mse": 0.01}, data_manifest={"generator": "disks", "seed": 1, "size": 17, "n": 8},
                              command="python -m core train --config configs/x.toml", history={"train_loss": [1.0, 0.5]}, **kw)


@pytest.mark.parametrize("name", ["cnn_ae", "equivariant_ae"])
def test_round_trip_weights_only_and_same_outputs(tmp_path, name):
    model = _model(name)
    path = _save(tmp_path / "tiny.pt", name, [model])
    raw = torch.load(path, weights_only=True)  # plain values only, or this raises
    assert raw["model_name"] == name and raw["config"] == TINY[name] and raw["history"]["train_loss"] == [1.0, 0.5]
    assert set(raw["versions"]) >= {"torch", "escnn", "numpy", "project"}
    entry = ck.register(path, "tiny")
    assert entry["sha256"] == ck.sha256_file(path) and entry["file"] == "tiny.pt"
    assert json.loads((tmp_path / "index.json").read_text())["checkpoints"][0]["name"] == "tiny"
    loaded = ck.load_model("tiny", folders=[tmp_path])
    x = torch.rand(2, 1, model.image_size, model.image_size)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), atol=1e-5, rtol=1e-5)
    assert loaded.kind == "autoencoder" and loaded.image_size == model.image_size
    assert not loaded.model.training


def test_missing_name_lists_what_exists(tmp_path):
    _save(tmp_path / "a.pt", "cnn_ae", [_model("cnn_ae")])
    ck.register(tmp_path / "a.pt", "alpha")
    with pytest.raises(CheckpointError, match=r"^No checkpoint named 'beta' exists; available: alpha\.$"):
        ck.load_model("beta", folders=[tmp_path])


def test_corrupted_file_is_detected_by_sha256(tmp_path):
    path = _save(tmp_path / "c.pt", "cnn_ae", [_model("cnn_ae")])
    ck.register(path, "c")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="'c' is corrupt"):
        ck.load_model("c", folders=[tmp_path])


def test_unreadable_file_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="unreadable"):
        ck.load_model(bad)


def test_killed_writer_leaves_previous_checkpoint_intact(tmp_path):
    """A writer killed (SIGKILL) half-way through torch.save must not damage the existing file."""
    path = tmp_path / "k.pt"
    first = _model("cnn_ae", seed=1)
    _save(path, "cnn_ae", [first])
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import io, os, signal, sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        from core import checkpoints as ck
        real_save = torch.save
        def dying_save(obj, fh):
            buf = io.BytesIO(); real_save(obj, buf); data = buf.getvalue()
            fh.write(data[: len(data) // 2]); fh.flush(); os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        sd = {{"w": torch.zeros(1000)}}
        ck.save_checkpoint({str(path)!r}, model_name="cnn_ae", config={{}}, state_dict=sd, metrics={{}},
                           data_manifest={{}}, command="", history={{}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert path.read_bytes() == before
    raw = ck.read_checkpoint(path)
    torch.testing.assert_close(raw["members"][0], first.state_dict())


def test_ensemble_averages_member_outputs(tmp_path):
    members = [_model("cnn_classifier", seed=s) for s in (0, 1)]
    path = _save(tmp_path / "e.pt", "cnn_classifier", members, classes=["no_sub", "cdm", "vortex"])
    loaded = ck.load_model(path)
    assert loaded.entry["members"] == 2 and loaded.classes == ["no_sub", "cdm", "vortex"]
    x = torch.rand(3, 1, 17, 17)
    with torch.no_grad():
        mean_prob = torch.stack([m(x).softmax(-1) for m in members]).mean(0)
        torch.testing.assert_close(loaded.model(x).softmax(-1), mean_prob, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(loaded.model.embed(x), members[0].embed(x), atol=1e-6, rtol=1e-5)


def _index_entries():
    index = ROOT / "checkpoints" / "index.json"
    return json.loads(index.read_text())["checkpoints"] if index.is_file() else []


def test_the_shipped_index_lists_checkpoints_whose_files_are_there():
    entries = _index_entries()
    assert entries, "checkpoints/index.json is missing or lists no checkpoints"
    assert {e["kind"] for e in entries} == {"autoencoder", "classifier"}  # the app's pages need both
    assert all((ROOT / "checkpoints" / e["file"]).is_file() for e in entries)


@pytest.mark.parametrize("entry", _index_entries(), ids=lambda e: e["name"])
def test_every_shipped_checkpoint_loads_and_runs(entry):
    loaded = ck.load_model(entry["name"], folders=[ROOT / "checkpoints"])
    s = loaded.image_size
    x = torch.rand(2, 1, s, s)
    with torch.no_grad():
        out = loaded.model(x)
    expected = (2, 1, s, s) if loaded.kind == "autoencoder" else (2, len(loaded.classes))
    assert tuple(out.shape) == expected and torch.isfinite(out).all()
    assert entry["command"].startswith("python -m core train") and entry["metrics"]
