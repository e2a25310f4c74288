"""The Train page (pages/train.py, ui/training*.py) in AppTest: unique run names,
training on a labelled upload (a zip of class folders, or the labelled images of the list), and the
runs compared by their curves.

`core.train.fit.fit` is replaced by a stand-in that writes and registers a tiny real checkpoint the
way `fit` does (`register` replaces an entry of the same name: that is how a second run used to
overwrite the first); the real training path from the page is covered in tests/test_pages.py.
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
    assert any(c.value == "6 images in 2 classes (no_sub: 3, cdm: 3)." for c in app.caption)
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
    assert any(c.value == "4 images in 2 classes (no_sub: 2, cdm: 2)." for c in app.caption)
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
