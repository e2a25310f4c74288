"""Pages never stop at one model (AppTest): a checkpoint that does not load, or fails on an image, is one
sentence in its own place; the other model still answers, the default falls back to a model that loads,
settings survive leaving the page, the link is written, and the sidebar lists which models load and why not.

The tiny checkpoints of test_pages are copied and two are broken on purpose: the default equivariant disk
autoencoder no longer matches its index entry, and the only equivariant lens classifier is a truncated file.
app.py runs on every AppTest run (conftest.app_script_every_run), as on a server.
"""

from __future__ import annotations

import json
import shutil

import pytest
from test_pages import APP, disk_image, lens_zip, plotly_specs, tiny_index, with_image  # noqa: F401 - fixture

CORRUPT, TRUNCATED = "disks-ae-equivariant", "lenses-classifier-equivariant"
CORRUPT_SENTENCE = (f"Checkpoint '{CORRUPT}' is corrupt: the sha256 of {CORRUPT}.pt does not match its index entry; "
                    "restore the file from git or re-train it.")


@pytest.fixture
def broken_index(tiny_index, tmp_path):  # noqa: F811 - the fixture imported above
    from core.atomic import sha256_file

    folder = tmp_path / "checkpoints"
    shutil.copytree(tiny_index, folder)
    raw = (folder / f"{TRUNCATED}.pt").read_bytes()
    (folder / f"{TRUNCATED}.pt").write_bytes(raw[: len(raw) // 2])
    index = json.loads((folder / "index.json").read_text())
    for entry in index["checkpoints"]:
        if entry["name"] == CORRUPT:
            entry["sha256"] = "0" * 64  # the file no longer matches its index entry
        if entry["name"] == TRUNCATED:
            entry["sha256"] = sha256_file(folder / f"{TRUNCATED}.pt")  # indexed as it is: unreadable, not corrupt
    (folder / "index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture
def at(broken_index, app_script_every_run, tmp_path, monkeypatch):
    """AppTest of app.py (run on every run) over the broken copy of the tiny checkpoints."""
    from streamlit.testing.v1 import AppTest

    import core.analysis.reference_sets as reference
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", broken_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(reference, "CACHE", tmp_path.parent / "page_cache")  # shared with test_pages
    monkeypatch.setattr(reference, "REFERENCE_N", {"disks": 12, "lenses": 12})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {"disks": 33, "lenses": 33})
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    return AppTest.from_file(APP, default_timeout=120)


def visit(at, page: str):
    at.switch_page(page).run()
    assert_clean(at)
    return at


def assert_clean(at) -> None:
    """No exception and no traceback or server folder in any text on the page."""
    assert not at.exception, [e.value for e in at.exception]
    texts = [el.value for kind in ("error", "warning", "caption", "markdown", "info") for el in at.get(kind)
             if isinstance(el.value, str)]
    assert not [t for t in texts if "Traceback" in t or "/tmp/" in t or ".py\", line" in t], texts


def errors(at) -> list[str]:
    return [e.value for e in at.main.error]


def start(at, kind: str = "disk"):
    with_image(at, disk_image(), kind=kind).run()
    assert_clean(at)
    return at


def test_reconstruct_falls_back_shows_one_sentence_and_keeps_the_choice(at):
    start(at)
    visit(at, "pages/reconstruct.py")
    assert at.selectbox(key="recon_model_eq").value == "disks-ae-d4"  # the default that loads
    assert not errors(at)
    assert any(c.value.startswith(f"{CORRUPT} would come first but does not load") for c in at.caption)
    assert [h.value for h in at.subheader] == ["disks-ae-d4", "disks-ae-cnn"]

    at.selectbox(key="recon_model_eq").set_value(CORRUPT).run()  # the user insists on the broken one
    assert_clean(at)
    assert errors(at) == [CORRUPT_SENTENCE]  # once, under its picker
    assert [h.value for h in at.subheader] == ["disks-ae-cnn"]  # the CNN still answers
    assert [m.label for m in at.metric].count("PSNR") == 1
    link = dict(at.query_params)  # the error page has its link
    assert link["page"] == "reconstruct" and link["recon_model_eq"] == CORRUPT and link["recon_model_cnn"] == "disks-ae-cnn"

    at.selectbox(key="recon_cmap").set_value("viridis").run()
    visit(at, "pages/lenses.py")
    visit(at, "pages/reconstruct.py")  # back: the settings as they were left
    assert at.selectbox(key="recon_model_eq").value == CORRUPT
    assert at.selectbox(key="recon_cmap").value == "viridis"
    assert errors(at) == [CORRUPT_SENTENCE]
    assert dict(at.query_params)["recon_cmap"] == "viridis"


def test_lenses_without_a_loading_equivariant_classifier_still_shows_the_cnn(at):
    start(at, kind="lens")
    visit(at, "pages/lenses.py")
    assert at.selectbox(key="lens_model_eq").value == TRUNCATED  # no other equivariant classifier to fall back to
    assert len(errors(at)) == 1 and errors(at)[0].startswith(f"The checkpoint file {TRUNCATED}.pt is unreadable")
    bars = plotly_specs(at)[0]["data"]
    assert [b["name"] for b in bars] == ["lenses-classifier-cnn"]  # the CNN's answer
    kinds = [spec["data"][-1]["type"] for spec in plotly_specs(at)]
    assert kinds == ["bar", "scatter", "heatmap", "table"]  # and its ROC and confusion matrix; the zoo
    assert dict(at.query_params)["lens_model_eq"] == TRUNCATED


def test_equivariance_lab_and_feature_maps_answer_with_the_cnn_beside_a_broken_model(at):
    start(at)
    visit(at, "pages/equivariance.py")
    assert at.selectbox(key="eq_model_eq").value == "disks-ae-d4"
    at.slider(key="eq_angle").set_value(45.0).run()
    at.selectbox(key="eq_model_eq").set_value(CORRUPT).run()
    assert_clean(at)
    assert errors(at) == [CORRUPT_SENTENCE]
    assert [h.value.split(":")[0] for h in at.subheader if "relative error" in h.value] == ["disks-ae-cnn"]
    curves = {t["name"].split(":")[0] for t in plotly_specs(at)[-1]["data"]}
    assert curves == {"disks-ae-cnn"}
    visit(at, "pages/feature_maps.py")
    at.selectbox(key="fm_model_eq").set_value(CORRUPT).run()
    assert_clean(at)
    assert errors(at) == [CORRUPT_SENTENCE] and [h.value for h in at.subheader] == ["disks-ae-cnn"]
    assert len(plotly_specs(at)) == 1  # the CNN's channels
    visit(at, "pages/equivariance.py")
    assert at.slider(key="eq_angle").value == 45.0 and at.selectbox(key="eq_model_eq").value == CORRUPT
    assert dict(at.query_params)["eq_angle"] == "45.0"


def test_latent_map_falls_back_and_a_broken_choice_is_one_sentence(at):
    start(at)
    visit(at, "pages/latent_map.py")
    assert at.selectbox(key="map_model").value == "disks-ae-cnn"
    assert not errors(at) and plotly_specs(at)  # the map of the model that loads
    at.selectbox(key="map_model").set_value(CORRUPT).run()
    assert_clean(at)
    assert errors(at) == [CORRUPT_SENTENCE]
    assert dict(at.query_params)["map_model"] == CORRUPT and dict(at.query_params)["page"] == "latent_map"


def test_batch_evaluation_falls_back_and_never_shows_a_traceback(at):
    at.run()
    visit(at, "pages/batch.py")
    assert at.selectbox(key="batch_model").value == "disks-ae-cnn"  # no data yet: the next disk default, which loads
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=2)
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    assert_clean(at)
    assert at.selectbox(key="batch_model").value == "lenses-classifier-cnn"  # the lens default that loads
    assert not errors(at) and int(at.metric[0].value) == 6
    at.selectbox(key="batch_model").set_value(TRUNCATED).run()
    assert_clean(at)
    assert len(errors(at)) == 1 and errors(at)[0].startswith(f"The checkpoint file {TRUNCATED}.pt is unreadable")
    assert not at.metric
    assert dict(at.query_params)["batch_model"] == TRUNCATED


def test_a_model_that_fails_on_the_image_is_one_sentence_and_the_other_still_answers(at, monkeypatch):
    import ui.inference as inference

    real = inference.reconstruct

    def fails_for_d4(name, *args):
        if name == "disks-ae-d4":
            raise RuntimeError("shape mismatch deep inside the model")
        return real(name, *args)

    monkeypatch.setattr(inference, "reconstruct", fails_for_d4)
    start(at)
    visit(at, "pages/reconstruct.py")
    assert errors(at) == ["disks-ae-d4: Something went wrong on the server (RuntimeError); the details are in the "
                          "server log. Try another model or image, or reload the page."]
    assert [h.value for h in at.subheader] == ["disks-ae-d4", "disks-ae-cnn"]
    assert [m.label for m in at.metric].count("PSNR") == 1


def test_the_models_panel_says_which_models_load_and_why_not(at, broken_index):
    (broken_index / "disks-ae-cnn.pt").unlink()  # a missing file: its sentence names no server folder
    at.run()
    assert_clean(at)
    table = at.sidebar.dataframe[0].value
    assert set(table["model"]) == {"disks-ae-equivariant", "disks-ae-d4", "disks-ae-cnn", TRUNCATED,
                                   "lenses-classifier-cnn"}
    assert dict(zip(table["model"], table["loads"], strict=True))["disks-ae-cnn"] == "not checked"  # lazy: on the button
    at.button(key="models_check").click().run()
    assert_clean(at)
    table = at.sidebar.dataframe[0].value
    loads = dict(zip(table["model"], table["loads"], strict=True))
    assert loads == {"disks-ae-equivariant": "no", "disks-ae-d4": "yes", "disks-ae-cnn": "no", TRUNCATED: "no",
                     "lenses-classifier-cnn": "yes"}
    reasons = [c.value for c in at.sidebar.caption if c.value.startswith(":red[✗]")]
    assert len(reasons) == 3 and f":red[✗] {CORRUPT_SENTENCE}" in reasons
    missing = next(r for r in reasons if "disks-ae-cnn" in r)
    assert missing == ":red[✗] The file disks-ae-cnn.pt cannot be read on this server (No such file or directory)."
    assert not [b for b in at.sidebar.button if b.key == "models_check"]  # every model checked: no button


def test_a_kept_angle_that_the_models_group_cannot_take_falls_back_to_zero(at):
    """A setting kept from another model (C8: 45° steps) that this model's slider cannot take is not an error."""
    start(at)
    at.session_state["fm_angle"] = 45  # as a link or the last visit with a C8 model would leave it
    visit(at, "pages/feature_maps.py")
    assert at.slider(key="fm_angle").value == 0 and not errors(at)
