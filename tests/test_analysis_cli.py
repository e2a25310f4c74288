"""`python -m core embed` and `python -m core equivariance` produce every field on a tiny set."""

import json

import pytest
import torch
from analysis_fixtures import tiny_checkpoint, tiny_dataset

from core.cli import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {
        "data": tiny_dataset(root / "data", n_per_class=4),
        "eq": tiny_checkpoint(root, "equivariant_ae", group="C4"),
        "cnn": tiny_checkpoint(root, "cnn_classifier"),
        "root": root,
    }


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_embed_json_has_every_field(files, capsys, tmp_path):
    out = tmp_path / "embed.json"
    argv = ["embed", "--checkpoint", str(files["eq"]), "--data", str(files["data"]), "--json",
            "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--k", "2"]
    summary = run_json(capsys, argv)
    assert set(summary) == {"checkpoint", "checkpoint_sha256", "data", "dataset_fingerprint", "n_images", "latent_dim",
                            "latents_from_cache", "tsne", "clustering", "agreement", "notes", "out"}
    assert summary["n_images"] == 8 and summary["latent_dim"] == 4 and summary["latents_from_cache"] is False
    assert summary["clustering"]["method"] == "spectral" and summary["clustering"]["k"] == 2
    assert set(summary["agreement"]) == {"labels", "has_planet"}
    assert set(summary["agreement"]["labels"]) == {"ari", "nmi"}
    assert summary["tsne"]["perplexity"] == 30.0 and summary["tsne"]["seed"] == 0
    written = json.loads(out.read_text())
    assert len(written["points"]) == 8
    assert set(written["points"][0]) == {"file", "label", "x", "y", "cluster"}
    assert written["points"][0]["file"] == "planets_0/000.npy" and written["points"][0]["label"] == "planets_0"
    assert {p["cluster"] for p in written["points"]} == {0, 1}
    # a second run reads latents and map from the cache and writes the same map
    again = run_json(capsys, argv)
    assert again["latents_from_cache"] is True
    assert json.loads(out.read_text())["points"] == written["points"]


def test_embed_unknown_checkpoint_is_one_line(files, capsys):
    assert main(["embed", "--checkpoint", "no-such-model", "--data", str(files["data"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No checkpoint named 'no-such-model' exists; available:") and "\n" not in err


def test_equivariance_json_has_every_field(files, capsys, tmp_path):
    out = tmp_path / "eqv.json"
    result = run_json(capsys, ["equivariance", "--checkpoint", str(files["eq"]), "--data", str(files["data"]),
                               "--angles", "0:360:45", "--flips", "--n-images", "3", "--json", "--out", str(out)])
    assert set(result) == {"checkpoint", "checkpoint_sha256", "data", "model", "group", "angles", "flips",
                           "mask_radius", "n_images", "curves", "feature_maps_mean"}
    assert result["group"] == "C4" and result["n_images"] == 3 and result["mask_radius"] == 0.8
    assert result["angles"] == [0, 45, 90, 135, 180, 225, 270, 315] and result["flips"] == [False, True]
    assert {"latent", "reconstruction", "map:block1", "map:pose_field"} <= set(result["curves"])
    latent = result["curves"]["latent"]
    assert set(latent) == {"name", "kind", "error", "error_max", "pooled"}
    assert latent["kind"] == "invariant" and len(latent["error"]) == 2 and len(latent["error"][0]) == 8
    assert max(latent["error"][0][0::2]) < 1e-5  # C4: exact at multiples of 90 degrees
    assert min(latent["error"][1]) > 1e-4  # flips are not in C4
    assert len(result["feature_maps_mean"]) == 2
    assert json.loads(out.read_text()) == result


def test_equivariance_table_for_a_cnn_classifier(files, capsys):
    assert main(["equivariance", "--checkpoint", str(files["cnn"]), "--data", str(files["data"]),
                 "--angles", "0:180:90", "--n-images", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("cnn_classifier_0_ (group none: CNN), 2 images, mask radius 0.8")
    assert lines[1].split() == ["flip", "angle", "latent", "logits", "maps", "(mean)"]
    assert [ln.split()[:2] for ln in lines[2:]] == [["no", "0"], ["no", "90"]]
    assert float(lines[3].split()[-1]) > 0.1  # CNN feature maps do not follow a 90-degree turn


def test_equivariance_bad_angles_is_one_line(files, capsys):
    assert main(["equivariance", "--checkpoint", str(files["eq"]), "--data", str(files["data"]), "--angles", "90"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: Angles '90' are not START:STOP:STEP in degrees with STOP > START and STEP > 0, e.g. 0:360:15."
    )
