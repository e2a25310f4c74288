"""Shareable views (ui/share.py): the query parameters carry the page, the image and the main settings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ui.share import decode, encode

TIMEOUT = 120


@pytest.fixture(autouse=True)
def _app_py_every_run(app_script_every_run):
    """app.py applies and writes the link: run it on every AppTest run (conftest.app_script_every_run)."""


def open_link(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def current(at: AppTest) -> dict:
    return at.session_state["current_image"]


def test_encode_decode_round_trip():
    for value in (3, 45.0, True, "vortex", "lenses-classifier-equivariant"):
        assert decode(encode(value)) == value and type(decode(encode(value))) is type(value)


def test_a_view_written_by_one_session_reopens_in_another():
    at = open_link({})
    at.session_state["data_tab"] = "Simulate"
    at.run()
    at.radio(key="sim_kind").set_value("lens").run()
    at.selectbox(key="sim_lens_sub").set_value("vortex").run()
    at.number_input(key="sim_lens_seed").set_value(7).run()
    at.slider(key="sim_lens_theta").set_value(1.5).run()
    at.button(key="sim-lens-use").click().run()
    at.switch_page("pages/train.py").run()
    link = dict(at.query_params)
    assert link["page"] == "train" and link["sim"] == "lens"
    assert link["sim_lens_sub"] == "vortex" and link["sim_lens_seed"] == "7" and link["sim_lens_theta"] == "1.5"

    other = open_link(link)  # a reviewer opens the link: same page, same image
    assert [t.value for t in other.title] == ["Train"]
    image = current(other)
    assert image["name"] == current(at)["name"] == "simulated_lens_vortex_seed7.fits"
    np.testing.assert_array_equal(image["data"], current(at)["data"])
    assert [e.name for e in other.session_state["image_list"]] == ["simulated_lens_vortex_seed7.fits"]
    other.switch_page("pages/data.py").run()  # the Data page opens on the tab that made the image, as it was set
    assert other.slider(key="sim_lens_theta").value == 1.5 and other.selectbox(key="sim_lens_sub").value == "vortex"


def test_an_example_and_a_setting_in_the_link():
    at = open_link({"example": "lens_cdm.npy", "eq_angle": "45.0", "page": "train"})
    assert current(at)["name"] == "lens_cdm.npy" and current(at)["kind"] == "lens"
    assert at.session_state["eq_angle"] == 45.0
    assert [t.value for t in at.title] == ["Train"]
    at.switch_page("pages/data.py").run()  # the Examples tab shows the linked example as current
    assert at.selectbox(key="data_example").value.startswith("Lens with CDM")
    assert at.button(key="ex-lens_cdm.npy-use").label == "Current image ✓"
    assert at.query_params.get("example") == "lens_cdm.npy" and "page" not in at.query_params


def test_a_broken_link_says_so_and_opens_the_data_page():
    at = open_link({"example": "no_such_file.npy", "page": "nowhere"})
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 2 and "no shipped example named" in warnings[0] and "'nowhere' does not exist" in warnings[1]
    assert [t.value for t in at.title] == ["Data"] and "current_image" not in at.session_state


def test_an_uploaded_image_is_named_in_the_link_and_the_sidebar_says_it_does_not_travel():
    """Uploads cannot travel in a URL; the share note says so and the link asks for the file by name."""
    import io

    from astropy.io import fits

    at = open_link({})
    assert any("Share this view" in c.value and "an uploaded file would not travel" in c.value for c in at.sidebar.caption)
    buf = io.BytesIO()
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(20, 20)).astype(np.float32)).writeto(buf)
    at.file_uploader[0].set_value([("my_disk.fits", buf.getvalue(), "application/fits")]).run()
    at.switch_page("pages/train.py").run()
    link = dict(at.query_params)
    assert link["upload"] == "my_disk.fits" and link["page"] == "train"
    assert "example" not in link and "sim" not in link
    notes = [c.value for c in at.sidebar.caption if "Share this view" in c.value]
    assert notes and "but not the current image, my\\_disk\\.fits" in notes[-1]

    other = open_link(link)  # the reviewer: same page, no image, and a sentence naming the file to upload
    assert [t.value for t in other.title] == ["Train"] and "current_image" not in other.session_state
    warnings = [w.value for w in other.sidebar.warning]
    assert len(warnings) == 1 and "made with an uploaded file, my\\_disk\\.fits, which a link cannot carry" in warnings[0]


def test_an_example_link_says_what_it_carries_also_on_a_page_that_stops_early():
    at = open_link({"example": "lens_cdm.npy"})
    assert any("reopens this page, the example, and its settings" in c.value for c in at.sidebar.caption)
    blank = open_link({"page": "reconstruct"})  # no image: the page stops after its hint
    assert blank.info and any("Share this view" in c.value for c in blank.sidebar.caption)
