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
