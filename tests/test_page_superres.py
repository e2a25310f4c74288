"""The Super-resolution page (AppTest): with the simulated HR twin, with an uploaded-free current image (no HR)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY_SR = {"lenses-sr-equivariant": ("equivariant_sr", {"fields": 1, "n_blocks": 1, "image_size": 16}),
           "lenses-sr-cnn": ("edsr_sr", {"channels": 4, "n_blocks": 1, "image_size": 16})}


@pytest.fixture(scope="module")
def sr_index(tmp_path_factory) -> Path:
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    folder = tmp_path_factory.mktemp("sr_checkpoints")
    for i, (name, (model_name, config)) in enumerate(TINY_SR.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config)
        for p in model.parameters():  # the last layer starts at zero: make the learned path matter
            p.data.add_(0.05 * torch.randn_like(p))
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config, state_dict=model.state_dict(),
                               metrics={}, data_manifest={"generator": "lenses", "n": 12}, command="test", history={})
        register(path, name)
    return folder


@pytest.fixture
def app(sr_index, tmp_path, monkeypatch):
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", sr_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)


def _open(at):
    at.run()
    at.switch_page("pages/superres.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_simulated_pair_shows_hr_scores_and_exact_equivariance(app):
    at = _open(app)
    table = at.dataframe[0].value
    assert list(table["method"]) == ["bicubic", "lenses-sr-equivariant", "lenses-sr-cnn"]
    assert table["PSNR (dB)"].between(5, 80).all() and table["SSIM"].between(-1, 1).all()
    errors = {m.label.split(":")[0]: float(m.value) for m in at.metric}
    assert errors["lenses-sr-equivariant"] < 1e-5 < errors["lenses-sr-cnn"]
    at.selectbox(key="sr_action").set_value("mirror + rotate 90°").run()
    assert not at.exception
    errors = {m.label.split(":")[0]: float(m.value) for m in at.metric}
    assert errors["lenses-sr-equivariant"] < 1e-5
    before = at.dataframe[0].value["PSNR (dB)"].tolist()
    at.number_input(key="sr_seed").set_value(8).run()
    assert at.dataframe[0].value["PSNR (dB)"].tolist() != before


def test_current_image_without_hr_upscales_and_says_what_is_missing(app):
    from core.io import read_image
    from core.io.fits_io import fits_bytes

    image = np.random.default_rng(0).random((21, 19)).astype(np.float32)
    loaded = read_image(fits_bytes(image), "lr.fits")
    app.session_state["current_image"] = {"data": loaded.data, "meta": loaded.meta, "name": "lr.fits", "kind": "lens"}
    at = _open(app)
    at.radio(key="sr_source").set_value("Current image").run()
    assert not at.exception
    assert not at.dataframe  # no HR: no scores
    assert any("No HR image" in c.value for c in at.caption)
    titles = [json.dumps(json.loads(c.proto.spec)["layout"].get("title"), ensure_ascii=False) for c in at.get("plotly_chart")]
    assert any("LR (19×21)" in t for t in titles) and not any("HR (" in t for t in titles)
    errors = {m.label.split(":")[0]: float(m.value) for m in at.metric}
    assert errors["lenses-sr-equivariant"] < 1e-5  # odd, non-square input: still exact


def test_a_broken_equivariant_model_is_one_sentence_and_bicubic_and_the_cnn_still_answer(sr_index, tmp_path, monkeypatch,
                                                                                        app_script_every_run):
    """The super-resolution page never stops at one model; its link and settings hold on an error."""
    import shutil

    from streamlit.testing.v1 import AppTest

    import core.checkpoints as ck

    folder = tmp_path / "broken"
    shutil.copytree(sr_index, folder)
    index = json.loads((folder / "index.json").read_text())
    for entry in index["checkpoints"]:
        if entry["name"] == "lenses-sr-equivariant":
            entry["sha256"] = "1" * 64
    (folder / "index.json").write_text(json.dumps(index))
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", folder)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    at = _open(AppTest.from_file(APP, default_timeout=120))
    assert at.selectbox(key="sr_model_eq").value == "lenses-sr-equivariant"  # the only equivariant one
    assert [e.value for e in at.main.error] == [
        "Checkpoint 'lenses-sr-equivariant' is corrupt: the sha256 of lenses-sr-equivariant.pt does not match its index "
        "entry; restore the file from git or re-train it."]
    assert list(at.dataframe[0].value["method"]) == ["bicubic", "lenses-sr-cnn"]
    assert [m.label.split(":")[0] for m in at.metric] == ["lenses-sr-cnn"]
    at.number_input(key="sr_seed").set_value(9).run()
    at.switch_page("pages/lenses.py").run()
    at.switch_page("pages/superres.py").run()
    assert not at.exception and at.number_input(key="sr_seed").value == 9
    link = dict(at.query_params)
    assert (link["page"], link["sr_seed"], link["sr_model_eq"]) == ("superres", "9", "lenses-sr-equivariant")
