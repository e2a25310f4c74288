"""Hosted demo, hostile visitors, through AppTest: the pixel limit on the pages that read uploads
themselves (Super-resolution, the Latent map's "Place more images"), and batch evaluation leaving
nothing on disk, within a byte budget."""

from __future__ import annotations

import io

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_page_superres import APP as SR_APP
from test_page_superres import sr_index  # noqa: F401 - fixture
from test_pages import app, downloads, lens_zip, open_page, tiny_index  # noqa: F401 - fixtures

from ui.markdown import md_escape

BIG = 2100  # pixels a side: above the hosted limit of 2048 x 2048, below the laptop's 4096 x 4096
TOO_BIG = (f"big.png is {BIG} x {BIG} pixels, more than the limit of 4,194,304 pixels (about 2048 x 2048); "
           "crop or bin the image first.")


def big_png() -> bytes:
    """A {BIG} x {BIG} PNG with structure, a few kB on the wire."""
    from PIL import Image

    ramp = (np.add.outer(np.arange(BIG), np.arange(BIG)) % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    return buf.getvalue()


def small_npy(size: int = 16) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(3).random((size, size)).astype(np.float32))
    return buf.getvalue()


@pytest.fixture
def hosted(monkeypatch):
    from core.settings import settings

    monkeypatch.setenv("EQUISCOPE_HOSTED", "1")
    settings.cache_clear()
    yield settings()
    settings.cache_clear()


@pytest.fixture
def model_runs(monkeypatch) -> list:
    """Every super-resolution or map placement the pages ask for (by name)."""
    from ui import reference, superres

    runs = []
    for module, name in ((superres, "upscaled"), (superres, "equivariance_check"), (reference, "place_images")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: runs.append(_name) or _real(*a, **k))
    return runs


@pytest.fixture
def sr_app(sr_index, tmp_path, monkeypatch):  # noqa: F811 - the fixture imported above
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", sr_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    at = AppTest.from_file(SR_APP, default_timeout=120)
    at.run()
    at.switch_page("pages/superres.py").run()
    assert not at.exception
    return at


# ------------------------------------------------------------------ pixel limit


def test_superres_refuses_a_too_large_lr_upload_in_one_sentence(sr_app, hosted, model_runs):
    at = sr_app
    model_runs.clear()
    at.radio(key="sr_source").set_value("Upload").run()
    at.file_uploader(key="sr_lr_upload").set_value([("big.png", big_png(), "image/png")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == [TOO_BIG]
    assert model_runs == [] and not at.get("plotly_chart")


def test_superres_refuses_a_too_large_hr_upload_in_one_sentence(sr_app, hosted, model_runs):
    at = sr_app
    at.radio(key="sr_source").set_value("Upload").run()
    at.file_uploader(key="sr_lr_upload").set_value([("lr.npy", small_npy(), "application/octet-stream")]).run()
    assert not at.exception and not at.error
    model_runs.clear()
    at.file_uploader(key="sr_hr_upload").set_value([("big.png", big_png(), "image/png")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == [TOO_BIG]
    assert model_runs == []


def test_latent_map_refuses_a_too_large_upload_in_one_sentence(app, hosted, model_runs):  # noqa: F811
    at = open_page(app, "pages/latent_map.py")
    at.file_uploader(key="map_uploads").set_value([("big.png", big_png(), "image/png")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == [TOO_BIG]
    assert "place_images" not in model_runs


# ------------------------------------------------------------------ batch evaluation: disk


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The folder batch evaluation makes its temporary folders in, and what it held while evaluating."""
    import core.analysis.evaluate as evaluate
    import ui.batch_data as batch

    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(batch, "TEMP_DIR", folder, raising=False)
    during, real = [], evaluate.evaluate_dataset

    def spy(loaded, root, **kwargs):
        during.append((root, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())))
        return real(loaded, root, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_dataset", spy)
    return folder, during


def _cache():
    from core.analysis import reference_sets

    return reference_sets.CACHE


@pytest.mark.parametrize("source", ["zip", "list"])
def test_batch_evaluation_leaves_nothing_on_disk(app, scratch, downloads, source):  # noqa: F811
    """The data set lives in a temporary folder while it is evaluated, and nowhere afterwards."""
    folder, during = scratch
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"})
    if source == "zip":
        at = open_page(app, "pages/batch.py")
        at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    else:
        app.run()
        app.file_uploader[0].set_value([("lenses.zip", raw, "application/zip")]).run()  # the Data page's list
        at = open_page(app, "pages/batch.py")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert int(at.metric[0].value) == 12
    [(root, size)] = during
    assert root.is_relative_to(folder) and size >= 12 * 40 * 40 * 4  # the 12 images were there while evaluated
    assert list(folder.iterdir()) == []  # and are gone
    assert not (_cache() / "batch").exists()
    at.selectbox(key="batch_model").set_value("lenses-classifier-cnn").run()  # another model: unpacked and removed again
    assert len(during) == 2 and list(folder.iterdir()) == []


def test_hosted_batch_evaluation_refuses_a_data_set_above_the_byte_cap(app, hosted, scratch, monkeypatch):  # noqa: F811
    import ui.batch_data as batch

    folder, during = scratch
    monkeypatch.setattr(batch, "HOSTED_MAX_BYTES", 2**20)
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=100)  # 300 x 6.5 kB
    at = open_page(app, "pages/batch.py")
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "lenses.zip holds 2 MB of images once unpacked, more than the limit of 1 MB; zip fewer files."]
    assert during == [] and list(folder.iterdir()) == []


def _bomb_first_zip() -> bytes:
    """A DeepLense-style zip whose first member's .npy header declares 100000 x 100000 pixels (a few bytes on the
    wire), then ordinary 64-px images."""
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("no/000.npy", header.getvalue() + b"\0" * 64)
        for folder in ("no", "sphere", "vort"):
            for i in range(1, 3):
                zf.writestr(f"{folder}/{i:03d}.npy", small_npy(64))
    return buf.getvalue()


def test_a_plane_bomb_first_in_a_batch_zip_neither_picks_the_model_nor_gets_unpacked(app, scratch):  # noqa: F811
    """The default model reads one image's shape from the zip: a member whose header declares a huge plane is
    refused from its header and the next one decides; the evaluation then refuses the zip in one sentence."""
    folder, during = scratch
    at = open_page(app, "pages/batch.py")
    at.file_uploader(key="batch_zip").set_value([("bomb.zip", _bomb_first_zip(), "application/zip")]).run()
    assert not at.exception
    assert at.session_state["batch_zip_facts"][1].shape == (64, 64)  # from no/001.npy
    assert len(at.error) == 1 and "000.npy" in at.error[0].value and "\n" not in at.error[0].value
    assert during == [] and list(folder.iterdir()) == []


def test_opening_gallery_images_into_a_full_image_list_says_so(app, monkeypatch):  # noqa: F811
    from core.settings import settings

    monkeypatch.setenv("EQUISCOPE_MAX_FILES", "1")
    settings.cache_clear()
    try:
        at = open_page(app, "pages/batch.py")
        at.file_uploader(key="batch_zip").set_value([("lenses.zip", lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}),
                                                      "application/zip")]).run()
        box = at.selectbox(key="batch_open")
        assert len(box.options) >= 2, "the tiny random model gets at least two wrong"
        box.set_value(box.options[0]).run()
        at.button(key="batch_open_use").click().run()
        assert len(at.session_state["image_list"]) == 1 and len(at.success) == 1
        at.selectbox(key="batch_open").set_value(box.options[1]).run()
        at.button(key="batch_open_use").click().run()
        assert not at.exception and len(at.session_state["image_list"]) == 1
        assert [e.value for e in at.error] == [md_escape(  # the file's name shown literally
            f"lenses.zip/{box.options[1]} was not added: the image list holds 1 images, the limit of this session; "
            "remove some (✕ in the sidebar) to make room.")]
    finally:
        settings.cache_clear()


# ------------------------------------------------------------------ zips with paths leaving the archive


def test_a_batch_zip_with_members_leaving_the_archive_says_how_many_were_skipped(app, scratch):  # noqa: F811
    import zipfile

    buf = io.BytesIO(lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}))
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("../no/evil.npy", small_npy(40))
        zf.writestr("no/../../sphere/evil.npy", small_npy(40))
        zf.writestr("../../../etc/evil.npy", small_npy(40))
    at = open_page(app, "pages/batch.py")
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", buf.getvalue(), "application/zip")]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [w.value for w in at.warning if "archive" in w.value] == [
        "3 files of the zip lenses\\.zip were skipped because their paths leave the archive."]
    assert int(at.metric[0].value) == 12  # the 12 images inside were evaluated


# ------------------------------------------------------------------ hosted: no other visitor's runs


def test_hosted_pickers_list_no_other_visitors_runs(app, hosted, tiny_index, app_script_every_run):  # noqa: F811
    """runs/ holds a run of another visitor and one of this session (ui.resources.own_run): a hosted
    session's models panel, pickers and links know the shipped checkpoints and its own run only."""
    import shutil

    import core.checkpoints as ck

    ck.RUNS_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("strangers-ae", "my-ae"):
        shutil.copy(tiny_index / "disks-ae-equivariant.pt", ck.RUNS_DIR / f"{name}.pt")
        ck.register(ck.RUNS_DIR / f"{name}.pt", name)
    shipped = [e["name"] for e in ck.list_checkpoints([tiny_index])]
    app.session_state["own_runs"] = {"my-ae"}
    app.query_params.update({"batch_model": "strangers-ae"})  # a link naming the other visitor's run
    app.run()  # the Data page
    assert not app.exception
    assert any("names the model strangers-ae" in w.value.replace("\\", "") for w in app.sidebar.warning)
    (panel,) = [d.value for d in app.sidebar.dataframe if "loads" in d.value.columns]  # "Models on this server"
    assert list(panel["model"]) == [*shipped, "my-ae"]
    at = open_page(app, "pages/batch.py")
    assert at.selectbox(key="batch_model").options == [*shipped, "my-ae"]
    assert at.selectbox(key="batch_model").value != "strangers-ae"


def test_on_a_laptop_the_pickers_list_every_run(app, tiny_index):  # noqa: F811
    import shutil

    import core.checkpoints as ck

    ck.RUNS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_index / "disks-ae-equivariant.pt", ck.RUNS_DIR / "cli-run.pt")
    ck.register(ck.RUNS_DIR / "cli-run.pt", "cli-run")
    at = open_page(app, "pages/batch.py")
    assert "cli-run" in at.selectbox(key="batch_model").options
