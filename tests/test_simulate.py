"""simulate_dataset / `python -m core simulate`: layout, manifest, determinism, resume."""

import json

import numpy as np
import pytest

from core.cli import main
from core.data import dataset_writer
from core.data.dataset_writer import PARTIAL_MANIFEST, simulate_dataset
from core.data.simulator_versions import version_of


def files_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def test_disk_dataset_layout_manifest_and_balance(tmp_path):
    manifest_path = simulate_dataset("disks", 8, 32, seed=4, out=tmp_path, progress=False)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["generator"] == "disks" and manifest["seed"] == 4 and manifest["size"] == 32
    assert manifest["version"] and manifest["command"].startswith("simulate_dataset(")
    assert manifest["classes"] == ["planets_0", "planets_1", "planets_2", "planets_3"]
    labels = [e["label"] for e in manifest["images"]]
    assert sorted(labels) == sorted(manifest["classes"] * 2)
    for entry in manifest["images"]:
        image = np.load(tmp_path / entry["file"], allow_pickle=False)
        assert image.dtype == np.float32 and image.shape == (32, 32)
        assert entry["file"].startswith(entry["label"] + "/")
        p = entry["params"]
        assert p["n_planets"] == int(entry["label"][-1]) == len(p["planet_radii_au"])
        assert {"inclination_deg", "position_angle_deg"} <= set(p)
    assert not list(tmp_path.rglob(".*"))  # no temporary files left


@pytest.mark.parametrize("start", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_lens_dataset_one_and_two_workers_are_byte_identical(tmp_path, monkeypatch, start):
    monkeypatch.setattr(dataset_writer, "POOL_START_METHOD", start)
    a, b = tmp_path / "a", tmp_path / "b"
    simulate_dataset("lenses", 6, 32, seed=9, out=a, workers=1, progress=False)
    simulate_dataset("lenses", 6, 32, seed=9, out=b, workers=2, progress=False)
    assert files_bytes(a) == files_bytes(b) and len(files_bytes(a)) == 6
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["images"] == mb["images"]
    assert {e["label"] for e in ma["images"]} == {"no_sub", "cdm", "vortex"}
    assert all("theta_E_arcsec" in e["params"] and "n_subhalos" in e["params"] for e in ma["images"])
    # a different seed gives different images
    c = tmp_path / "c"
    simulate_dataset("lenses", 6, 32, seed=10, out=c, progress=False)
    assert files_bytes(c) != files_bytes(a)


def test_interrupted_run_leaves_whole_files_and_resumes(tmp_path):
    reference = tmp_path / "reference"
    simulate_dataset("disks", 6, 24, seed=1, out=reference, progress=False)
    out = tmp_path / "run"

    def stop_after_three(done, total, message):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_dataset("disks", 6, 24, seed=1, out=out, progress=stop_after_three)
    assert not (out / "manifest.json").exists()
    partial = json.loads((out / PARTIAL_MANIFEST).read_text())
    assert len(partial["images"]) == 3 and len(files_bytes(out)) == 3
    assert not list(out.rglob(".*.tmp"))
    first = out / partial["images"][0]["file"]
    mtime = first.stat().st_mtime_ns
    simulate_dataset("disks", 6, 24, seed=1, out=out, progress=False)
    assert first.stat().st_mtime_ns == mtime  # resumed, not re-rendered
    assert files_bytes(out) == files_bytes(reference)
    assert not (out / PARTIAL_MANIFEST).exists()
    # a file whose parameters do not match the manifest is rendered again
    entries = json.loads((out / "manifest.json").read_text())["images"]
    (out / entries[1]["file"]).write_bytes(b"junk")
    entries[1]["params"]["inclination_deg"] += 1.0
    (out / "manifest.json").write_text(json.dumps({**json.loads((out / "manifest.json").read_text()), "images": entries}))
    simulate_dataset("disks", 6, 24, seed=1, out=out, progress=False)
    assert files_bytes(out) == files_bytes(reference)


def test_other_dataset_in_folder_and_bad_arguments_are_refused(tmp_path):
    simulate_dataset("disks", 2, 16, seed=1, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds a different data set"):
        simulate_dataset("disks", 2, 16, seed=2, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="Unknown simulator 'stars'; choose disks or lenses."):
        simulate_dataset("stars", 2, 16, out=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="The image size must be between 16 and 1024 pixels; got 8."):
        simulate_dataset("disks", 2, 8, out=tmp_path / "x", progress=False)


def test_cli_writes_dataset_and_reports_errors(tmp_path, capsys):
    assert main(["simulate", "lenses", "--n", "3", "--size", "24", "--seed", "2", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["command"].startswith("python -m core simulate lenses")
    assert len(manifest["images"]) == 3
    assert main(["simulate", "lenses", "--n", "0", "--out", str(tmp_path / "e"), "--no-progress"]) == 2
    assert "The number of images must be at least 1; got 0." in capsys.readouterr().err


def test_noise_none_writes_the_noise_free_images_of_the_same_disks(tmp_path):
    noisy = json.loads(simulate_dataset("disks", 4, 32, seed=2, out=tmp_path / "noisy", progress=False).read_text())
    assert main(["simulate", "disks", "--n", "4", "--size", "32", "--seed", "2", "--out", str(tmp_path / "clean"),
                 "--noise", "none", "--no-progress"]) == 0
    clean = json.loads((tmp_path / "clean" / "manifest.json").read_text())
    assert clean["noise"] == "none" and "--noise none" in clean["command"] and "noise" not in noisy
    assert clean["version"] == version_of("disks") != version_of("lenses")
    for a, b in zip(noisy["images"], clean["images"], strict=True):
        assert a["params"] == b["params"]
        x, y = np.load(tmp_path / "noisy" / a["file"]), np.load(tmp_path / "clean" / b["file"])
        assert y.max() == pytest.approx(1.0) and 0 < np.abs(x - y).std() <= 0.11  # only the noise differs
    with pytest.raises(ValueError, match="different data set"):  # a noisy run into the noise-free folder
        simulate_dataset("disks", 4, 32, seed=2, out=tmp_path / "clean", progress=False)
    with pytest.raises(ValueError, match="not available for lenses"):
        simulate_dataset("lenses", 3, 32, seed=2, out=tmp_path / "lens", progress=False, noise="none")
