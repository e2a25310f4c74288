"""Self-supervised pretraining (VICReg on instrument views) and the few-label `probe` command:
tiny images, tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.atomic import atomic_save_npy
from core.checkpoints import load_model, save_checkpoint
from core.data.instrument_views import ViewConfig, instrument_view
from core.data.observe import gaussian_blur
from core.models import build_model

torch.set_num_threads(1)

# Two stride-2 blocks on a 17-px grid (17 -> 9 -> 5); images are 16 px, resampled to the grid.
TINY_EQ = {"image_size": 17, "group": "D4", "fields": (1, 2), "hidden": 8, "projector": (16, 16)}
TINY_CNN = {"image_size": 17, "channels": (2, 4, 4), "hidden": 8, "projector": (16, 16)}


def lens_folder(root: Path, n_per_class: int = 6, size: int = 16, seed: int = 0) -> Path:
    """Three classes of 16-px ring images that differ by a clump on the ring: none, one, two."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    for k, cls in enumerate(("no_sub", "cdm", "vortex")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            r0 = 4.5 + rng.uniform(-0.5, 0.5)
            image = np.exp(-((np.hypot(yy, xx) - r0) ** 2) / 1.5)
            for a in rng.uniform(0, 2 * np.pi, size=k):
                image += 1.5 * np.exp(-((yy - r0 * np.sin(a)) ** 2 + (xx - r0 * np.cos(a)) ** 2) / 1.0)
            atomic_save_npy(root / cls / f"{i:03d}.npy", (image + 0.02 * rng.standard_normal(image.shape)).astype(np.float32))
    return root


def tiny_encoder_checkpoint(folder: Path, name: str = "equivariant_encoder", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model(name, TINY_EQ if name == "equivariant_encoder" else TINY_CNN)
    path = folder / f"{name}.pt"
    save_checkpoint(path, model_name=name, config=model.config.to_dict(), state_dict=model.state_dict(),
                    metrics={}, data_manifest={}, command="test", history={})
    return path


# ---------------------------------------------------------------------------- views and backbones


def test_views_change_the_instrument_not_the_image():
    x = torch.zeros(2, 1, 17, 17)
    x[:, :, 8, 8] = 1.0
    blurred = gaussian_blur(x, torch.tensor([0.0, 1.0]))
    assert torch.allclose(blurred[0], x[0], atol=1e-6)  # sigma 0: a delta
    assert torch.isclose(blurred[1].sum(), torch.tensor(1.0), atol=1e-5) and blurred[1].max() < 0.2  # flux kept, spread
    quiet = ViewConfig(max_shift_px=0, max_blur_px=0, flux_jitter=0, sky_jitter=0, max_poisson=0, max_gauss=0)
    assert torch.equal(instrument_view(x, quiet), x)
    g = torch.Generator().manual_seed(0)
    a, b = instrument_view(x, ViewConfig(), g), instrument_view(x, ViewConfig(), g)
    assert not torch.equal(a, b) and (a - b).abs().mean() < 0.05  # two realisations of the same sky


def test_equivariant_backbone_embedding_is_invariant_and_its_trunk_fits_the_classifier_twin():
    from core.models.backbone import classifier_twin, trunk_state

    torch.manual_seed(0)
    model = build_model("equivariant_encoder", TINY_EQ).eval()
    assert model.kind == "encoder" and not hasattr(model, "head")
    x = torch.rand(3, 1, 17, 17)
    z = model.embed(x)
    for k in (1, 2, 3):
        assert torch.allclose(model.embed(torch.rot90(x, k, dims=(-2, -1))), z, atol=1e-5)
    assert torch.allclose(model.embed(torch.flip(x, dims=(-1,))), z, atol=1e-5)
    assert model(x).shape == (3, 16)  # projector output
    name, cfg = classifier_twin("equivariant_encoder", model.config.to_dict(), 3)
    twin = build_model(name, cfg)
    missing, unexpected = twin.load_state_dict(trunk_state(model.state_dict()), strict=False)
    assert not unexpected and all(k.startswith("head.") or k.endswith((".filter", ".expanded_bias")) for k in missing)
    assert any(k.startswith("head.") for k in missing)  # escnn's cached filters are rebuilt, the head is new
    twin.eval()
    assert torch.allclose(twin.embed(x), z, atol=1e-6)


# ---------------------------------------------------------------------------- pretraining


def test_pretraining_lowers_its_loss_and_writes_a_loadable_encoder(tmp_path):
    from core.analysis.encode import encode_images, latent_fn
    from core.train.config import TrainConfig
    from core.train.fit import fit

    lens_folder(tmp_path / "data", n_per_class=16)
    cfg = TrainConfig(data=str(tmp_path / "data"), model="equivariant_encoder", model_config=TINY_EQ, epochs=6,
                      batch_size=16, lr=5e-3, val_fraction=0.25, seed=0, name="tiny-ssl", out=str(tmp_path / "out"),
                      work_dir=str(tmp_path / "work"), augment=False, device="cpu", test_data=str(tmp_path / "data"))
    path = fit(cfg)
    hist = torch.load(path, weights_only=True)["history"]
    assert hist["train_loss"][-1] < 0.9 * hist["train_loss"][0]  # VICReg on two views goes down
    assert {"train_invariance", "train_variance", "train_covariance"} <= set(hist)
    loaded = load_model("tiny-ssl", folders=[tmp_path / "out"])
    entry = loaded.entry
    assert loaded.kind == entry["kind"] == "encoder" and entry["classes"] is None
    assert {"vicreg_loss", "embedding_std", "probe_macro_auc"} <= set(entry["metrics"]) and "test" in entry["metrics"]
    images = [np.load(p) for p in sorted((tmp_path / "data" / "cdm").glob("*.npy"))[:2]]
    z = encode_images(loaded, images)
    assert z.shape == (2, 8) and np.isfinite(z).all()
    x = torch.rand(1, 1, 17, 17)
    assert torch.allclose(latent_fn(loaded)(torch.rot90(x, 1, dims=(-2, -1))), latent_fn(loaded)(x), atol=1e-5)


def test_pretrain_command_refuses_a_model_that_is_not_a_backbone(tmp_path, capsys):
    from core.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data = "{tmp_path}"\nmodel = "cnn_classifier"\nname = "c"\n')
    assert main(["pretrain", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "equivariant_encoder" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- the probe command


@pytest.fixture
def quick_recipes(monkeypatch):
    from core.train import fewlabel

    monkeypatch.setattr(fewlabel, "SCRATCH", fewlabel.Recipe(steps=15, batch_size=8))
    monkeypatch.setattr(fewlabel, "FINETUNE", fewlabel.Recipe(steps=15, batch_size=8, lr=5e-4))


@pytest.mark.parametrize("name", ["equivariant_encoder", "cnn_encoder"])
def test_probe_command_reports_probe_and_scratch_auc(tmp_path, capsys, quick_recipes, name):
    from core.cli import main

    data = lens_folder(tmp_path / "data")
    ckpt = tiny_encoder_checkpoint(tmp_path, name)
    assert main(["probe", "--checkpoint", str(ckpt), "--data", str(data), "--labels-per-class", "2", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels_per_class"] == 2 and out["seed"] == 1 and out["method"] == "probe"
    assert out["n_train"] == 6 and out["n_eval"] == 12  # 2 of 6 per class labelled, the rest evaluated
    assert 0.0 <= out["macro_auc"] <= 1.0 and 0.0 <= out["scratch_macro_auc"] <= 1.0
    assert set(out["per_class_auc"]) == set(out["scratch_per_class_auc"]) == {"no_sub", "cdm", "vortex"}
    assert out["scratch_model"] == name.replace("encoder", "classifier")


def test_probe_command_finetunes_and_limits_the_evaluated_images(tmp_path, capsys, quick_recipes):
    from core.cli import main

    data = lens_folder(tmp_path / "data")
    ckpt = tiny_encoder_checkpoint(tmp_path)
    assert main(["probe", "--checkpoint", str(ckpt), "--data", str(data), "-k", "3", "--finetune", "--max-eval", "5",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "finetune" and out["n_eval"] == 5 and "scratch_macro_auc" in out
    assert out["finetune_recipe"]["lr"] == 5e-4


def test_probe_is_deterministic_for_a_seed(tmp_path, quick_recipes):
    from core.train.fewlabel import few_label, load_labelled

    data = lens_folder(tmp_path / "data")
    loaded = load_model(tiny_encoder_checkpoint(tmp_path))
    X, y, classes = load_labelled(data, loaded.image_size)
    a = few_label(loaded, X, y, classes, 2, seed=4)
    b = few_label(loaded, X, y, classes, 2, seed=4)
    assert a["macro_auc"] == b["macro_auc"] and a["scratch_macro_auc"] == b["scratch_macro_auc"]


@pytest.mark.parametrize("case, needle", [
    ("missing", "does not exist"),
    ("too_many", "leave none to evaluate"),
    ("unknown_checkpoint", "no-such-backbone"),
    ("unlabelled", "no class labels"),
    ("zero", "at least 1"),
])
def test_probe_command_bad_input_is_one_sentence(tmp_path, capsys, quick_recipes, case, needle):
    from core.cli import main

    data = lens_folder(tmp_path / "data")
    ckpt = str(tiny_encoder_checkpoint(tmp_path))
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        atomic_save_npy(flat / f"{i}.npy", np.random.default_rng(i).random((16, 16)).astype(np.float32))
    argv = {
        "missing": ["--checkpoint", ckpt, "--data", str(tmp_path / "nope"), "-k", "2"],
        "too_many": ["--checkpoint", ckpt, "--data", str(data), "-k", "6"],
        "unknown_checkpoint": ["--checkpoint", "no-such-backbone", "--data", str(data), "-k", "2"],
        "unlabelled": ["--checkpoint", ckpt, "--data", str(flat), "-k", "1"],
        "zero": ["--checkpoint", ckpt, "--data", str(data), "-k", "0"],
    }[case]
    assert main(["probe", *argv, "--json"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.startswith("error: ") and err.count("\n") == 1


def test_finetuning_starts_from_the_probe_solution(tmp_path):
    from core.analysis.probe import fit_probe
    from core.models import build_model as build
    from core.train.fewlabel import embed_all, finetune_start, load_labelled, twin_architecture

    data = lens_folder(tmp_path / "data")
    loaded = load_model(tiny_encoder_checkpoint(tmp_path))
    X, y, classes = load_labelled(data, loaded.image_size)
    name, cfg, trunk = twin_architecture(loaded, len(classes))
    model = build(name, cfg)
    model.load_state_dict(finetune_start(loaded, trunk, X, y, classes), strict=False)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(X), dim=1).numpy()
    probe = fit_probe(embed_all(loaded, X), [classes[i] for i in y], classes=classes)
    assert np.allclose(probs, probe.predict_proba(embed_all(loaded, X)), atol=1e-4)


def test_evaluate_on_a_backbone_points_to_the_probe_command(tmp_path, capsys):
    from core.cli import main

    data = lens_folder(tmp_path / "data", n_per_class=2)
    assert main(["evaluate", "--checkpoint", str(tiny_encoder_checkpoint(tmp_path)), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "python -m core probe" in err and err.count("\n") == 1
