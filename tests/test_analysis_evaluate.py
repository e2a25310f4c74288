"""`python -m core evaluate --json`: every field, correct values on known cases, DeepLense folder names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import checkpoints as ck
from core.analysis.evaluate import autoencoder_metrics, classifier_metrics
from core.atomic import atomic_save_npy
from core.cli import main

torch.set_num_threads(1)
CLS = {"image_size": 17, "channels": [2, 2, 2, 2], "hidden": 4, "n_classes": 3}
AE = {"image_size": 33, "channels": [2, 2, 2, 2], "latent_dim": 4, "decoder_channels": [4, 4, 4, 4, 4]}


def _folder(root: Path, classes, n_per_class=3, size=40, seed=0) -> Path:
    """Images of a size other than the model grid, in class sub-folders named as given."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            atomic_save_npy(root / c / f"{i}.npy", rng.random((size, size)).astype(np.float32))
    return root


def _checkpoint(tmp_path, name, config, classes=None) -> Path:
    from core.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(name, config)
    return ck.save_checkpoint(tmp_path / f"{name}.pt", model_name=name, config=config, state_dict=model.state_dict(),
                              metrics={}, data_manifest={}, command="python -m core train", history={}, classes=classes)


def test_perfect_and_wrong_reconstructions():
    x = torch.rand(3, 1, 33, 33)
    m = autoencoder_metrics(x.clone(), x)
    assert m["mse"] == 0 and m["n"] == 3 and m["psnr_db"] > 100
    assert m["ssim"] == pytest.approx(1.0, abs=1e-5) and m["ms_ssim"] == pytest.approx(1.0, abs=1e-5)
    bad = autoencoder_metrics(torch.zeros_like(x) + 0.5, x)
    assert bad["mse"] == pytest.approx(float(((x - 0.5) ** 2).mean()), rel=1e-5) and bad["ssim"] < 0.1


def test_classifier_metrics_of_a_perfect_and_a_swapped_classifier():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = torch.nn.functional.one_hot(y, 3).float() * 5
    m = classifier_metrics(logits, y, ["no_sub", "cdm", "vortex"])
    assert m["macro_auc"] == 1.0 and m["accuracy"] == 1.0 and m["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    swapped = classifier_metrics(logits[:, [1, 0, 2]], y, ["no_sub", "cdm", "vortex"])
    assert swapped["per_class_auc"]["no_sub"] == 0.25 and swapped["per_class_auc"]["vortex"] == 1.0
    assert swapped["confusion"][0] == [0, 2, 0] and swapped["accuracy"] == pytest.approx(1 / 3)


def test_evaluate_json_classifier_on_deeplense_folder_names(tmp_path, capsys):
    path = _checkpoint(tmp_path, "cnn_classifier", CLS, classes=["no_sub", "cdm", "vortex"])
    data = _folder(tmp_path / "dl", ["no", "sphere", "vort"])  # DeepLense's own names, 40 px images
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"checkpoint", "model", "kind", "data", "n", "macro_auc", "micro_auc", "per_class_auc",
                           "accuracy", "confusion", "classes"}
    assert result["n"] == 9 and result["kind"] == "classifier" and set(result["per_class_auc"]) == {"no_sub", "cdm", "vortex"}
    assert np.array(result["confusion"]).sum(axis=1).tolist() == [3, 3, 3]  # rows = true classes, mapped from aliases
    assert 0.0 <= result["macro_auc"] <= 1.0


def test_evaluate_json_autoencoder(tmp_path, capsys):
    path = _checkpoint(tmp_path, "cnn_ae", AE)
    data = _folder(tmp_path / "disks", ["planets_0", "planets_1"], n_per_class=2, size=50)
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"checkpoint", "model", "kind", "data", "n", "mse", "psnr_db", "ssim", "ms_ssim"}
    assert result["n"] == 4 and result["kind"] == "autoencoder" and result["mse"] > 0


def test_evaluate_unknown_class_is_one_sentence(tmp_path, capsys):
    path = _checkpoint(tmp_path, "cnn_classifier", CLS, classes=["no_sub", "cdm", "vortex"])
    data = _folder(tmp_path / "odd", ["no_sub", "cats"])
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: The class 'cats' in " + str(data) + " is not one the model knows (no_sub, cdm, vortex)."
