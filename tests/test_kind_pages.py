"""The kind check on the pages (ui/familiarity.py): every answer's notes combine it with familiarity; the lens
finder offered first is the one the image is most familiar to (core/analysis/model_choice.py); each model's
familiarity is measured against its own training distribution (core/analysis/reference_sets.py)."""

from __future__ import annotations

import kind_examples as ke
import numpy as np
import pytest
from test_page_finder import FINDER, _lens_image, finder_app, finder_index  # noqa: F401  (fixtures)
from test_pages import APP, open_page, with_image

from core.analysis.familiarity import Familiarity
from core.analysis.model_choice import most_familiar_first


def fam(percentile: float) -> Familiarity:
    return Familiarity(distance=1.0, percentile=percentile, familiar=percentile <= 99, k=5, n_reference=100)


def upload(image: np.ndarray, name: str = "upload.fits", **cards) -> dict:
    """`image` as the current image dict of an uploaded FITS file (ui.image_list.select's keys)."""
    from astropy.io import fits

    from core.io import read_image
    from core.io.fits_io import fits_bytes

    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    loaded = read_image(fits_bytes(np.asarray(image, np.float32), header), name)
    return {"data": loaded.data, "meta": loaded.meta, "name": name, "kind": None, "source": "upload", "label": None}


FINDER_ENTRY = {"name": "lenses-finder-equivariant", "kind": "classifier", "classes": ["lens", "nonlens"],
                "data": {"generator": "lensfinding", "preset": "easy"}}
SKY_ENTRY = {"name": "lenses-finder-sky-equivariant", "kind": "classifier", "classes": ["lens", "nonlens"],
             "data": {"generator": "sky"}}
LENS_ENTRY = {"name": "lenses-model2-equivariant", "kind": "classifier", "data": {"generator": "lenses"}}
DISK_ENTRY = {"name": "disks-ae-equivariant", "kind": "autoencoder", "data": {"generator": "disks"}}


@pytest.fixture
def answering(monkeypatch):
    """ui.familiarity with every model's familiarity at the 24th percentile and every finder saying 'lens'."""
    from ui import familiarity

    monkeypatch.setattr(familiarity, "familiarity_of", lambda entry, image: fam(24.0))
    monkeypatch.setattr(familiarity, "finder_answer", lambda entry, image: "lens")
    monkeypatch.setattr(familiarity, "_poor_fit", lambda entry, image: None)
    return familiarity


def test_a_finders_lens_on_an_uploaded_galaxy_is_flagged_not_familiar(answering):
    """Issue 26: a COSMOS spiral got 'lens, p = 1.00 (CNN), familiar 24th percentile'."""
    for image in (ke.galaxy(0, "spiral"), ke.galaxy(1, "elliptical"), ke.finding(0, "nonlens")):
        notes = answering.notes_for(FINDER_ENTRY, upload(image, TELESCOP="HST"))
        assert notes[0].level == "warning" and notes[0].text.startswith("Kind check: a galaxy")
        assert "not confirmed" in notes[0].text and "optical telescope (HST)" in notes[0].text
        assert not any(n.text.startswith("Familiar input") for n in notes)


def test_a_sky_finders_lens_on_an_uploaded_galaxy_stands_and_its_familiarity_speaks(answering):
    """A sky-trained finder makes the lens-vs-galaxy call: the kind check leans, it does not overrule."""
    for image in (ke.galaxy(0, "spiral"), ke.sky(0, "nonlens"), ke.sky(0, "lens")):
        notes = answering.notes_for(SKY_ENTRY, upload(image, TELESCOP="HST"))
        assert [n.level for n in notes] == ["info", "info"]
        assert notes[0].text.startswith("Kind check: an optical galaxy or lens") and "log-odds lens/galaxy" in notes[0].text
        assert "optical telescope (HST)" in notes[0].text and notes[1].text.startswith("Familiar input")
    (warning, not_familiar) = answering.notes_for(SKY_ENTRY, upload(ke.velocity(4)))
    assert warning.level == "warning" and "out of kind" in warning.text
    assert not_familiar.text.startswith("Not called familiar")


@pytest.mark.parametrize("entry, image", [(LENS_ENTRY, lambda: ke.galaxy(0, "merger")),
                                          (DISK_ENTRY, lambda: ke.velocity(3)),
                                          (FINDER_ENTRY, lambda: ke.velocity(4)),
                                          (SKY_ENTRY, lambda: ke.disk(4))])
def test_an_out_of_kind_upload_is_flagged_on_every_model_page(answering, entry, image):
    notes = answering.notes_for(entry, upload(image()))
    assert notes[0].level == "warning" and "out of kind" in notes[0].text
    assert notes[1].text.startswith("Not called familiar: its latent lies at the 24th percentile")


def test_the_apps_own_simulation_is_its_kind_and_stays_familiar(answering):
    image = {**upload(ke.disk(0)), "source": "simulation", "kind": "disk"}
    notes = answering.notes_for(DISK_ENTRY, image)
    assert [n.level for n in notes] == ["info", "info"]
    assert notes[0].text == "Kind check: a protoplanetary disk — the app simulated it as a protoplanetary disk."
    assert notes[1].text.startswith("Familiar input")
    (warning, _) = answering.notes_for(LENS_ENTRY, image)  # the app's disk on a lens model
    assert warning.level == "warning" and "out of kind" in warning.text


def test_the_kind_is_judged_on_the_file_not_on_a_models_view(answering, monkeypatch):
    """The Lenses page passes each model's grid view of the current image; the kind check reads the file as loaded."""
    import ui.familiarity
    import ui.state

    current = upload(ke.velocity(5), BUNIT="km/s")
    monkeypatch.setattr(ui.state, "get_current_image", lambda: current)
    view = {**current, "data": np.ones((64, 64), np.float32)}  # a view that shows nothing
    check = ui.familiarity.kind_check_of(view)
    assert check.kind == "velocity" and "BUNIT = km/s" in check.reason


def test_the_map_side_panel_never_calls_an_out_of_kind_latent_familiar(answering):
    notes = answering.map_notes(upload(ke.velocity(6)), "lenses", fam(30.0))
    assert notes[0].level == "warning" and not any("Familiar input" in n.text for n in notes)
    notes = answering.map_notes(upload(ke.lens(0, "deeplense-model2")), "lenses", fam(30.0))
    assert [n.level for n in notes] == ["info", "info"] and notes[1].text.startswith("Familiar input")


# ------------------------------------------------------------------ the finder offered first


def test_the_most_familiar_checkpoint_comes_first_and_the_pages_order_breaks_ties():
    order = [2, 0, 1]
    assert most_familiar_first(order, {0: fam(80), 1: fam(5), 2: fam(40)}) == [1, 2, 0]
    assert most_familiar_first(order, {0: fam(41), 1: fam(47), 2: fam(44)}) == [2, 0, 1]  # alike: the page's order
    assert most_familiar_first(order, {0: fam(100), 1: fam(99), 2: fam(100)}) == [1, 2, 0]  # familiar first
    assert most_familiar_first(order, {0: None, 1: fam(60)}) == [1, 2, 0]  # unknown ones last
    assert most_familiar_first(order, {}) == order  # no familiarity at all: the fallback


def test_the_lens_finder_offered_first_is_the_one_the_image_is_most_familiar_to(finder_app, monkeypatch):  # noqa: F811
    import ui.familiarity

    percentiles = {"lenses-finder-equivariant": 90.0, "lenses-finder-equivariant-adapted": 10.0}
    monkeypatch.setattr(ui.familiarity, "familiarity_of", lambda entry, image: fam(percentiles.get(entry["name"], 50.0)))
    at = open_page(with_image(finder_app, _lens_image(), kind="lens"), "pages/lenses.py")
    assert at.selectbox(key="lens_finder").value == "lenses-finder-equivariant-adapted"
    percentiles.update({"lenses-finder-equivariant": 12.0, "lenses-finder-equivariant-adapted": 15.0})  # alike
    from streamlit.testing.v1 import AppTest

    at = open_page(with_image(AppTest.from_file(APP, default_timeout=180), _lens_image(), kind="lens"), "pages/lenses.py")
    assert at.selectbox(key="lens_finder").value == FINDER  # the unadapted finder, as before


# ------------------------------------------------------------------ each model's own training distribution


def test_each_checkpoint_is_judged_against_its_own_training_distribution(monkeypatch):
    import core.checkpoints
    from core.analysis import reference_sets

    index = [{"name": "finder", "data": {"generator": "lensfinding", "preset": "easy"},
              "metrics": {"domain_adaptation": "none"}},
             {"name": "finder-adabn", "data": {"generator": "lensfinding", "preset": "easy"},
              "metrics": {"domain_adaptation": "adabn"}},
             {"name": "disks-v2", "data": {"generator": "disks", "preset": "dsharp-figures", "size": 129}},
             {"name": "disks-v1", "data": {"generator": "disks", "preset": None, "size": 129}},
             {"name": "model2", "data": {"generator": "lenses", "preset": "deeplense-model2"}}]
    monkeypatch.setattr(core.checkpoints, "list_checkpoints", lambda *a, **k: index)
    assert reference_sets.preset_for("finder", "lensfinding") == "easy"
    assert reference_sets.preset_for("finder-adabn", "lensfinding") == "hard"  # its batch norm follows the hard domain
    assert reference_sets.preset_for("disks-v1", "disks") == "project"
    assert reference_sets.preset_for("model2", "lenses") == "deeplense-model2"
    assert reference_sets.preset_for("disks-v2", "disks") == "dsharp-figures"  # the DSHARP-like family it learned
    folder = reference_sets.folder_for("disks-v2", "disks").name
    assert folder.startswith("disks-dsharp-figures-") and "-s129-" in folder  # its own family at its own 129 px
    assert reference_sets.folder_for("disks-v1", "disks").name.startswith("disks-v")


def test_a_disk_models_familiarity_sees_the_disk_cut_out_as_it_reconstructs_it():
    from ui import familiarity

    entry = next(e for e in __import__("core.checkpoints", fromlist=["x"]).list_checkpoints()
                 if e["name"] == "disks-ae-equivariant")
    wide = np.zeros((400, 400), np.float32)
    wide[136:265, 136:265] = ke.disk(0)  # a disk in a wide empty field
    image = upload(wide)
    seen = familiarity._model_view(entry, image)
    assert seen.shape == (129, 129) and seen.max() <= 1.0  # the cutout on the model grid, as Reconstruct cuts it
    assert familiarity._model_view(LENS_ENTRY, image) is image["data"]  # a lens page passes its own grid view


def test_a_kind_the_user_chose_stands_and_the_pixels_view_is_said_beside_it(answering):
    image = {**upload(ke.galaxy(0, "spiral")), "kind": "lens"}  # "This image shows: strong lens" on the Data page
    notes = answering.notes_for(LENS_ENTRY, image)
    assert [n.level for n in notes] == ["info", "info"] and notes[1].text.startswith("Familiar input")
    assert notes[0].text.startswith("Kind check: a strong lens — the image list says so, though its pixels look "
                                    "like a galaxy")
    notes = answering.notes_for(DISK_ENTRY, image)
    assert notes[0].text == ("The current image is a strong lens, but this model was trained on simulated disks; its "
                             "output says little about it.")
    assert not any(n.text.startswith("Familiar input") for n in notes)
