"""The Train page (pages/train.py, ui/training*.py) in AppTest: unique run names,
training on a labelled upload (a zip of class folders, or the labelled images of the list), the
few-label default (a linear probe on a shipped model), the chance-level warning, truthful data
captions, the runs compared by their curves, and a run's familiarity judged against its own
training images (ui/familiarity.py).

`core.train.fit.fit` is replaced by a stand-in that writes and registers a tiny real checkpoint the
way `fit` does (`register` replaces an entry of the same name: that is how a second run used to
overwrite the first); the real training path from the page is covered in tests/test_pages.py. The
probe route runs for real on the tiny shipped classifiers of tests/test_pages.py.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
import torch
from test_pages import APP, tiny_index  # noqa: F401 - tiny_index is a fixture used by `app`

from core.data.datasets import scan_dataset

torch.set_num_threads(1)
RNG = np.random.default_rng(5)


@pytest.fixture
def fits_calls(monkeypatch) -> list:
    """Replace core.train.fit.fit: write a tiny CNN autoencoder checkpoint with a loss history and
    register it under the run's name, as fit does; records each config."""
    import core.train.fit as fit_module
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    calls = []

    def fake_fit(config, progress=None, should_stop=None, on_epoch=None, **_):
        calls.append(config)
        scan_dataset(config.data)  # the data set must be one fit can read
        config_ = {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)}
        k = len(calls)
        history = {"epoch": [1, 2, 3], "train_loss": [1.0 / k, 0.5 / k, 0.3 / k], "val_loss": [1.1 / k, 0.6 / k, 0.4 / k]}
        if on_epoch:
            on_epoch(history)
        out = config.out_path / f"{config.name}.pt"
        save_checkpoint(out, model_name="cnn_ae", config=config_, state_dict=build_model("cnn_ae", config_).state_dict(),
                        metrics={"epochs_run": 3, "val_loss": 0.4 / k}, data_manifest={"generator": "disks", "n": 8},
                        command="test", history=history)
        register(out, config.name)
        return out

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    return calls


@pytest.fixture
def app(tiny_index, tmp_path, monkeypatch, app_script_every_run):  # noqa: F811
    import core.checkpoints as ck
    import ui.training as training

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", tiny_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(training, "DATA_DIRS", (tmp_path / "data",))
    monkeypatch.setattr(training, "DATA_DIR", tmp_path / "data")
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_run(at) -> None:
    import ui.training as training

    job = training.current()
    deadline = time.monotonic() + 120
    while job is not None and job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job is not None and job.status == "done", job and job.error
    at.run()


def run_index(tmp_path) -> list[str]:
    return [e["name"] for e in json.loads((tmp_path / "runs" / "index.json").read_text())["checkpoints"]]


def simulated_set(tmp_path) -> None:
    """A tiny 'simulated' set on the server so that no run has to simulate."""
    from core.data.dataset_writer import simulate_dataset

    simulate_dataset("disks", 4, 33, 0, tmp_path / "data" / "disks-tiny", workers=1, progress=False)


def test_a_second_run_with_the_default_name_never_replaces_the_first(app, fits_calls, tmp_path):
    """Regression: a second run with the default name silently replaced the first in runs/index.json."""
    simulated_set(tmp_path)
    app.selectbox(key="train_model").set_value("CNN autoencoder").run()
    app.radio(key="train_source").set_value("server").run()
    assert app.text_input(key="train_name").value == "cnn-ae"
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert app.text_input(key="train_name").value == "cnn-ae-2"  # the default moved on
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert run_index(tmp_path) == ["cnn-ae", "cnn-ae-2"]

    app.text_input(key="train_name").set_value("cnn-ae").run()  # typed by hand: refused, not overwritten
    app.button(key="train_start").click().run()
    assert [e.value for e in app.error] == [
        "A run named 'cnn-ae' already exists in runs/; choose another name, or tick 'Replace the run of that "
        "name' to overwrite it."]
    assert len(fits_calls) == 2
    app.checkbox(key="train_replace").check().run()
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert len(fits_calls) == 3 and run_index(tmp_path) == ["cnn-ae", "cnn-ae-2"]


def test_runs_are_listed_with_their_curves_together(app, fits_calls, tmp_path):
    simulated_set(tmp_path)
    app.selectbox(key="train_model").set_value("CNN autoencoder").run()
    app.radio(key="train_source").set_value("server").run()
    for _ in range(2):
        app.button(key="train_start").click().run()
        wait_for_run(app)
    table = "\n".join(m.value for m in app.markdown)
    assert "cnn\\-ae\\-2" in table and "val\\_loss 0\\.2" in table
    (chart,) = [c for c in app.get("plotly_chart") if c.proto.id and "train_compare_curves" in c.proto.id]
    names = [trace["name"] for trace in json.loads(chart.proto.spec)["data"]]
    assert names == ["cnn-ae-2 · train loss", "cnn-ae-2 · val loss", "cnn-ae · train loss", "cnn-ae · val loss"]


def zip_of_classes(n_per_class: int = 3) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder in ("no", "sphere"):
            for k in range(n_per_class):
                arr = io.BytesIO()
                np.save(arr, RNG.normal(size=(20, 20)).astype(np.float32))
                z.writestr(f"set/{folder}/{k:03d}.npy", arr.getvalue())
        z.writestr("set/README.txt", "two classes")
    return buf.getvalue()


def test_train_on_a_labelled_zip(app, fits_calls):
    app.selectbox(key="train_model").set_value("CNN classifier").run()
    app.radio(key="train_source").set_value("zip").run()
    app.file_uploader(key="train_zip").set_value([("lenses.zip", zip_of_classes(), "application/zip")]).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(c.value == "6 images of lenses.zip in 2 classes (no_sub: 3, cdm: 3)." for c in app.caption)
    app.radio(key="train_method").set_value("scratch").run()
    app.button(key="train_start").click().run()
    wait_for_run(app)
    index = scan_dataset(fits_calls[0].data)
    assert index.classes == ["no_sub", "cdm"] and index.labels.count("cdm") == 3
    assert all(f.name.endswith(".npy") and f.parent.name in ("no_sub", "cdm") for f in index.files)


def test_train_on_the_labelled_images_of_the_list(app, fits_calls):
    app.switch_page("pages/data.py").run()
    app.file_uploader[0].set_value([("lenses.zip", zip_of_classes(2), "application/zip")]).run()
    assert len(app.session_state["image_list"]) == 4
    app.switch_page("pages/train.py").run()
    app.selectbox(key="train_model").set_value("CNN classifier").run()
    app.radio(key="train_source").set_value("list").run()
    assert any(c.value == "4 labelled list images in 2 classes (no_sub: 2, cdm: 2)." for c in app.caption)
    app.radio(key="train_method").set_value("scratch").run()
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert scan_dataset(fits_calls[0].data).classes == ["no_sub", "cdm"]


def test_the_list_without_labels_is_refused_for_a_classifier(app):
    app.selectbox(key="train_model").set_value("CNN classifier").run()
    app.radio(key="train_source").set_value("list").run()
    assert any("at least two classes" in i.value for i in app.info)
    app.button(key="train_start").click().run()
    assert [e.value for e in app.error] == [
        "Choose the images first: simulate a set, upload a labelled zip, or use the list."]


# ---------------------------------------------------------------------------- few labels, chance, familiarity


def separable_images(n_per_class: int = 10, size: int = 20) -> dict[str, list[np.ndarray]]:
    """Two classes any features tell apart: a centred blob (no_sub) and a ring (cdm), with a little noise."""
    rng = np.random.default_rng(1)
    r = np.hypot(*(np.mgrid[:size, :size] - (size - 1) / 2))
    shapes = {"no_sub": np.exp(-r**2 / 18), "cdm": np.exp(-((r - 6) ** 2) / 2)}
    return {c: [(s + 0.05 * rng.standard_normal(s.shape)).astype(np.float32) for _ in range(n_per_class)]
            for c, s in shapes.items()}


def separable_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder, images in separable_images().items():
            for k, image in enumerate(images):
                arr = io.BytesIO()
                np.save(arr, image)
                z.writestr(f"set/{folder}/{k:03d}.npy", arr.getvalue())
    return buf.getvalue()


def test_a_small_labelled_set_starts_from_a_shipped_model_and_learns(app, fits_calls, tmp_path):
    """Regression: a D4 classifier trained from scratch on 60 list images ended at ln 3, answering one class."""
    import ui.training as training

    app.switch_page("pages/data.py").run()
    app.file_uploader[0].set_value([("lenses.zip", separable_zip(), "application/zip")]).run()
    app.switch_page("pages/train.py").run()
    app.selectbox(key="train_model").set_value("CNN classifier").run()
    app.radio(key="train_source").set_value("list").run()
    assert any(c.value == "20 labelled list images in 2 classes (no_sub: 10, cdm: 10)." for c in app.caption)
    assert app.radio(key="train_method").value == "probe"  # the default below 200 labelled images
    assert app.selectbox(key="train_backbone").value == "best"
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert not fits_calls  # nothing was trained from scratch
    metrics = training.current().metrics
    assert metrics["method"] == "probe" and metrics["backbone"] == "lenses-classifier-cnn"
    assert metrics["n"] == 20 and metrics["accuracy"] >= 0.9  # out-of-fold; chance is 0.5
    captions = [c.value for c in app.caption]
    assert any("trained on the 20 labelled list images (no_sub 10, cdm 10)" in c for c in captions), captions
    assert any(c.startswith("Validation accuracy ") and "out-of-fold" in c for c in captions), captions
    assert not app.warning, [w.value for w in app.warning]
    (entry,) = json.loads((tmp_path / "runs" / "index.json").read_text())["checkpoints"]
    assert entry["data"]["description"] == "the 20 labelled list images (no_sub 10, cdm 10)"
    assert entry["data"]["counts"] == {"no_sub": 10, "cdm": 10} and entry["classes"] == ["no_sub", "cdm"]


@pytest.fixture
def chance_fit(monkeypatch) -> list:
    """Replace core.train.fit.fit by a run that learned nothing: every validation image called cdm."""
    import core.train.fit as fit_module
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    calls = []

    def fake_fit(config, progress=None, should_stop=None, on_epoch=None, **_):
        calls.append(config)
        cfg = {"image_size": 33, "channels": (2, 4, 4), "hidden": 8, "n_classes": 3}
        metrics = {"accuracy": 1 / 3, "macro_auc": 0.5, "n": 6, "confusion": [[0, 2, 0], [0, 2, 0], [0, 2, 0]],
                   "split": "validation (10% held out, seed 0)", "epochs_run": 5}
        out = config.out_path / f"{config.name}.pt"
        save_checkpoint(out, model_name="cnn_classifier", config=cfg, state_dict=build_model("cnn_classifier", cfg).state_dict(),
                        metrics=metrics, data_manifest={"n": 6}, command="test", history={}, classes=["no_sub", "cdm", "vortex"])
        register(out, config.name)
        return out

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    return calls


def test_a_run_at_chance_says_so(app, chance_fit, tmp_path):
    simulated_set(tmp_path)
    app.selectbox(key="train_model").set_value("CNN classifier").run()
    app.radio(key="train_source").set_value("server").run()
    app.radio(key="train_method").set_value("scratch").run()
    app.button(key="train_start").click().run()
    wait_for_run(app)
    assert len(chance_fit) == 1
    assert [w.value for w in app.warning] == [
        "Validation accuracy 0.33 on 6 held-out images is at chance: always answering the commonest class scores "
        "0.33, so this model has learned nothing usable; start from a shipped model instead (the linear probe, the "
        "default below 200 labelled images), or give it more labelled images and epochs."]
    (row,) = [line for m in app.markdown for line in m.value.splitlines() if line.startswith("| cnn\\-classifier |")]
    assert "accuracy 0\\.3333, macro\\_auc 0\\.5 \\(at chance\\)" in row  # the runs table too


def own_run(tmp_path, tiny_index, monkeypatch, model: str = "classifier") -> tuple[dict, dict]:  # noqa: F811
    """A run of this server in runs/ trained on a tiny labelled folder: (its index entry, {class: images})."""
    import core.checkpoints as ck
    from core.atomic import atomic_save_npy
    from core.checkpoints import list_checkpoints, register, save_checkpoint
    from core.models.registry import build_model
    from core.train.fewlabel import data_summary, transfer

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", tiny_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    images = separable_images()
    for cls, arrays in images.items():
        for k, image in enumerate(arrays):
            atomic_save_npy(tmp_path / "data" / cls / f"{k:03d}.npy", image)
    if model == "classifier":
        transfer(tmp_path / "data", ["lenses-classifier-cnn"], name="mine", out=tmp_path / "runs")
    else:  # an untrained autoencoder: it reconstructs every image poorly
        cfg = {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)}
        path = save_checkpoint(tmp_path / "runs" / "mine.pt", model_name="cnn_ae", config=cfg,
                               state_dict=build_model("cnn_ae", cfg).state_dict(), metrics={},
                               data_manifest=data_summary(tmp_path / "data"), command="test", history={})
        register(path, "mine")
    (entry,) = [e for e in list_checkpoints() if e["name"] == "mine"]
    return entry, images


def as_current(image: np.ndarray) -> dict:
    from core.io import read_image
    from core.io.fits_io import fits_bytes

    loaded = read_image(fits_bytes(image), "x.fits")
    return {"data": loaded.data, "meta": loaded.meta, "name": "x.fits", "kind": "lens"}


def test_a_training_image_is_familiar_to_its_own_run(tmp_path, tiny_index, monkeypatch):  # noqa: F811
    """Regression: an image of a browser run's own training set was 'unlike anything it was trained on, 100th
    percentile' (judged against the shipped reference set)."""
    import ui.reference
    from ui import familiarity

    entry, images = own_run(tmp_path, tiny_index, monkeypatch)
    monkeypatch.setattr(ui.reference, "familiarity_reference", lambda *a, **k: pytest.fail("shipped reference used"))
    assert familiarity.own_data(entry) == tmp_path / "data"
    (note,) = familiarity.notes_for(entry, as_current(images["cdm"][3]))
    assert note.level == "info" and note.text.startswith("Familiar input: it lies among the images this run was trained on")
    assert "of the 20 images this run was trained on" in note.text
    checkerboard = np.indices((20, 20)).sum(axis=0) % 2 * 1.0
    (note,) = familiarity.notes_for(entry, as_current(checkerboard))
    assert note.level == "warning" and note.text.startswith("This image is unlike the images this run was trained on")


def test_a_poorly_reconstructed_image_is_never_also_called_familiar(tmp_path, tiny_index, monkeypatch):  # noqa: F811
    """Regression: a browser-trained autoencoder said both 'unlike the simulated disks' and 'familiar, 56th percentile'."""
    from core.analysis.reconstruct import POOR_FIT
    from ui import familiarity, inference

    entry, images = own_run(tmp_path, tiny_index, monkeypatch, model="autoencoder")
    image = as_current(images["no_sub"][0])
    meta = image["meta"]
    result = inference.reconstruct("mine", entry["sha256"], image["data"], meta.pixel_scale_arcsec, meta.bunit,
                                   meta.fill_value, None)  # what the Reconstruct page shows
    assert result["metrics"]["ms_ssim"] < POOR_FIT and any("poorly" in w for w in result["warnings"])
    notes = familiarity.notes_for(entry, image)
    assert [n.level for n in notes] == ["info"] and "Familiar" not in notes[0].text
    assert notes[0].text.startswith("Its latent lies among the images this run was trained on (")
    assert f"MS-SSIM {result['metrics']['ms_ssim']:.2f}" in notes[0].text
