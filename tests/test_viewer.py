"""The image viewer (ui/viewer and its parts: image_figures, image_encoding, image_wcs, pixel_readout, blink):
true pixel coordinates, full resolution, sky offsets, cuts, beam, linked panels; what it sends (uint8 images,
compact hover values, no float64, "/" in base64 unescaped yet valid JSON); the pixel readout, region statistics
(core.analysis.regions) and blinking; its controls drawn from ui.state.SETTINGS."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
from test_pages import app, disk_image, open_page, plotly_specs, tiny_index, with_image  # noqa: F401 - fixtures

from core.analysis.regions import Region, beam_area_pixels, region_stats, sexagesimal
from core.io import read_image
from core.io.fits_io import fits_bytes
from ui import blink, figures, image_encoding, image_figures, pixel_readout, state
from ui.images import stretched_figure

SKY = [("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 83.8, ""), ("CRVAL2", -5.4, ""),
       ("CRPIX1", 33.0, ""), ("CRPIX2", 30.0, ""), ("CDELT1", -1e-5, ""), ("CDELT2", 1e-5, ""),
       ("BUNIT", "Jy/beam", ""), ("BMAJ", 2e-4, ""), ("BMIN", 1e-4, ""), ("BPA", 0.0, "")]


def _fits(data: np.ndarray, cards=SKY):
    return read_image(fits_bytes(data.astype(np.float32), cards), "sky.fits")


def shown(heat) -> np.ndarray:
    """The values a viewer heatmap's hover reads: customdata's first channel, times 10^E when compact."""
    values = np.asarray(heat.customdata)[..., 0].astype(np.float64)
    return values * heat.meta["scale"] if heat.meta["scale"] else values


def sent(fig) -> dict:
    """The figure as st.plotly_chart sends it."""
    return json.loads(fig.to_json())


def typed_arrays(node) -> list[dict]:
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            return [node]
        return [a for v in node.values() for a in typed_arrays(v)]
    if isinstance(node, list):
        return [a for v in node for a in typed_arrays(v)]
    return []


def decoded(array: dict) -> np.ndarray:
    """A typed array of the figure JSON ({"dtype", "bdata", "shape"}) as numpy."""
    values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return values.reshape([int(n) for n in array["shape"].split(",")]) if "shape" in array else values


# ---------------------------------------------------------------- coordinates, values, resolution


def test_hover_at_the_centre_of_a_512_pixel_fits_reads_256():
    """Regression: the display was block-averaged to 256 px without coordinates (hover x=127 at the centre)."""
    image = _fits(np.random.default_rng(0).random((512, 512)), [])
    fig = stretched_figure(image.data, "log", bunit="Jy/beam", meta=image.meta)  # the Data page's figure
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (512, 512) and np.asarray(heat.z).dtype == np.uint8  # every pixel
    assert (heat.x0, heat.dx, heat.y0, heat.dy) == (0, 1, 0, 1) and heat.x is None  # pixel 256 sits at x = 256
    assert "x %{x} px, y %{y} px" in heat.hovertemplate and " Jy/beam" in heat.hovertemplate
    np.testing.assert_allclose(shown(heat), image.data, atol=heat.meta["scale"] / 2)  # the image's own values


def test_a_large_image_is_averaged_only_in_the_overview():
    image = np.arange(1200 * 1000, dtype=np.float32).reshape(1200, 1000)
    heat = image_figures.view_figure(image).data[0]
    factor = int(np.ceil(1200 / image_figures.OVERVIEW_SIDE))
    assert np.asarray(heat.z).shape == (1200 // factor, 1000 // factor)
    assert heat.x0 == (factor - 1) / 2 and heat.dx == factor  # block centres, original px
    assert shown(heat)[0, 0] == pytest.approx(image[:factor, :factor].mean(), abs=heat.meta["scale"])
    region = image_figures.view_figure(image, region=(100, 356, 600, 856)).data[0]
    assert np.asarray(region.z).shape == (256, 256) and (region.x0, region.y0, region.dx) == (100, 600, 1)
    assert shown(region)[0, 0] == pytest.approx(image[600, 100], abs=region.meta["scale"])  # full resolution


def test_compact_hover_values_keep_four_digits_at_the_peak_and_fall_back_to_float32():
    smooth = np.linspace(0.0, 1.0, 400, dtype=np.float32).reshape(20, 20)
    assert image_encoding.hover_exponent([smooth]) == -4  # 1.0 -> 10000 × 10⁻⁴
    q, text = image_encoding.hover_value(smooth, -4, " Jy/beam")
    assert q.dtype == np.int16 and q.max() == 10000 and "×10⁻⁴ Jy/beam" in text
    np.testing.assert_allclose(q * 1e-4, smooth, atol=0.5e-4)
    assert image_encoding.compact_exponent(32767.0) == 0 and image_encoding.compact_exponent(32768.0) == 1
    hot = np.full((50, 50), 1e-3, np.float32)
    hot[3, 4] = 1e3  # one pixel a million times the rest: int16 would read the rest as 0
    assert image_encoding.hover_exponent([hot]) is None
    heat = image_figures.view_figure(hot).data[0]
    assert np.asarray(heat.customdata).dtype == np.float32 and "%{customdata[0]:.4g}" in heat.hovertemplate
    assert shown(heat)[0, 0] == pytest.approx(1e-3, rel=1e-6)


def test_sky_offsets_in_the_hover_follow_the_wcs():
    image = _fits(np.random.default_rng(2).random((60, 70)))
    heat = image_figures.view_figure(image.data, meta=image.meta, bunit="Jy/beam").data[0]
    custom = np.asarray(heat.customdata)
    assert custom.shape == (60, 70, 3) and "ΔRA %{customdata[1]:+d} mas" in heat.hovertemplate
    assert "from the centre (05h35m" in heat.hovertemplate  # the centre's position, sexagesimal
    cy, cx = 29.5, 34.5  # offsets from the image centre (between pixels): half a pixel = 18 mas
    assert abs(custom[29, 34, 1] - (-(34 - cx) * 36)) <= 1 and abs(custom[29, 34, 2] - (29 - cy) * 36) <= 1
    assert custom[29, 44, 1] == pytest.approx(-(44 - cx) * 36, abs=1)  # east is left: RA grows leftwards
    assert custom[39, 34, 2] == pytest.approx((39 - cy) * 36, abs=1)  # north is up
    assert np.asarray(image_figures.view_figure(np.ones((60, 70))).data[0].customdata).shape == (60, 70, 1)  # no WCS


def test_the_pixel_readout_gives_ra_dec_in_degrees_and_sexagesimal():
    image = _fits(np.arange(60 * 70, dtype=np.float32).reshape(60, 70))
    line = pixel_readout.pixel_line(image.data, 32, 29, meta=image.meta, bunit="Jy/beam")  # CRPIX (1-based) = (32, 29)
    assert line == "Pixel (32, 29): 2062 Jy/beam · RA 83.8000000°, Dec -5.4000000° · 05h35m12.000s -05d24m00.000s"
    assert pixel_readout.pixel_line(image.data, 0, 0) == "Pixel (0, 0): 0"  # no header: no sky position


def test_sexagesimal_of_a_known_position():
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    # 83.8221° / 15 = 5.58814 h = 5 h 35 min 17.304 s; -5.3911° = -(5° 23′ 27.96″)
    assert sexagesimal(SkyCoord(83.8221 * u.deg, -5.3911 * u.deg)) == "05h35m17.304s -05d23m27.960s"
    assert sexagesimal(SkyCoord(0.0 * u.deg, 0.0 * u.deg, frame="galactic")).startswith("17h45m37.")  # -> ICRS


def test_beam_ellipse_has_the_header_size_and_orientation():
    image = _fits(np.random.default_rng(2).random((60, 70)))
    traces = image_figures.view_figure(image.data, meta=image.meta).data
    beam = next(t for t in traces if t.name == "beam")
    x, y = np.asarray(beam.x), np.asarray(beam.y)
    pixel = 1e-5 * 3600  # arcsec per pixel
    assert np.ptp(y) == pytest.approx(2e-4 * 3600 / pixel, rel=0.01)  # BPA 0: the major axis points north (up)
    assert np.ptp(x) == pytest.approx(1e-4 * 3600 / pixel, rel=0.01)
    hidden = image_figures.view_figure(image.data, image_figures.View(beam=False), meta=image.meta).data
    assert all(t.name != "beam" for t in hidden)


# ---------------------------------------------------------------- cuts, stretches, colour bars


@pytest.mark.parametrize("cut,expected", [("min–max", (0.0, 99.0)), ("99 %", (0.495, 98.505)),
                                          ("manual", (10.0, 20.0))])
def test_cuts(cut, expected):
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    assert image_encoding.cut_limits(image, cut, (10.0, 20.0)) == pytest.approx(expected, abs=1e-3)
    heat = image_figures.view_figure(image, image_figures.View(cut=cut, manual=(10.0, 20.0))).data[0]
    assert heat.meta["cut"] == pytest.approx(expected, abs=1e-3) and (heat.zmin, heat.zmax) == (0, image_encoding.LEVELS)
    z = np.asarray(heat.z)
    assert z[image <= expected[0]].max() == 0 and z[image >= expected[1]].min() == image_encoding.LEVELS  # clipped
    inside = (image > expected[0]) & (image < expected[1])
    np.testing.assert_allclose(z[inside], (image[inside] - expected[0]) / (expected[1] - expected[0]) * image_encoding.LEVELS,
                               atol=0.5)


@pytest.mark.parametrize("stretch", image_encoding.STRETCHES)
def test_the_stretch_is_in_the_levels_and_the_colour_bar_reads_values(stretch):
    values = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    levels = image_encoding.display_levels(values, (0.0, 1.0), stretch)
    assert levels[0] == 0 and levels[-1] == image_encoding.LEVELS and np.all(np.diff(levels.astype(int)) >= 0)
    if stretch == "log":  # half the levels go to the faintest few per cent of the range
        assert levels[50] > image_encoding.LEVELS / 2
    bar = image_encoding.colour_bar((0.0, 1.0), stretch, "Jy/beam")
    ticks = [float(t) for t in bar["ticktext"]]
    assert len(ticks) >= 3 and ticks == sorted(ticks)
    # each label sits where its value's colour is, and no two labels overlap
    np.testing.assert_allclose(bar["tickvals"], image_encoding.display_levels(np.array(ticks), (0.0, 1.0), stretch), atol=0.5)
    assert np.all(np.diff(bar["tickvals"]) >= 0.07 * image_encoding.LEVELS)
    assert all(c not in ("#000004", "rgb(0, 0, 4)") for _, c in image_encoding.colour_scale("inferno"))  # Streamlit's placeholder


def test_colour_bar_labels_use_one_style():
    assert image_encoding.tick_labels([0.0, 0.2, 0.4]) == ["0", "0.2", "0.4"]
    assert image_encoding.tick_labels([0.0, 5e-6, 1e-5]) == ["0", "5.0e-6", "1.0e-5"]  # never 0.00001 beside 1e-5
    assert image_encoding.tick_labels([-2e6, 0.0, 5e6]) == ["-2.0e6", "0", "5.0e6"]
    assert image_encoding.tick_values((6e-5, 0.99996)) == [0.2, 0.4, 0.6, 0.8]  # round values inside the cut
    assert image_encoding.tick_values((-0.0999, 0.0999), n=2) == [-0.05, 0.0, 0.05]  # at least three


def test_contours_are_drawn_inside_the_cut():
    yy, xx = np.mgrid[:50, :50]
    image = np.exp(-((xx - 25) ** 2 + (yy - 25) ** 2) / 50.0)
    contour = next(t for t in image_figures.view_figure(image, image_figures.View(contours=4)).data if t.type == "contour")
    assert np.asarray(contour.z).dtype == np.uint16  # levels linear in value between the cut's limits
    assert contour.contours.size == pytest.approx(image_encoding.CONTOUR_LEVELS / 5)
    assert contour.contours.end == pytest.approx(4 * contour.contours.size)  # four levels, none at the top


# ---------------------------------------------------------------- linked panels, blinking, what is sent


def test_linked_panels_zoom_together_and_the_residual_is_symmetric():
    a = np.random.default_rng(1).random((33, 33))
    fig = image_figures.linked_figure([(a, "original"), (a * 0.9, "reconstruction")], residual=(a - a * 0.9, "residual"))
    assert fig.layout.xaxis2.matches == "x" and fig.layout.xaxis3.matches == "x"
    assert fig.layout.yaxis2.matches == "y" and fig.layout.yaxis3.matches == "y"
    assert fig.data[0].coloraxis == fig.data[1].coloraxis == "coloraxis"  # one colour scale, one bar, for both
    assert fig.layout.coloraxis.colorbar.orientation == "h"  # under the panels, not on top of each other
    residual = fig.data[2]
    assert residual.meta["cut"][0] == -residual.meta["cut"][1]
    z = np.asarray(residual.z).astype(int)
    assert z[np.unravel_index(np.argmax(a), a.shape)] == image_encoding.LEVELS  # the largest residual at the top
    assert image_encoding.signed_levels(np.zeros(1), 1.0)[0] == image_encoding.LEVELS // 2  # zero in the middle of the map
    assert fig.data[0].meta["scale"] == fig.data[1].meta["scale"]  # one power of ten for the panels' hover


def test_blinking_sends_both_images_once_and_switches_them_in_the_browser():
    a, b = np.random.default_rng(3).random((2, 40, 50)).astype(np.float32)
    fig = blink.blink_figure(a, b * 10, names=("first", "second"), bunits=("Jy/beam", "Jy/beam"))
    assert [t.visible for t in fig.data[:2]] == [None, False] and len(fig.data) == 2
    assert fig.data[1].meta["cut"] == pytest.approx([float((b * 10).min()), float((b * 10).max())])  # its own cut
    frames = {f.name: f for f in fig.frames}
    assert frames["b"].data[0].visible is False and frames["b"].data[1].visible is True  # only visibility changes
    assert frames["b"].layout.title.text == "second" and frames["a"].layout.coloraxis.showscale is True
    buttons = fig.layout.updatemenus[0].buttons
    assert buttons[0].label == "▶ Blink" and buttons[0].method == "animate" and buttons[0].args[0][:2] == ("b", "a")
    assert len(typed_arrays(sent(fig)["frames"])) == 0  # frames carry no pixels
    shared = blink.blink_figure(a, b * 10, names=("first", "second"), shared=True)
    assert shared.data[1].meta["cut"] == shared.data[0].meta["cut"]
    with pytest.raises(ValueError, match="two images of one size"):
        blink.blink_figure(a, b[:, :10], names=("a", "b"))


def test_figures_carry_uint8_images_and_no_float64():
    rng = np.random.default_rng(4)
    image = _fits(rng.random((60, 70)))
    a = rng.random((33, 33)).astype(np.float32)
    made = {
        "view": image_figures.view_figure(image.data, image_figures.View(contours=3), meta=image.meta, bunit="Jy/beam"),
        "linked": image_figures.linked_figure([(a, "a"), (a * 0.9, "b")], residual=(a * 0.1, "r")),
        "residual": image_figures.residual_figure(a - 0.5),
        "blink": blink.blink_figure(a, a[::-1].copy(), names=("a", "b")),
        "grid": figures.image_grid([a, a.T, -a, a * 2], ["0", "1", "2", "3"], 2),
    }
    for name, fig in made.items():
        spec = sent(fig)
        heat = [t for t in spec["data"] if t["type"] == "heatmap"]
        assert heat and all(t["z"]["dtype"] == "u1" for t in heat), name
        assert {a["dtype"] for a in typed_arrays(spec)} <= {"u1", "u2", "i2", "f4"}, name
        assert all("x" not in t and "y" not in t for t in heat), name  # positions are x0/dx
    assert "\\u002f" not in made["linked"].to_json()  # base64's "/" is not escaped to six characters


def test_the_four_panel_figure_is_smaller_than_its_float32_images():
    """The Equivariance lab's autoencoder figure at the shipped disk grid (129 px): it was ~450 KB, the four
    float32 images and their escaped base64. Now a byte of colour and two of hover value per pixel."""
    rng = np.random.default_rng(5)
    x = rng.random((129, 129)).astype(np.float32)
    panels = [(x, "g·x"), (np.rot90(x).copy(), "f(g·x)"), (x.T.copy(), "g·f(x)")]
    fig = image_figures.linked_figure(panels, image_figures.View(cut="manual", manual=(0.0, 1.0)), residual=(x - x.T, "r"))
    as_float32 = 4 * 129 * 129 * 4 * 4 / 3  # four float32 images in base64
    assert len(fig.to_json()) < 0.8 * as_float32


# ---------------------------------------------------------------- plotly's JSON: "/" unescaped, still valid


def _json_engines() -> list[str]:
    return ["json"] + (["orjson"] if importlib.util.find_spec("orjson") else [])


def test_image_data_in_the_figure_json_has_no_escaped_slashes():
    """plotly writes "/" as "\\u002f" (six characters) through a private table that
    ui.image_encoding.unescape_slashes edits. Should a plotly upgrade rename or reshape it, this fails,
    rather than every image quietly costing a third more bytes."""
    fig = image_figures.view_figure(np.random.default_rng(6).random((64, 64)))
    heat = sent(fig)["data"][0]
    assert "/" in heat["z"]["bdata"] + heat["customdata"]["bdata"]  # base64 with slashes: the check means something
    for engine in _json_engines():
        text = plotly.io.to_json(fig, validate=False, engine=engine)  # what st.plotly_chart sends
        assert "\\u002f" not in text, (
            f"plotly's JSON ({engine}) escapes '/' in base64 image data again: ui.image_encoding.unescape_slashes did not "
            "find plotly.io._json._swap_json in its expected form (a plotly upgrade?). Images now cost ~1/3 more bytes.")
        tag = plotly.io.to_json(go.Figure(layout={"title": {"text": "</script>"}}), engine=engine)
        assert "</" not in tag and "\\u003c/script\\u003e" in tag  # "<" and ">" are still escaped for HTML


def test_the_figure_json_parses_and_its_image_decodes_to_the_same_pixels():
    image = _fits(np.random.default_rng(7).random((60, 70)))
    fig = image_figures.view_figure(image.data, meta=image.meta, bunit="Jy/beam")
    for engine in _json_engines():
        heat = json.loads(plotly.io.to_json(fig, validate=False, engine=engine))["data"][0]
        z, custom = decoded(heat["z"]), decoded(heat["customdata"])
        assert z.dtype == np.uint8 and z.shape == (60, 70)
        np.testing.assert_array_equal(z, image_encoding.display_levels(image.data, tuple(heat["meta"]["cut"])))
        np.testing.assert_array_equal(custom, np.asarray(fig.data[0].customdata))  # values and sky offsets
        np.testing.assert_allclose(custom[..., 0] * heat["meta"]["scale"], image.data, atol=heat["meta"]["scale"] / 2)


def test_the_slash_setting_is_changed_only_in_its_expected_form():
    table = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"))
    module = SimpleNamespace(_swap_json=table, _swap_orjson=[("/", "\\u002f")])  # a list: not plotly's form
    assert image_encoding.unescape_slashes(module) is True
    assert module._swap_json == table[:2] and module._swap_orjson == [("/", "\\u002f")]  # "<", ">" kept
    assert image_encoding.unescape_slashes(module) is False  # once is enough
    renamed = SimpleNamespace(_swap=table)
    assert image_encoding.unescape_slashes(renamed) is False and renamed._swap == table
    odd = SimpleNamespace(_swap_json=("/", "\\u002f"))  # one pair, not a table of pairs
    assert image_encoding.unescape_slashes(odd) is False and odd._swap_json == ("/", "\\u002f")


# ---------------------------------------------------------------- regions


def test_region_statistics_of_a_known_array():
    image = np.zeros((20, 30))
    image[5:10, 10:15] = np.arange(25).reshape(5, 5)  # a 5 x 5 box centred on (12, 7) holds 0..24
    stats = region_stats(image, Region("box", 12, 7, 5))
    assert stats["n"] == 25 and stats["sum"] == 300 and stats["mean"] == 12
    assert stats["std"] == pytest.approx(np.std(np.arange(25))) and (stats["min"], stats["max"]) == (0, 24)
    assert stats["peak"] == (14, 9) and stats["flux_jy"] is None and "not Jy/beam" in stats["flux_note"]
    circle = Region("circle", 12, 7, 2).mask(image.shape)
    assert circle.sum() == 13  # pixel centres within 2 px: 1 + 4 + 4 + 4
    with pytest.raises(ValueError, match="no pixel centre"):
        region_stats(image, Region("box", -10, -10, 2))


def test_flux_in_jy_is_the_sum_over_the_beam_area_in_pixels():
    beam, scale = (0.1, 0.05, 30.0), 0.01  # FWHM 0.1″ × 0.05″, 0.01″ pixels
    area = math.pi * 10 * 5 / (4 * math.log(2))  # 56.65 pixels
    assert beam_area_pixels(beam, scale) == pytest.approx(area)
    image = np.ones((21, 21))
    stats = region_stats(image, Region("box", 10, 10, 21), bunit="Jy/beam", beam=beam, pixel_scale_arcsec=scale)
    assert stats["flux_jy"] == pytest.approx(441 / area) and stats["beam_pixels"] == pytest.approx(area)
    no_beam = region_stats(image, Region("box", 10, 10, 21), bunit="Jy/beam", pixel_scale_arcsec=scale)
    assert no_beam["flux_jy"] is None and "no beam" in no_beam["flux_note"]
    rows = dict(pixel_readout.stats_rows(stats, "Jy/beam"))
    assert rows["sum"] == "441 Jy/beam" and rows["flux density (sum / beam area)"] == f"{441 / area:.6g} Jy"


# ---------------------------------------------------------------- under Streamlit


def _viewer_script():
    import numpy as np
    from test_viewer import SKY

    from core.io import read_image
    from core.io.fits_io import fits_bytes
    from ui import image_list, viewer

    rng = np.random.default_rng(0)
    loaded = read_image(fits_bytes(rng.random((40, 50)).astype(np.float32), SKY), "a.fits")
    if not image_list.image_list():
        other = read_image(fits_bytes(rng.random((40, 50)).astype(np.float32), SKY), "b.fits")
        image_list.add_image(other, "b.fits", kind=None, source="upload")
        image_list.add_image(read_image(fits_bytes(rng.random((9, 9)).astype(np.float32), SKY), "c.fits"),
                             "c.fits", kind=None, source="upload", make_current=False)
    viewer.show(loaded.data, key="v", meta=loaded.meta, bunit="Jy/beam")


def test_the_viewer_under_streamlit_reads_a_pixel_measures_a_region_and_blinks():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_viewer_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("05h35m" in m.value for m in at.markdown)  # the brightest pixel's position, sexagesimal
    at.number_input(key="v_px").set_value(32)
    at.number_input(key="v_py").set_value(29).run()
    assert any("RA 83\\.8000000°" in m.value for m in at.markdown)
    at.selectbox(key="v_pshape").set_value("box")
    at.number_input(key="v_psize").set_value(3).run()
    assert not at.exception
    table = next(m.value for m in at.markdown if "region statistics" in m.value)
    assert "| pixels | 9 |" in table and "flux density" in table  # Jy/beam, beam and pixel scale known
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [s["name"] for s in spec["layout"]["shapes"]] == ["region"]
    assert spec["layout"]["shapes"][0]["x0"] == 30.5  # the 3 px box around x = 32, pixel edges
    assert at.selectbox(key="v_blink_with").options == ["b.fits"]  # same size only: c.fits (9 px) is not offered
    at.toggle(key="v_blink").set_value(True).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["frames"]) == 2 and spec["layout"]["updatemenus"][0]["buttons"][3]["label"] == "b.fits"


def _controls_script():
    import numpy as np

    from ui import viewer, widgets

    viewer.controls("recon", np.zeros((4, 4), np.float32))
    widgets.pick_stretch("sr_stretch")


def test_the_viewer_controls_are_drawn_from_the_linked_specs(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setitem(state.SETTINGS, "recon_contours", state.Number("Contour levels", 0, 5, 2))
    monkeypatch.setitem(state.SETTINGS, "recon_cmap", state.Choice("Colours", ("gray", "hot")))
    at = AppTest.from_function(_controls_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    levels = at.number_input(key="recon_contours")
    assert (levels.label, levels.proto.min, levels.proto.max, levels.value) == ("Contour levels", 0, 5, 2)
    assert at.selectbox(key="recon_cmap").label == "Colours" and at.selectbox(key="recon_cmap").options == ["gray", "hot"]
    for name in ("recon_stretch", "recon_cut"):
        spec = state.SETTINGS[name]
        assert (at.selectbox(key=name).label, at.selectbox(key=name).options) == (spec.label, spec.choices())
    stretch = at.get("button_group")[0]
    assert stretch.label == state.SETTINGS["sr_stretch"].label
    assert list(stretch.proto.options[i].content for i in range(len(stretch.proto.options))) == \
        state.SETTINGS["sr_stretch"].choices()


def test_the_reconstruct_page_blinks_original_and_reconstruction(app):  # noqa: F811 - the fixture
    at = open_page(with_image(app, disk_image()), "pages/reconstruct.py")
    assert all("frames" not in spec for spec in plotly_specs(at))
    toggles = [t for t in at.toggle if t.label == "Blink original and reconstruction"]
    assert len(toggles) == 2  # one per model
    toggles[0].set_value(True).run()
    assert not at.exception
    blink = [spec for spec in plotly_specs(at) if spec.get("frames")]
    assert len(blink) == 1 and [b["label"] for b in blink[0]["layout"]["updatemenus"][0]["buttons"]][2:] == \
        ["original", "reconstruction"]
    assert blink[0]["data"][0]["meta"]["cut"] == blink[0]["data"][1]["meta"]["cut"]  # one colour scale
