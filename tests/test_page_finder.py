"""The lens finder on the Lenses page (AppTest): the lens probability of the current image and the stored ROC curves;
the image on each model's training grid (issue 26: pixel scale from the file's WCS or the user's linked field) and
the true class beside each prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pages import APP, CLASSES, TINY, disk_image, open_page, plotly_specs, with_image

torch.set_num_threads(1)

FINDER_CFG = {"group": "C4", "image_size": 33, "fields": (1, 2, 2), "hidden": 8, "n_classes": 2}


def _metrics(auc_easy: float, auc_hard: float, adaptation: str) -> dict:
    grid = np.linspace(0, 1, 11)
    roc = lambda auc: {"fpr": grid.tolist(), "tpr": np.minimum(1, grid ** (1 / auc - 0.99)).tolist()}  # noqa: E731
    return {"macro_auc": auc_easy, "domain_adaptation": adaptation,
            "test": {"auroc": auc_easy, "roc": roc(auc_easy), "positive_class": "lens"},
            "test_target": {"auroc": auc_hard, "roc": roc(auc_hard), "positive_class": "lens"}}


FINDERS = {"lenses-finder-equivariant": ("equivariant_classifier", FINDER_CFG, "lensfinding"),
           "lenses-finder-equivariant-adapted": ("equivariant_classifier", FINDER_CFG, "lensfinding")}
SKY_FINDERS = {"lenses-finder-sky-equivariant": ("equivariant_classifier", FINDER_CFG, "sky"),
               "lenses-finder-sky-cnn": ("cnn_classifier", {"image_size": 33, "channels": (2, 4, 4), "hidden": 8,
                                                            "n_classes": 2}, "sky")}


def _sky_metrics(auc: float) -> dict:
    """What training stores for a finder without a second domain: core.analysis.evaluate.classifier_metrics."""
    return {"macro_auc": auc, "test": {"macro_auc": auc, "per_class_auc": {"lens": auc, "nonlens": auc}}}


def _build_index(folder, finders: dict):
    """Tiny substructure classifiers (the page needs them) and tiny lens finders (`finders`), registered in `folder`."""
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    models = {name: TINY[name] for name in ("lenses-classifier-equivariant", "lenses-classifier-cnn")}
    models.update(finders)
    for i, (name, (model_name, config, generator)) in enumerate(models.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config).eval()
        finder = generator in ("lensfinding", "sky")
        if generator == "sky":
            metrics = _sky_metrics(0.9 + 0.05 * ("cnn" in name))
        elif finder:
            metrics = _metrics(0.97, 0.8 + 0.05 * ("adapted" in name), "dann" if "adapted" in name else "none")
        else:
            metrics = {"micro_auc": 0.5}
        data = {"generator": generator, "n": 12, "size": 64 if finder else 33}
        if generator != "sky":  # the sky simulator has no preset (its manifests name none)
            data["preset"] = "easy" if finder else "project"
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config, state_dict=model.state_dict(),
                               metrics=metrics, data_manifest=data, command="test", history={},
                               classes=["lens", "nonlens"] if finder else ["no_sub", "cdm", "vortex"])
        register(path, name)
    return folder


@pytest.fixture(scope="module")
def finder_index(tmp_path_factory):
    """Tiny substructure classifiers (the page needs one) and two tiny lens finders, with stored ROC points."""
    return _build_index(tmp_path_factory.mktemp("finder_checkpoints"), FINDERS)


@pytest.fixture(scope="module")
def sky_index(tmp_path_factory):
    """The same, with two tiny sky-trained finders besides the lens-finding ones."""
    return _build_index(tmp_path_factory.mktemp("sky_finder_checkpoints"), {**FINDERS, **SKY_FINDERS})


def _app(index, tmp_path, monkeypatch):
    import core.analysis.reference_sets as reference
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(reference, "CACHE", tmp_path.parent / "finder_page_cache")
    monkeypatch.setattr(reference, "REFERENCE_N", {"disks": 12, "lenses": 12, "lensfinding": 8, "sky": 8})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {"disks": 33, "lenses": 33, "lensfinding": 32, "sky": 32})
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=180)


@pytest.fixture
def finder_app(finder_index, tmp_path, monkeypatch):
    return _app(finder_index, tmp_path, monkeypatch)


@pytest.fixture
def sky_app(sky_index, tmp_path, monkeypatch):
    return _app(sky_index, tmp_path, monkeypatch)


def _lens_image() -> np.ndarray:
    from core.data import lensfinding as lf

    rng = np.random.default_rng(0)
    return lf.render(lf.sample_params("easy", "lens", rng, 64), rng)


def test_lenses_page_shows_the_lens_probability_and_the_finder_roc(finder_app):
    at = open_page(with_image(finder_app, _lens_image(), kind="lens"), "pages/lenses.py")
    # the substructure pickers do not offer the finders
    assert "lenses-finder-equivariant" not in at.selectbox(key="lens_model_eq").options
    assert at.selectbox(key="lens_finder").value == "lenses-finder-equivariant"  # the unadapted finder first
    line = next(m.value for m in at.markdown if "Lens probability" in m.value)
    p = float(line.split("Lens probability ")[1].split("**")[0])
    assert 0.0 <= p <= 1.0 and "(lenses-finder-equivariant:" in line
    roc = next(s for s in plotly_specs(at) if "Lens finder ROC" in str(s["layout"].get("title")))
    names = [t["name"] for t in roc["data"]]
    assert names[0] == "chance" and len(names) == 5  # two finders x (easy, hard)
    assert "lenses-finder-equivariant-adapted, hard test (AUC 0.850)" in names
    notes = [c.value for c in at.caption] + [w.value for w in at.warning]
    assert any("percentile" in n or "outside" in n for n in notes)  # the familiarity note of the finder's answer
    at.selectbox(key="lens_finder").set_value("lenses-finder-equivariant-adapted").run()
    assert not at.exception
    assert any("Lens probability" in m.value and "(lenses-finder-equivariant-adapted:" in m.value for m in at.markdown)


def _current(at, image: np.ndarray, header=None, label: str | None = None):
    """`image` as the current lens image: a FITS file with `header` (None: no pixel scale), with a class label."""
    from core.io import read_image
    from core.io.fits_io import fits_bytes

    loaded = read_image(fits_bytes(image, header), "sky.fits")
    at.session_state["current_image"] = {"data": loaded.data, "meta": loaded.meta, "name": "sky.fits", "kind": "lens",
                                         "label": label}
    at.session_state["lens_finder"] = FINDER  # chosen: the default follows familiarity (tests/test_kind_pages.py)
    return at


def _finder_line(at) -> str:
    return next(m.value for m in at.markdown if "Lens probability" in m.value)


def _p(line: str) -> float:
    return float(line.split("Lens probability ")[1].split("**")[0])


def _wide_lens() -> np.ndarray:
    """A simulated lens on a 10″ field at 0.1″ (100 px): wider than the finders' 6.4″."""
    from core.data import lensfinding as lf

    rng = np.random.default_rng(3)
    return lf.render(lf.sample_params("easy", "lens", rng, 100), rng)


@pytest.fixture
def seen(monkeypatch) -> dict:
    """{checkpoint: the image ui.inference.class_probabilities was given last}: what each model saw."""
    import ui.inference as inference

    images: dict = {}
    real = inference.class_probabilities

    def spy(name, sha256, image):
        images[name] = np.array(image)
        return real(name, sha256, image)

    monkeypatch.setattr(inference, "class_probabilities", spy)
    return images


FINDER = "lenses-finder-equivariant"


def test_a_fits_with_a_wcs_is_put_on_the_finders_grid_and_says_so(finder_app, app_script_every_run, seen):
    from test_regrid import wcs_header

    sky = _wide_lens()
    fine = np.kron(sky, np.ones((2, 2), np.float32))  # the same sky at 0.05″: 200 px on a 10″ field
    at = open_page(_current(finder_app, fine, wcs_header(0.05, fine.shape)), "pages/lenses.py")
    captions = [c.value for c in at.caption]
    assert ("Resampled from 0.05″ to 0.10″ per pixel to match the model's grid; the central 6.4″ field is used."
            in captions)
    assert not any("carries no pixel scale" in c for c in captions)
    assert not [w for w in at.number_input if w.key == "lens_pixel_scale"]  # the file gives the scale: no field
    assert np.allclose(seen[FINDER], sky[18:82, 18:82], rtol=1e-5, atol=1e-4)  # the central 6.4″ at 0.1″
    assert seen["lenses-classifier-equivariant"].shape == (33, 33)  # 7.5″ at 7.5/33″ per pixel: its own grid
    open_page(_current(finder_app, fine), "pages/lenses.py")  # the same pixels without a WCS
    assert np.array_equal(seen[FINDER], fine)  # go as they are


def test_an_image_without_a_pixel_scale_gets_a_note_and_a_linked_field(finder_app, app_script_every_run, seen):
    sky = _wide_lens()
    fine = np.kron(sky, np.ones((2, 2), np.float32))
    at = open_page(_current(finder_app, fine), "pages/lenses.py")
    assert any("carries no pixel scale" in c.value for c in at.caption)
    assert any(c.value.startswith("This image has no pixel scale, so its pixels go to the model as they are (it was "
                                  "trained at 0.10″ per pixel on a 6.4″ field)") for c in at.caption)
    assert np.array_equal(seen[FINDER], fine)
    at.number_input(key="lens_pixel_scale").set_value(0.05).run()
    assert not at.exception
    assert any(c.value.startswith("Resampled from 0.05″ (the pixel scale you set) to 0.10″ per pixel") for c in at.caption)
    assert np.allclose(seen[FINDER], sky[18:82, 18:82], rtol=1e-5, atol=1e-4)  # the field changed the model's input
    assert dict(at.query_params)["lens_pixel_scale"] == "0.05"  # and the page's link carries it


def test_the_pixel_scale_in_a_link_is_checked_like_its_field():
    from ui import state

    spec = state.SETTINGS["lens_pixel_scale"]
    assert spec.check(0.05, "0.05") == (0.05, None)
    value, said = spec.check(5.0, "5")
    assert value == 1.0 and "above its maximum of 1.0" in said
    assert spec.check("abc", "abc")[0] == 0.0


def test_the_data_pages_facts_say_where_the_pixel_scale_comes_from():
    from ui.image_panel import pixel_scale_fact

    assert pixel_scale_fact(0.05) == "0.05 arcsec/px"
    assert pixel_scale_fact(None).startswith("none in the file: lens models see its pixels as they are")
    assert "the 0.04 arcsec/px you set on the Lenses page" in pixel_scale_fact(None, 0.04)


def test_the_true_class_stands_beside_each_prediction(finder_app):
    at = open_page(_current(finder_app, _lens_image(), label="cdm"), "pages/lenses.py")
    line = _finder_line(at)
    assert line.endswith("· true class: lens ✓") or line.endswith("· true class: lens ✗")  # every cdm image is a lens
    assert ("✓" in line) == (_p(line) >= 0.5)
    answers = [m.value for m in at.markdown if m.value.startswith("**lenses-classifier-") and "true class" in m.value]
    assert len(answers) == 2 and all(a.split("**: ")[1].split(" (")[0] in CLASSES for a in answers)
    assert all(a.endswith("· true class: cdm ✓" if " cdm (" in a else "· true class: cdm ✗") for a in answers)
    at = open_page(_current(finder_app, _lens_image()), "pages/lenses.py")  # no label: no truth shown
    assert "true class" not in _finder_line(at)
    assert not any("true class" in m.value for m in at.markdown)


def test_lenses_page_without_finders_says_how_to_train_one(finder_app, monkeypatch):
    import ui.finder as finder

    monkeypatch.setattr(finder, "finder_entries", lambda: [])
    at = open_page(with_image(finder_app, disk_image(), kind="lens"), "pages/lenses.py")
    assert any("lenses-finder-equivariant.toml" in c.value for c in at.caption)


# ------------------------------------------------------------------ sky-trained finders (core.data.sky)


def _alike(monkeypatch, percentiles: dict | None = None):
    """Every finder's familiarity at the same percentile (or `percentiles`' for the named ones)."""
    import ui.familiarity
    from core.analysis.familiarity import Familiarity

    def fam(entry, image):
        p = (percentiles or {}).get(entry["name"], 30.0)
        return Familiarity(distance=1.0, percentile=p, familiar=p <= 99, k=5, n_reference=8)

    monkeypatch.setattr(ui.familiarity, "familiarity_of", fam)


def test_sky_finders_are_listed_and_offered_first_where_familiarity_is_alike(sky_app, monkeypatch):
    _alike(monkeypatch)
    at = open_page(with_image(sky_app, _lens_image(), kind="lens"), "pages/lenses.py")
    assert not at.exception
    box = at.selectbox(key="lens_finder")
    assert set(box.options) == {*FINDERS, *SKY_FINDERS}
    assert box.value == "lenses-finder-sky-cnn"  # sky first, the better on its own test set (0.95 > 0.90)
    assert "(lenses-finder-sky-cnn:" in _finder_line(at)
    assert not any("lenses-finder-sky" in m for m in at.selectbox(key="lens_model_eq").options)  # not a substructure model
    table = next(s["data"][0] for s in plotly_specs(at)
                 if s["data"][0].get("type") == "table" and "trained on" in s["data"][0]["header"]["values"])
    cells, columns = table["cells"]["values"], table["header"]["values"]
    row = cells[0].index("lenses-finder-sky-cnn")
    assert cells[columns.index("trained on")][row] == "sky (HST / Euclid-like)"
    assert float(cells[columns.index("AUROC own test")][row]) == pytest.approx(0.95)


def test_the_finder_offered_first_is_still_the_most_familiar_one(sky_app, monkeypatch):
    _alike(monkeypatch, {"lenses-finder-equivariant": 5.0, "lenses-finder-sky-cnn": 100.0})
    at = open_page(with_image(sky_app, _lens_image(), kind="lens"), "pages/lenses.py")
    assert at.selectbox(key="lens_finder").value == "lenses-finder-equivariant"


def test_a_sky_finder_is_judged_against_a_small_simulated_sky_set_on_its_grid(sky_index, tmp_path, monkeypatch):
    """Its reference set is the sky simulator's (simulated on first use, cached), and its grid the finders' 0.1″."""
    import core.analysis.reference_sets as reference
    import core.checkpoints as ck
    from core.analysis.model_choice import data_of

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", sky_index)
    monkeypatch.setattr(reference, "CACHE", tmp_path)
    monkeypatch.setattr(reference, "REFERENCE_N", {**reference.REFERENCE_N, "sky": 8})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {**reference.REFERENCE_SIZE, "sky": 32})
    entry = next(e for e in ck.list_checkpoints() if e["name"] == "lenses-finder-sky-equivariant")
    assert data_of(entry) == "sky" and reference.preset_for(entry["name"], "sky") == "project"
    assert entry["grid"]["arcsec_per_pixel"] == 0.1 and entry["grid"]["image_size"] == 64
    folder = reference.folder_for(entry["name"], "sky")
    assert folder.name.startswith("sky-v") and "-n8-s32-" in folder.name
    latents = reference.reference_latents(ck.load_model(entry["name"]), "sky")
    assert latents.z.shape[0] == 8 and sorted(set(latents.labels)) == ["lens", "nonlens"]
    assert (folder / "manifest.json").is_file()  # cached: the next server reads it


def test_a_fits_with_a_wcs_is_put_on_a_sky_finders_grid(sky_app, app_script_every_run, seen):
    from test_regrid import wcs_header

    sky = _wide_lens()
    fine = np.kron(sky, np.ones((2, 2), np.float32))
    at = _current(sky_app, fine, wcs_header(0.05, fine.shape))
    at.session_state["lens_finder"] = "lenses-finder-sky-equivariant"
    at = open_page(at, "pages/lenses.py")
    assert not at.exception
    assert np.allclose(seen["lenses-finder-sky-equivariant"], sky[18:82, 18:82], rtol=1e-5, atol=1e-4)
