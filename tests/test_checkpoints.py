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
from core.models.ensemble import EnsembleModel
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


def test_unregister_drops_only_that_entry_and_keeps_the_file(tmp_path):
    for name in ("a", "b"):
        ck.register(_save(tmp_path / f"{name}.pt", "cnn_ae", [_model("cnn_ae")]), name)
    assert ck.unregister("a", tmp_path) and not ck.unregister("a", tmp_path)
    assert [e["name"] for e in ck.list_checkpoints([tmp_path])] == ["b"] and (tmp_path / "a.pt").is_file()


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
    assert isinstance(loaded.model, EnsembleModel) and loaded.entry["members"] == 3 and loaded.kind == "autoencoder"
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
def test_every_shipped_entry_records_the_grid_it_was_trained_at(entry):
    """Pixel scale and field of the training images (issue 26), derived from the data preset as training records it."""
    from core.data.grids import grid_record

    grid = entry.get("grid")
    assert isinstance(grid, dict) and grid.get("source"), f"{entry['name']} has no grid record"
    derived = grid_record(entry["data"], entry["kind"])  # what register writes (disks: sampled from today's simulator)
    assert set(grid) == set(derived)
    assert [grid[k] for k in ("arcsec_per_pixel", "field_of_view_arcsec", "image_size")] == [
        derived[k] for k in ("arcsec_per_pixel", "field_of_view_arcsec", "image_size")]
    assert grid["image_size"] > 0
    if entry["kind"] in ("classifier", "encoder"):  # lens models: arcsec per pixel over the training image's side
        assert grid["arcsec_per_pixel"] > 0
        assert grid["field_of_view_arcsec"] == pytest.approx(grid["arcsec_per_pixel"] * grid["image_size"], rel=1e-3)
    if entry["data"]["generator"] == "disks":  # framed by the disk: pixel and beam as the simulations span them
        assert grid["arcsec_per_pixel"] is None and grid["au_per_pixel"]["median"] > 0 and grid["beam_fwhm_px"]["p5"] > 2


def test_a_new_checkpoint_records_its_grid_in_the_file_and_the_index(tmp_path):
    model = _model("cnn_classifier")
    path = ck.save_checkpoint(tmp_path / "finder.pt", model_name="cnn_classifier", config=TINY["cnn_classifier"],
                              state_dict=model.state_dict(), metrics={}, command="test", history={},
                              data_manifest={"generator": "lensfinding", "preset": "easy", "size": 64, "n": 8})
    grid = {"arcsec_per_pixel": 0.1, "field_of_view_arcsec": 6.4, "image_size": 64}
    assert torch.load(path, weights_only=True)["grid"].items() >= grid.items()
    assert ck.register(path, "finder")["grid"].items() >= grid.items()
    old = tmp_path / "old.pt"  # a file written before grids were recorded: the index derives it from the data
    payload = torch.load(path, weights_only=True)
    del payload["grid"]
    torch.save(payload, old)
    assert ck.register(old, "old")["grid"].items() >= grid.items()
    assert ck.load_model(old).entry["grid"].items() >= grid.items()  # not indexed: from the file's data summary


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
    assert entry["command"] == f"python -m core reproduce {entry['name']}" and entry["metrics"]


# ---------------------------------------------------------------------------- portable files (format 3)


def _bases_key(state: dict) -> str:
    return next(k for k in state if k.endswith("sampled_basis"))


def _outputs_close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    return float((a - b).abs().max()) <= rel * float(b.abs().max())


def _fat(path: Path, name: str, model, fmt: int = 1, **extra) -> Path:
    """A file as written before portable checkpoints: format 1 holds every buffer (no record)."""
    torch.save({"format": fmt, "model_name": name, "config": TINY[name], "members": [ck._plain_state_dict(model.state_dict())],
                "metrics": {}, "data_manifest": {}, "versions": ck.versions(), "command": "python -m core train",
                "history": {}, "train_config": None, "classes": None, "created_utc": None, **extra}, path)
    return path


def test_portable_file_leaves_out_every_recomputed_buffer(tmp_path):
    model = _model("equivariant_ae")
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)):
        bn.running_mean.fill_(0.25)  # learned state that a fresh build does not have: it must be kept
    path = _save(tmp_path / "p.pt", "equivariant_ae", [model])
    raw = torch.load(path, weights_only=True)
    full = model.state_dict()
    assert raw["format"] == 3 and raw["portable"]["sketch"] and "recomputed" not in raw
    assert set(raw["members"][0]) == set(full) - lean_state.recomputed_keys(model)
    assert all(k in raw["members"][0] for k in full if "running_" in k or "num_batches" in k)
    assert path.stat().st_size < _fat(tmp_path / "fat.pt", "equivariant_ae", model).stat().st_size / 5
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        assert _outputs_close(ck.load_model(path, export=False).model(x), model(x))


def test_cnn_file_has_no_portable_record_and_loads_bit_for_bit(tmp_path):
    model = _model("cnn_ae")
    raw = torch.load(_save(tmp_path / "c.pt", "cnn_ae", [model]), weights_only=True)
    assert raw["portable"] is None and set(raw["members"][0]) == set(model.state_dict())
    x = torch.rand(2, 1, 17, 17)
    with torch.no_grad():
        assert torch.equal(ck.load_model(tmp_path / "c.pt", export=False).model(x), model(x))


def test_portable_coefficients_are_not_the_escnn_ones(tmp_path):
    """The file holds coefficients in the canonical bases: what escnn's own basis would give differs."""
    model = _model("equivariant_ae")
    raw = torch.load(_save(tmp_path / "p.pt", "equivariant_ae", [model]), weights_only=True)
    key = next(k for k in raw["members"][0] if k.endswith(".weights"))
    assert raw["members"][0][key].shape == model.state_dict()[key].shape
    assert not torch.allclose(raw["members"][0][key], model.state_dict()[key], atol=1e-3)


def test_tampered_basis_sketch_is_refused_in_one_sentence(tmp_path):
    path = _save(tmp_path / "t.pt", "equivariant_ae", [_model("equivariant_ae")])
    raw = torch.load(path, weights_only=True)
    sketch = {k: [v + 1.0 for v in s] for k, s in raw["portable"]["sketch"].items()}
    torch.save({**raw, "portable": {"sketch": sketch, "escnn": "0.9.0"}}, path)
    with pytest.raises(CheckpointError, match=r"^Checkpoint t\.pt needs kernel bases that this escnn \S+ does not build "
                                              r"\(the filter space of \S+ differs\); install escnn==0\.9\.0\.$"):
        ck.load_model(path)


def test_another_filter_space_is_refused(tmp_path, monkeypatch):
    """Another basis of the same space loads (tests/test_shipped_outputs.py); another space does not."""
    model = _model("equivariant_ae")
    path = _save(tmp_path / "b.pt", "equivariant_ae", [model])
    # escnn shares basis modules between every model of a process: swap (and restore) one basis tensor there
    key = _bases_key(model.state_dict())
    owner = dict(model.named_modules(remove_duplicate=False))[key.rsplit(".", 1)[0]]
    basis = owner._buffers["sampled_basis"].clone()
    basis[0] = torch.rand(basis[0].shape, generator=torch.Generator().manual_seed(0))
    monkeypatch.setitem(owner._buffers, "sampled_basis", basis)
    with pytest.raises(CheckpointError, match=r"^Checkpoint b\.pt needs kernel bases that this escnn (\S+) does not build "
                                              r"\(the filter space of \S+ differs\); re-train it\.$"):
        ck.load_model(path)


def test_missing_learned_buffer_is_refused(tmp_path):
    path = _save(tmp_path / "u.pt", "equivariant_ae", [_model("equivariant_ae")])
    raw = torch.load(path, weights_only=True)
    key = next(k for k in raw["members"][0] if k.endswith("running_mean"))
    torch.save({**raw, "members": [{k: v for k, v in raw["members"][0].items() if k != key}]}, path)
    with pytest.raises(CheckpointError, match="do not fit model"):
        ck.load_model(path)


def test_lean_file_of_this_machine_loads_and_converts(tmp_path):
    """A format-2 file (coefficients in the saver's bases, rebuilt buffers checked by sha256) loads
    where its bases are rebuilt, and converts to format 3 with the same outputs."""
    model = _model("equivariant_ae")
    keys = sorted(lean_state.recomputed_keys(model))
    full = model.state_dict()
    record = {"keys": keys, "sha256": lean_state.fingerprint(full, keys), "sketch": {}, "escnn": lean_state.escnn_version()}
    path = _fat(tmp_path / "lean.pt", "equivariant_ae", model, fmt=2, recomputed=record)
    torch.save({**torch.load(path, weights_only=True), "members": [{k: v for k, v in full.items() if k not in keys}]}, path)
    x = torch.rand(2, 1, 33, 33)
    with torch.no_grad():
        assert torch.equal(ck.load_model(path, export=False).model(x), model(x))
        before, after = ck.convert_checkpoint(path)
        assert torch.load(path, weights_only=True)["format"] == 3
        assert _outputs_close(ck.load_model(path, export=False).model(x), model(x))
    assert ck.convert_checkpoint(path) == (after, after)  # already portable: untouched


def test_fat_file_with_other_bases_loads_them_privately_and_converts(tmp_path):
    """A format-1 file holding other bases (another machine's) loads with its own bases, into a
    copy: escnn's basis modules, shared by every model of the process, keep theirs. Converted,
    it loads with the local escnn's bases and the same outputs."""
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
        expected = reference.eval()(x)
        assert torch.equal(loaded(x), expected)
        assert torch.equal(loaded.state_dict()[key], state[key])
        assert torch.equal(_model("equivariant_ae").state_dict()[key], -state[key])
        ck.convert_checkpoint(path)
        assert _outputs_close(ck.load_model(path, export=False).model(x), expected)


def test_dense_sylvester_constraint_is_escnns_matrix_bit_for_bit():
    """core.escnn_setup assembles escnn's Sylvester constraint densely: the same bits as scipy's kronsum."""
    from scipy import sparse

    from core.escnn_setup import _numerical, _sylvester_constraint

    assert _numerical.build_sylvester_constraint is _sylvester_constraint
    g = torch.Generator().manual_seed(0)
    rho_1 = [torch.randn(4, 4, generator=g, dtype=torch.float64).numpy() for _ in range(3)]
    rho_2 = [torch.randn(2, 2, generator=g, dtype=torch.float64).numpy() for _ in range(3)]
    sparse_sum = sparse.vstack([sparse.kronsum(a, -b.T, format="csc") for a, b in zip(rho_1, rho_2, strict=True)])
    assert (_sylvester_constraint(rho_1, rho_2).toarray() == sparse_sum.toarray()).all()


def test_portable_file_loads_in_a_fresh_process_with_a_cold_cache(tmp_path):
    """escnn caches bases with joblib (see test_escnn_setup); a cold one must give the same outputs."""
    model = _model("equivariant_ae")
    path = _save(tmp_path / "cold.pt", "equivariant_ae", [model])
    x = torch.rand(2, 1, 33, 33, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    code = textwrap.dedent(f"""
        import joblib
        _Memory = joblib.Memory
        joblib.Memory = lambda location=None, *a, **k: _Memory({str(tmp_path / "cache")!r}, *a, **k)
        import sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        from core.checkpoints import load_model
        y = load_model({str(path)!r}).model(torch.load({str(tmp_path / "x.pt")!r}))
        torch.save(y.detach(), {str(tmp_path / "y.pt")!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any((tmp_path / "cache").rglob("*")), "escnn did not use the cold cache folder"
    with torch.no_grad():
        assert _outputs_close(torch.load(tmp_path / "y.pt"), model(x))


def test_a_run_on_the_users_images_is_described_by_its_data_not_as_unlabelled():
    from core.checkpoints import data_description

    probe = {"classes": ["no_sub", "cdm", "vortex"],
             "data": {"description": "the 60 labelled list images (no_sub 20, cdm 20, vortex 20)", "size": 65, "n": 60}}
    assert data_description(probe) == "the 60 labelled list images (no_sub 20, cdm 20, vortex 20), 65 px"
    scratch = {"classes": ["lens", "nonlens"], "data": {"size": 64, "n": 40}}
    assert data_description(scratch) == "a folder of lens, nonlens images, 64 px, 40 images"
    assert data_description({"data": {}}) == "an unlabelled folder"
    shipped = {"data": {"preset": "deeplense-model2", "size": 64, "n": 30000}}
    assert data_description(shipped) == "DeepLense Model II (official recipe), 64 px, 30,000 images"
