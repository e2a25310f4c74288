"""Checkpoints: plain-value round trip, atomic writes, sha256 check, ensembles, shipped index."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from core import checkpoints as ck
from core.errors import CheckpointError
from core.models import lean_state
from core.paths import CHECKPOINTS_DIR

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


def test_equivariant_autoencoder_ensemble_averages_reconstructions(tmp_path):
    members = [_model("equivariant_ae", seed=s) for s in (0, 1, 2)]
    path = _save(tmp_path / "e.pt", "equivariant_ae", members)
    ck.register(path, "ens")
    loaded = ck.load_model("ens", folders=[tmp_path])  # lean file, members exported to plain torch
    assert isinstance(loaded.model, ck.EnsembleModel) and loaded.entry["members"] == 3 and loaded.kind == "autoencoder"
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        outs = torch.stack([m(x) for m in members])
        torch.testing.assert_close(loaded.model(x), outs.mean(0), atol=1e-5, rtol=1e-5)
        assert float((outs[0] - outs[1]).abs().max()) > 1e-3  # the average is not one member's output
        torch.testing.assert_close(loaded.model.encode(x), members[0].encode(x), atol=1e-5, rtol=1e-5)
    assert loaded.model.latent_dim == members[0].latent_dim and loaded.image_size == 33


def _index_entries():
    index = CHECKPOINTS_DIR / "index.json"
    return json.loads(index.read_text())["checkpoints"] if index.is_file() else []


def test_the_shipped_index_lists_checkpoints_whose_files_are_there():
    entries = _index_entries()
    assert entries, "checkpoints/index.json is missing or lists no checkpoints"
    assert {e["kind"] for e in entries} >= {"autoencoder", "classifier"}  # the app's pages need both
    assert all((CHECKPOINTS_DIR / e["file"]).is_file() for e in entries)


@pytest.mark.parametrize("entry", _index_entries(), ids=lambda e: e["name"])
def test_every_shipped_checkpoint_loads_and_runs(entry):
    loaded = ck.load_model(entry["name"], folders=[CHECKPOINTS_DIR])
    s = loaded.image_size
    x = torch.rand(2, 1, s, s)
    with torch.no_grad():
        out = loaded.model(x)
    expected = {"autoencoder": (2, 1, s, s), "superres": (2, 1, 2 * s, 2 * s),
                "encoder": (2, (entry["config"].get("projector") or [0])[-1])}.get(loaded.kind) or (2, len(loaded.classes))
    assert tuple(out.shape) == expected and torch.isfinite(out).all()
    assert entry["command"].startswith(("python -m core train", "python -m core pretrain")) and entry["metrics"]


# ---------------------------------------------------------------------------- lean files (format 2)


def _bases_key(state: dict) -> str:
    return next(k for k in state if k.endswith("sampled_basis"))


def _fat(path: Path, name: str, model) -> Path:
    """A format-1 file as written before lean checkpoints: every buffer, no `recomputed` record."""
    torch.save({"format": 1, "model_name": name, "config": TINY[name], "members": [ck._plain_state_dict(model.state_dict())],
                "metrics": {}, "data_manifest": {}, "versions": ck.versions(), "command": "python -m core train",
                "history": {}, "train_config": None, "classes": None, "created_utc": None}, path)
    return path


def test_lean_file_leaves_out_exactly_the_recomputed_buffers(tmp_path):
    model = _model("equivariant_ae")
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)):
        bn.running_mean.fill_(0.25)  # learned state that a fresh build does not have: it must be kept
    path = _save(tmp_path / "lean.pt", "equivariant_ae", [model])
    raw = torch.load(path, weights_only=True)
    dropped, full = set(raw["recomputed"]["keys"]), model.state_dict()
    assert raw["format"] == 2 and dropped == lean_state.recomputed_keys(model) and set(raw["members"][0]) == set(full) - dropped
    assert any(k.endswith("sampled_basis") for k in dropped) and not dropped & dict(model.named_parameters()).keys()
    assert all(k in raw["members"][0] for k in full if "running_" in k or "num_batches" in k)
    assert path.stat().st_size < _fat(tmp_path / "fat.pt", "equivariant_ae", model).stat().st_size / 5
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        assert torch.equal(ck.load_model(path, export=False).model(x), model(x))


def test_buffers_a_fresh_build_does_not_reproduce_are_kept(tmp_path):
    model = _model("equivariant_ae")
    state = model.state_dict()
    key = _bases_key(state)
    state[key] = -state[key]  # as if trained with an escnn whose bases differ
    path = ck.save_checkpoint(tmp_path / "k.pt", model_name="equivariant_ae", config=TINY["equivariant_ae"], state_dict=state,
                              metrics={}, data_manifest={}, command="", history={})
    raw = torch.load(path, weights_only=True)
    assert key in raw["members"][0] and key not in raw["recomputed"]["keys"] and raw["recomputed"]["keys"]


def test_tampered_fingerprint_is_refused_in_one_sentence(tmp_path):
    path = _save(tmp_path / "t.pt", "equivariant_ae", [_model("equivariant_ae")])
    raw = torch.load(path, weights_only=True)
    record = raw["recomputed"]
    torch.save({**raw, "recomputed": {**record, "sha256": "0" * 64}}, path)
    ck.load_model(path)  # sha256 alone differs: the sketches show the bases equal, so it loads
    sketch = {k: [v + 1.0 for v in s] for k, s in record["sketch"].items()}
    torch.save({**raw, "recomputed": {**record, "sha256": "0" * 64, "sketch": sketch, "escnn": "0.9.0"}}, path)
    with pytest.raises(CheckpointError, match=r"^Checkpoint t\.pt was saved with escnn 0\.9\.0 whose kernel bases differ "
                                              r"from the ones this escnn \S+ builds; install escnn==0\.9\.0 or re-train it\.$"):
        ck.load_model(path)


def test_changed_escnn_bases_are_refused(tmp_path, monkeypatch):
    model = _model("equivariant_ae")
    path = _save(tmp_path / "b.pt", "equivariant_ae", [model])
    # escnn shares basis modules between every model of a process: swap (and restore) one basis tensor there
    key = _bases_key(model.state_dict())
    owner = dict(model.named_modules(remove_duplicate=False))[key.rsplit(".", 1)[0]]
    basis = owner._buffers["sampled_basis"].clone()
    basis[0] = -basis[0]
    monkeypatch.setitem(owner._buffers, "sampled_basis", basis)
    with pytest.raises(CheckpointError, match=r"^Checkpoint b\.pt was saved with escnn (\S+) whose kernel bases differ "
                                              r"from the ones this escnn \1 builds; re-train it on this machine\.$"):
        ck.load_model(path)


def test_lean_file_with_unknown_dropped_key_is_refused(tmp_path):
    path = _save(tmp_path / "u.pt", "equivariant_ae", [_model("equivariant_ae")])
    raw = torch.load(path, weights_only=True)
    key = next(k for k in raw["members"][0] if k.endswith("running_mean"))
    members = [{k: v for k, v in raw["members"][0].items() if k != key}]
    torch.save({**raw, "members": members, "recomputed": {**raw["recomputed"], "keys": [*raw["recomputed"]["keys"], key]}}, path)
    with pytest.raises(CheckpointError, match="leaves out buffers that escnn does not recompute"):
        ck.load_model(path)
    torch.save({**raw, "members": members}, path)  # a learned buffer missing without being listed
    with pytest.raises(CheckpointError, match="do not fit model"):
        ck.load_model(path)


def test_fat_file_still_loads_and_compacts(tmp_path):
    model = _model("equivariant_ae")
    path = _fat(tmp_path / "fat.pt", "equivariant_ae", model)
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        assert torch.equal(ck.load_model(path, export=False).model(x), model(x))
        before, after = ck.compact_checkpoint(path)
        assert after < before / 5 and torch.load(path, weights_only=True)["recomputed"]
        assert torch.equal(ck.load_model(path, export=False).model(x), model(x))
    assert ck.compact_checkpoint(path) == (after, after)  # already lean: untouched


def test_fat_file_with_other_bases_loads_them_privately(tmp_path):
    """A format-1 file holding bases this escnn does not build loads with its own bases, into a
    copy: escnn's basis modules, shared by every model of the process, keep theirs."""
    model = _model("equivariant_ae")
    state = model.state_dict()
    key = _bases_key(state)
    state[key] = -state[key]
    reference = copy.deepcopy(model)  # private basis modules
    reference.load_state_dict(state)
    path = _fat(tmp_path / "fat.pt", "equivariant_ae", reference)
    loaded = ck.load_model(path, export=False).model
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        assert torch.equal(loaded(x), reference.eval()(x))
    assert torch.equal(loaded.state_dict()[key], state[key])
    assert torch.equal(_model("equivariant_ae").state_dict()[key], -state[key])


def test_compact_cli_rewrites_and_reregisters(tmp_path, capsys):
    from core.compact_checkpoints import main

    model = _model("equivariant_ae")
    path = _fat(tmp_path / "fat.pt", "equivariant_ae", model)
    old = ck.register(path, "fat")
    (tmp_path / "notes.pt").write_bytes(b"not a checkpoint")
    assert main([str(tmp_path)]) == 0
    assert "notes.pt: skipped" in capsys.readouterr().out
    entry = ck.list_checkpoints([tmp_path])[0]
    assert entry["sha256"] == ck.sha256_file(path) != old["sha256"] and entry["size_bytes"] == path.stat().st_size
    assert {k: v for k, v in entry.items() if k not in ("sha256", "size_bytes", "path")} == \
        {k: v for k, v in old.items() if k not in ("sha256", "size_bytes")}


def test_fingerprint_is_the_same_in_a_fresh_process_with_a_cold_cache(tmp_path):
    """escnn caches bases with joblib (see test_escnn_setup); a cold one must give the same bytes."""
    code = textwrap.dedent(f"""
        import joblib
        _Memory = joblib.Memory
        joblib.Memory = lambda location=None, *a, **k: _Memory({str(tmp_path)!r}, *a, **k)
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from core.models import lean_state
        from core.models.registry import build_model
        m = build_model("equivariant_ae", {TINY["equivariant_ae"]!r})
        print(lean_state.fingerprint(m.state_dict(), lean_state.recomputed_keys(m)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(tmp_path.rglob("*")), "escnn did not use the cold cache folder"
    model = _model("equivariant_ae")
    assert proc.stdout.strip().splitlines()[-1] == lean_state.fingerprint(model.state_dict(), lean_state.recomputed_keys(model))
