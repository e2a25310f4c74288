"""The Data page in AppTest (streamlit 1.67 drives st.file_uploader with set_value), plus its helpers.

A real browser upload is covered by tests/test_e2e_browser.py.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from astropy.io import fits
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core.io import read_image
from core.settings import settings
from ui.images import STRETCHES, stretch_image, stretch_limits

TIMEOUT = 120  # seconds per script run: first imports (astropy, plotly, lenstronomy) are slow on 2 shared cores
RNG = np.random.default_rng(3)


def fits_upload(name: str, data: np.ndarray, **cards) -> tuple[str, bytes, str]:
    hdu = fits.PrimaryHDU(data.astype(np.float32))
    for key, value in cards.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return (name, buf.getvalue(), "application/fits")


DISK = fits_upload(
    "disk.fits", RNG.normal(size=(40, 50)), BUNIT="Jy/beam", BMAJ=2.0e-5, BMIN=1.0e-5, BPA=-80.0
)
BAD = ("notes.fits", b"this is a text file, not FITS\n", "application/fits")


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def current(at: AppTest) -> dict | None:
    return at.session_state["current_image"] if "current_image" in at.session_state else None


def open_tab(at: AppTest, label: str) -> AppTest:
    """Select a Data page tab, as a click does (the tabs rerun the page and only the open one is drawn)."""
    at.session_state["data_tab"] = label
    return at.run()


def test_app_boots_on_the_data_page(app):
    assert [t.value for t in app.title] == ["Data"]
    assert [t.label for t in app.tabs] == ["Upload", "Examples", "Simulate"]
    assert any("None yet" in c.value for c in app.sidebar.caption)
    assert any("Current image: none yet" in c.value for c in app.caption)
    assert app.file_uploader[0].accept_multiple_files
    assert {".fits", ".npy", ".npz", ".png", ".jpg", ".tiff"} <= set(
        app.file_uploader[0].allowed_type
    )


def test_uploaded_fits_is_displayed_with_units_and_becomes_current(app):
    app.file_uploader[0].set_value([DISK]).run()
    assert not app.exception and not app.error
    text = markdown_text(app)
    assert "**disk\\.fits**" in text and "Jy/beam" in text
    assert '0\\.072" × 0\\.036", PA \\-80°' in text  # BMAJ/BMIN in deg shown in arcsec
    disk_chart = next(
        s for s in chart_specs(app) if s["data"][0]["colorbar"]["title"]["text"] == "Jy/beam"
    )
    assert (
        disk_chart["data"][0]["z"]["shape"] == "40, 50"
    )  # every pixel is sent (ui/viewer: uint8 levels, the hover reading the original values)
    image = current(app)
    assert (
        image["name"] == "disk.fits" and image["kind"] == "disk" and image["data"].shape == (40, 50)
    )
    np.testing.assert_allclose(image["data"], read_image(DISK[1], "disk.fits").data)


def test_bad_upload_shows_one_sentence_and_the_good_upload_stays(app):
    app.file_uploader[0].set_value([DISK]).run()
    n_charts = len(app.get("plotly_chart"))
    app.file_uploader[0].set_value([DISK, BAD]).run()
    assert not app.exception
    assert [e.value for e in app.error] == [
        "notes\\.fits is not a FITS file \\(it does not start with the FITS keyword SIMPLE, so it may be text "
        "or another format renamed\\); upload a FITS \\(\\.fits/\\.fit/\\.fts, also gzipped\\), NumPy \\(\\.npy/\\.npz\\), PNG, "
        "JPEG or TIFF file\\."
    ]
    assert "**disk\\.fits**" in markdown_text(app) and len(app.get("plotly_chart")) == n_charts
    assert current(app)["name"] == "disk.fits"


def test_cube_offers_a_plane_selector_and_the_plane_becomes_the_current_image(app):
    cube = np.stack([RNG.normal(size=(20, 24)) + 10 * k for k in range(3)])
    app.file_uploader[0].set_value([fits_upload("cube.fits", cube)]).run()
    assert "plane 0 of 3" in markdown_text(app)
    assert current(app)["data"].mean() == pytest.approx(cube[0].mean(), abs=1e-4)
    plane = next(n for n in app.number_input if n.label == "Plane")
    assert (plane.min, plane.max, plane.step) == (0, 2, 1)
    plane.set_value(2).run()
    assert not app.exception and "plane 2 of 3" in markdown_text(app)
    assert current(app)["data"].mean() == pytest.approx(cube[2].mean(), abs=1e-4)
    assert len(app.session_state["image_list"]) == 1  # the same entry, read again


def test_a_cube_declaring_millions_of_planes_gets_a_number_input_not_a_list(app):
    """Regression: the plane picker listed every plane (`list(range(n_planes))`); 1e7 planes crashed the tab.

    The image list's entry is told its cube has that many planes (core.io caps what a file may declare;
    the picker must hold whatever count it is given)."""
    cube = np.stack([RNG.normal(size=(8, 8)) + 10 * k for k in range(3)])
    app.file_uploader[0].set_value([fits_upload("cube.fits", cube)]).run()
    (entry,) = app.session_state["image_list"]
    for n_planes in (200_000, 10_000_000):
        entry.loaded.meta.n_planes = n_planes
        app.run()
        assert not app.exception and not any(s.label == "Plane" for s in app.selectbox)
        (plane,) = [n for n in app.number_input if n.label == "Plane"]
        assert (plane.value, plane.min, plane.max) == (0, 0, n_planes - 1)
    plane.set_value(1).run()  # a plane the file really has: read as usual
    assert not app.exception and not app.error
    assert current(app)["data"].mean() == pytest.approx(cube[1].mean(), abs=1e-4)


def test_only_the_open_tab_is_drawn_and_the_closed_tabs_keep_their_settings(app):
    assert app.file_uploader and not app.get("slider") and not app.get("plotly_chart")
    open_tab(app, "Simulate")
    assert not app.file_uploader and app.get("plotly_chart")  # the simulated image, and nothing of the Upload tab
    app.slider(key="sim_disk_inc").set_value(60.0).run()
    open_tab(app, "Upload")
    assert not app.get("slider")
    open_tab(app, "Simulate")
    assert app.slider(key="sim_disk_inc").value == 60.0


def test_simulated_disk_follows_the_sliders_and_can_be_used(app):
    open_tab(app, "Simulate")
    before = chart_specs(app)
    app.slider(key="sim_disk_n").set_value(0).run()
    assert not app.exception and chart_specs(app) != before
    app.slider(key="sim_disk_inc").set_value(60.0).run()
    app.button(key="sim-disk-use").click().run()
    image = current(app)
    assert image["kind"] == "disk" and image["data"].shape == (129, 129)
    assert image["meta"].pixel_scale_arcsec == pytest.approx(220.0 / 140.0 / 129)
    assert image["meta"].beam[0] == pytest.approx(0.04)
    assert ("HISTORY", "param inclination_deg = 60.0", "") in image["meta"].header


def test_simulated_lens_and_examples(app):
    open_tab(app, "Simulate")
    app.radio(key="sim_kind").set_value("lens").run()
    assert not app.exception
    app.selectbox(key="sim_lens_sub").set_value("vortex").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    app.button(key="sim-lens-use").click().run()
    assert current(app)["kind"] == "lens" and current(app)["data"].shape == (150, 150)
    open_tab(app, "Examples")
    example = next(t for t in app.selectbox(key="data_example").options if "CDM" in t)
    app.selectbox(key="data_example").set_value(example).run()
    app.button(key="ex-lens_cdm.npy-use").click().run()
    assert current(app)["name"] == "lens_cdm.npy" and current(app)["kind"] == "lens"


def test_hostile_file_name_is_shown_literally(app):
    name = "[click](https:example.org) $x$.fits"
    app.file_uploader[0].set_value([(name, b"not fits", "application/fits")]).run()
    (error,) = app.error
    assert error.value.startswith(
        "\\[click\\]\\(https\\:example\\.org\\) \\$x\\$\\.fits is not a FITS file"
    )


# ---------------------------------------------------------------- stretches


@pytest.mark.parametrize("stretch", STRETCHES)
def test_stretches_map_into_unit_interval_monotonically(stretch):
    image = np.linspace(-1.0, 3.0, 400, dtype=np.float32).reshape(20, 20)
    out = stretch_image(image, stretch)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(np.diff(out.ravel()) >= 0)  # order of brightness kept
    if stretch != "z-scale":
        assert (out.min(), out.max()) == (0.0, 1.0)


def test_linear_limits_are_the_images_min_and_max():
    assert stretch_limits(np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10), "linear") == (0.0, 1.0)


def test_image_colours_avoid_streamlit_placeholder_colours(app):
    """Streamlit's front end swaps "#000001".."#000020" for theme colours (Inferno's black was one)."""
    import re

    placeholder = re.compile(r"#0000[0-2][0-9]", re.IGNORECASE)
    specs = chart_specs(open_tab(app, "Simulate")) + chart_specs(open_tab(app, "Examples"))
    assert specs and all(not placeholder.search(json.dumps(s["data"])) for s in specs)


def npy_upload(name: str, array: np.ndarray) -> tuple[str, bytes, str]:
    buf = io.BytesIO()
    np.save(buf, array)
    return (name, buf.getvalue(), "application/octet-stream")


def test_multiband_npy_can_show_one_band_and_go_back_to_the_sum(app):
    bands = np.stack([RNG.normal(size=(16, 16)) + 100 * k for k in range(3)]).astype(np.float32)
    app.file_uploader[0].set_value([npy_upload("bands.npy", bands)]).run()
    assert "plane sum of 3" in markdown_text(app)
    band = next(s for s in app.selectbox if s.label == "Band")
    band.set_value(1).run()
    assert "plane 1 of 3" in markdown_text(app)
    band = next(s for s in app.selectbox if s.label == "Band")
    assert band.options[0] == "sum of bands"
    band.set_value("sum of bands").run()
    assert not app.exception and "plane sum of 3" in markdown_text(app)


def test_fits_with_several_image_hdus_offers_an_hdu_selector(app):
    hdul = fits.HDUList([fits.PrimaryHDU(RNG.normal(size=(3, 8, 8)).astype(np.float32)),
                         fits.ImageHDU(RNG.normal(size=(12, 12)).astype(np.float32))])  # fmt: skip
    buf = io.BytesIO()
    hdul.writeto(buf)
    app.file_uploader[0].set_value(
        [("mef.fits", buf.getvalue(), "application/fits")]
    ).run()
    assert "HDU 0, plane 0 of 3" in markdown_text(app)
    next(n for n in app.number_input if n.label == "Plane").set_value(2).run()
    next(s for s in app.selectbox if s.label == "FITS HDU").set_value(1).run()
    assert not app.exception and "FITS \\(HDU 1\\)" in markdown_text(app)
    assert not any(n.label == "Plane" for n in app.number_input)


def test_pixel_limit_comes_from_the_settings(monkeypatch):
    monkeypatch.setenv("EQUISCOPE_MAX_PIXELS", "100")
    settings.cache_clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
        at.run()
        at.file_uploader[0].set_value([DISK]).run()
        (error,) = at.error
        assert "disk\\.fits is 40 x 50 pixels, more than the limit of 100 pixels" in error.value
    finally:
        monkeypatch.delenv("EQUISCOPE_MAX_PIXELS")
        settings.cache_clear()


def test_the_data_page_draws_the_viewer_with_ra_dec_beam_cuts_and_colour_maps(app):
    """The Data page shows the image in ui/viewer (RA/Dec hover, beam, cut, colour map)."""
    wcs = dict(CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=150.0, CRVAL2=-30.0, CRPIX1=25.0, CRPIX2=20.0,
               CDELT1=-1e-5, CDELT2=1e-5, CUNIT1="deg", CUNIT2="deg")
    upload = fits_upload("wcs.fits", RNG.normal(size=(40, 50)), BUNIT="Jy/beam", BMAJ=6e-5, BMIN=3e-5, BPA=30.0, **wcs)
    app.file_uploader[0].set_value([upload]).run()
    assert not app.exception and not app.error
    (spec,) = [s for s in chart_specs(app) if s["data"][0].get("colorbar", {}).get("title", {}).get("text") == "Jy/beam"]
    heat = spec["data"][0]
    assert "ΔRA %{customdata[1]" in heat["hovertemplate"] and "x %{x} px" in heat["hovertemplate"]
    assert any(t.get("name") == "beam" for t in spec["data"])
    assert spec["layout"]["yaxis"]["scaleanchor"] == "x"  # square pixels
    cmap = next(s for s in app.selectbox if s.label == "Colour map")
    cmap.set_value("gray").run()
    cut = next(s for s in app.selectbox if s.label == "Cut")
    cut.set_value("99 %").run()
    assert not app.exception
    (spec,) = [s for s in chart_specs(app) if s["data"][0].get("colorbar", {}).get("title", {}).get("text") == "Jy/beam"]
    heat = spec["data"][0]
    assert heat["colorscale"][0][1] in ("#000000", "rgb(0, 0, 0)") and heat["colorscale"][-1][1] in ("#ffffff", "rgb(255, 255, 255)")
    image = current(app)["data"]
    assert heat["meta"]["cut"][1] == pytest.approx(float(np.percentile(image, 99.5)), rel=1e-4)
    assert heat["meta"]["cut"][1] < image.max()


# ---------------------------------------------------------------- hostile names, sizes, zips; the plane download


def test_a_markdown_name_is_shown_literally_in_the_current_image_caption(app):
    """Regression: "Current image: **<name>**" rendered the file's name as Markdown (links, LaTeX)."""
    from ui.markdown import md_escape

    name = "[click](https:evil.example) $x^2$ *b*.npy"
    app.file_uploader[0].set_value([npy_upload(name, RNG.normal(size=(12, 14)).astype(np.float32))]).run()
    assert not app.exception and not app.error and current(app)["name"] == name
    badges = [c.value for c in app.caption if c.value.startswith("Current image:")]
    assert badges and all(b.startswith(f"Current image: **{md_escape(name)}** · 12×14 px") for b in badges), badges


def test_a_5000_character_name_is_shortened_with_one_visible_sentence(app):
    name = "a" * 4996 + ".npy"
    app.file_uploader[0].set_value([npy_upload(name, RNG.normal(size=(12, 12)).astype(np.float32))]).run()
    assert not app.exception and not app.error
    (warning,) = app.warning
    assert "5,000 characters" in warning.value and "shortened" in warning.value and len(warning.value) < 300
    shown = current(app)["name"]
    assert len(shown) <= 120 and shown.startswith("aaaa") and shown.endswith("a.npy") and "…" in shown
    assert all(len(c.value) < 300 for c in app.caption)


def test_a_file_above_the_upload_limit_gets_one_visible_sentence(app, monkeypatch):
    """The browser's uploader refuses it with a tooltip only; a file that reaches the app gets a sentence, and the
    upload tab says in a caption what the uploader's ⓘ means."""
    from ui.markdown import md_escape

    monkeypatch.setenv("EQUISCOPE_MAX_UPLOAD_MB", "1")
    settings.cache_clear()
    try:
        big = npy_upload("big.npy", RNG.normal(size=(600, 600)).astype(np.float32))  # 1.4 MB
        app.file_uploader[0].set_value([big]).run()
        assert not app.exception
        assert [e.value for e in app.error] == [md_escape(
            "big.npy is 1.4 MB, more than the limit of 1 MB per file; upload a smaller file (crop or bin the image, "
            "or zip fewer files).")]
        assert current(app) is None and len(app.session_state["image_list"]) == 0
        assert any("marks with ⓘ did not reach EquiScope (larger than 1 MB" in c.value for c in app.caption)
    finally:
        settings.cache_clear()


def test_a_zip_with_members_leaving_the_archive_says_how_many_were_skipped(app):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok/000.npy", npy_upload("x", RNG.normal(size=(8, 8)).astype(np.float32))[1])
        zf.writestr("../evil.npy", b"outside")
        zf.writestr("ok/../../evil2.npy", b"outside")
    app.file_uploader[0].set_value([("evil.zip", buf.getvalue(), "application/zip")]).run()
    assert not app.exception and not app.error
    assert [w.value for w in app.warning] == [
        "2 files of the zip evil\\.zip were skipped because their paths leave the archive."]
    assert [e.name for e in app.session_state["image_list"]] == ["evil.zip/ok/000.npy"]


def test_the_plane_download_has_a_2d_celestial_wcs(app, monkeypatch):
    """Regression: "Download as FITS" of a cube's plane wrote the cube's 3-axis WCS over a 2-D array."""
    from astropy.wcs import WCS
    from streamlit.runtime.media_file_manager import MediaFileManager

    made, real = {}, MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        made[kwargs.get("file_name", args[2] if len(args) > 2 else None)] = data_callable
        return real(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    wcs = dict(CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CTYPE3="FREQ", CRVAL1=150.0, CRVAL2=-30.0, CRVAL3=2.3e11,
               CRPIX1=12.0, CRPIX2=10.0, CRPIX3=1.0, CDELT1=-1e-5, CDELT2=1e-5, CDELT3=1e6, CUNIT1="deg",
               CUNIT2="deg", CUNIT3="Hz")
    cube = np.stack([RNG.normal(size=(20, 24)) + 10 * k for k in range(3)])
    app.file_uploader[0].set_value([fits_upload("cube.fits", cube, BUNIT="Jy/beam", **wcs)]).run()
    next(n for n in app.number_input if n.label == "Plane").set_value(2).run()
    assert not app.exception and not app.error
    with fits.open(io.BytesIO(made["cube.fits"]())) as hdul:
        header, data = hdul[0].header, hdul[0].data
    assert header["NAXIS"] == 2 and "CTYPE3" not in header and header["BUNIT"] == "Jy/beam"
    assert data.mean() == pytest.approx(cube[2].mean(), abs=1e-4)
    sky = WCS(header)
    assert sky.naxis == 2 and sky.has_celestial
    assert sky.pixel_to_world(11, 9).ra.deg == pytest.approx(150.0)
