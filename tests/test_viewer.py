"""The image viewer (ui/viewer): true pixel coordinates, full resolution, RA/Dec, cuts, beam, linked panels."""

from __future__ import annotations

import numpy as np
import pytest

from core.io import read_image
from core.io.fits_io import fits_bytes
from ui import viewer
from ui.images import stretched_figure

SKY = [("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 83.8, ""), ("CRVAL2", -5.4, ""),
       ("CRPIX1", 33.0, ""), ("CRPIX2", 30.0, ""), ("CDELT1", -1e-5, ""), ("CDELT2", 1e-5, ""),
       ("BUNIT", "Jy/beam", ""), ("BMAJ", 2e-4, ""), ("BMIN", 1e-4, ""), ("BPA", 0.0, "")]


def _fits(data: np.ndarray, cards=SKY):
    return read_image(fits_bytes(data.astype(np.float32), cards), "sky.fits")


def test_hover_at_the_centre_of_a_512_pixel_fits_reads_256():
    """Regression: the display was block-averaged to 256 px without coordinates (hover x=127 at the centre)."""
    image = _fits(np.random.default_rng(0).random((512, 512)), [])
    fig = stretched_figure(image.data, "log", bunit="Jy/beam", meta=image.meta)  # the Data page's figure
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (512, 512)  # full resolution: the browser's zoom shows every pixel
    assert len(heat.x) == 512 and heat.x[256] == 256 and heat.y[256] == 256
    assert "x %{x} px, y %{y} px" in heat.hovertemplate and "%{z:.4g} Jy/beam" in heat.hovertemplate
    np.testing.assert_array_equal(np.asarray(heat.z), image.data)  # hover shows the image's own values


def test_a_large_image_is_averaged_only_in_the_overview():
    image = np.arange(1200 * 1000, dtype=np.float32).reshape(1200, 1000)
    heat = viewer.view_figure(image).data[0]
    factor = int(np.ceil(1200 / viewer.OVERVIEW_SIDE))
    assert np.asarray(heat.z).shape == (1200 // factor, 1000 // factor)
    assert heat.x[0] == (factor - 1) / 2 and heat.x[1] == factor + (factor - 1) / 2  # block centres, original px
    assert np.asarray(heat.z)[0, 0] == pytest.approx(image[:factor, :factor].mean())
    region = viewer.view_figure(image, region=(100, 356, 600, 856)).data[0]
    assert np.asarray(region.z).shape == (256, 256) and region.x[0] == 100 and region.y[0] == 600
    assert np.asarray(region.z)[0, 0] == image[600, 100]  # the window at full resolution


def test_sky_coordinates_in_the_hover_follow_the_wcs():
    image = _fits(np.random.default_rng(2).random((60, 70)))
    heat = viewer.view_figure(image.data, meta=image.meta, bunit="Jy/beam").data[0]
    sky = np.asarray(heat.customdata)
    assert sky.shape == (60, 70, 2) and "RA %{customdata[0]:.6f}°" in heat.hovertemplate
    np.testing.assert_allclose(sky[29, 32], [83.8, -5.4], atol=1e-9)  # CRPIX (1-based) = pixel (32, 29)
    assert sky[29, 42, 0] == pytest.approx(83.8 - 10 * 1e-5 / np.cos(np.radians(5.4)), abs=1e-7)  # RA grows leftwards
    assert viewer.view_figure(np.ones((60, 70))).data[0].customdata is None  # no WCS, no sky columns


def test_beam_ellipse_has_the_header_size_and_orientation():
    image = _fits(np.random.default_rng(2).random((60, 70)))
    traces = viewer.view_figure(image.data, meta=image.meta).data
    beam = next(t for t in traces if t.name == "beam")
    x, y = np.asarray(beam.x), np.asarray(beam.y)
    pixel = 1e-5 * 3600  # arcsec per pixel
    assert np.ptp(y) == pytest.approx(2e-4 * 3600 / pixel, rel=0.01)  # BPA 0: the major axis points north (up)
    assert np.ptp(x) == pytest.approx(1e-4 * 3600 / pixel, rel=0.01)
    hidden = viewer.view_figure(image.data, viewer.View(beam=False), meta=image.meta).data
    assert all(t.name != "beam" for t in hidden)


@pytest.mark.parametrize("cut,expected", [("min–max", (0.0, 99.0)), ("99 %", (0.495, 98.505)),
                                          ("manual", (10.0, 20.0))])
def test_cuts(cut, expected):
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    assert viewer.cut_limits(image, cut, (10.0, 20.0)) == pytest.approx(expected, abs=1e-3)
    fig = viewer.view_figure(image, viewer.View(cut=cut, manual=(10.0, 20.0)))
    assert (fig.data[0].zmin, fig.data[0].zmax) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("stretch", viewer.STRETCHES)
def test_stretch_lives_in_the_colour_scale(stretch):
    scale = viewer.stretched_colorscale("inferno", stretch)
    positions = [p for p, _ in scale]
    assert positions[0] == 0.0 and positions[-1] == 1.0 and np.all(np.diff(positions) >= 0)
    if stretch == "log":  # half the colours are spent on the faintest few per cent of the range
        assert positions[len(positions) // 2] < 0.05
    assert all(c not in ("#000004", "rgb(0, 0, 4)") for _, c in scale)  # Streamlit's placeholder colours


def test_colour_bar_ticks_use_one_number_format():
    assert viewer.number_format(0.0, 3.2) == ",.1f"
    assert viewer.number_format(0.0, 1e-5) == ".1e"  # never 0.00001 beside 1e-5
    assert viewer.number_format(-2e6, 5e6) == ".1e"
    bar = viewer.view_figure(np.linspace(0, 1e-5, 100).reshape(10, 10)).data[0].colorbar
    assert bar.tickformat == ".1e" and bar.nticks == 6 and bar.tickvals is None  # plotly spaces the ticks


def test_contours_are_drawn_inside_the_cut():
    yy, xx = np.mgrid[:50, :50]
    image = np.exp(-((xx - 25) ** 2 + (yy - 25) ** 2) / 50.0)
    contour = next(t for t in viewer.view_figure(image, viewer.View(contours=4)).data if t.type == "contour")
    assert contour.contours.size == pytest.approx((image.max() - image.min()) / 5)


def test_linked_panels_zoom_together_and_the_residual_is_symmetric():
    a = np.random.default_rng(1).random((33, 33))
    fig = viewer.linked_figure([(a, "original"), (a * 0.9, "reconstruction")], residual=(a - a * 0.9, "residual"))
    assert fig.layout.xaxis2.matches == "x" and fig.layout.xaxis3.matches == "x"
    assert fig.layout.yaxis2.matches == "y" and fig.layout.yaxis3.matches == "y"
    assert fig.layout.coloraxis2.cmin == -fig.layout.coloraxis2.cmax
    assert fig.data[0].coloraxis == fig.data[1].coloraxis == "coloraxis"  # one colour scale for both images
    assert fig.layout.coloraxis.colorbar.orientation == "h"  # under the panels, not on top of each other
