"""FITS headers EquiScope writes are true for their pixels: regridded WCS, simulated-lens orientation."""

import io
import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from core.data.preprocess import prepare
from core.io import fits_bytes, read_image
from core.io.headers import regridded_header

GRID = 129
SCALE_DEG = 2e-5  # 0.072 arcsec per original pixel


def _header(cards, n=GRID) -> fits.Header:
    """The header astropy reads back from a FITS file written with `cards` (as the app writes it)."""
    return fits.getheader(io.BytesIO(fits_bytes(np.zeros((n, n), np.float32), cards)))


def _sky_cards(style: str, as_text: bool) -> list[tuple]:
    """A rotated TAN WCS (CD matrix, or PC + CDELT), with a beam, a unit and cards that go stale."""
    a = math.radians(25.0)
    cards = [("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 83.82, ""), ("CRVAL2", -5.39, ""),
             ("CRPIX1", 90.3, ""), ("CRPIX2", 140.7, ""), ("CUNIT1", "deg", ""), ("CUNIT2", "deg", "")]
    rot = [[-math.cos(a), math.sin(a)], [math.sin(a), math.cos(a)]]  # east to the left, rotated
    if style == "cd":
        cards += [(f"CD{i + 1}_{j + 1}", SCALE_DEG * rot[i][j], "") for i in range(2) for j in range(2)]
    else:
        cards += [("CDELT1", -SCALE_DEG, ""), ("CDELT2", SCALE_DEG, "")]
        cards += [(f"PC{i + 1}_{j + 1}", rot[i][j] * (-1 if j == 0 else 1), "") for i in range(2) for j in range(2)]
    cards += [("BMAJ", 1e-4, "deg"), ("BMIN", 8e-5, "deg"), ("BPA", 30.0, "deg"), ("BUNIT", "Jy/beam", ""),
              ("DATAMIN", -0.01, ""), ("DATAMAX", 2.5, ""), ("PIXSCALE", SCALE_DEG * 3600, "arcsec")]
    if as_text:  # as ImageMeta.header holds them
        cards = [(k, str(v), c) for k, v, c in cards]
    return cards


def _crop(shape):
    h, w = shape
    side = min(h, w)
    return (w - side) // 2, (h - side) // 2, side


@pytest.mark.parametrize("shape", [(300, 200), (200, 301), (100, 100)])
@pytest.mark.parametrize(("style", "as_text"), [("cd", False), ("pc", True)])
def test_regridded_wcs_maps_the_same_features_to_the_same_sky_position(shape, style, as_text):
    cards = _sky_cards(style, as_text)
    before, after = WCS(_header(cards)), WCS(_header(regridded_header(cards, shape, GRID)))
    left, top, side = _crop(shape)
    grid_px = side / GRID * SCALE_DEG * 3600  # arcsec

    def same_sky(x0, y0, x1, y1, tol_px):  # 0-based pixel (x0, y0) of the original, (x1, y1) of the grid
        p0 = SkyCoord(*before.all_pix2world([[x0, y0]], 0)[0], unit="deg")
        p1 = SkyCoord(*after.all_pix2world([[x1, y1]], 0)[0], unit="deg")
        assert p0.separation(p1).arcsec < tol_px * grid_px, (x0, y0, x1, y1)

    # the kept square's outer corners and its centre, exactly
    same_sky(left - 0.5, top - 0.5, -0.5, -0.5, 1e-6)
    same_sky(left + side - 0.5, top + side - 0.5, GRID - 0.5, GRID - 0.5, 1e-6)
    same_sky(left + (side - 1) / 2, top + (side - 1) / 2, (GRID - 1) / 2, (GRID - 1) / 2, 1e-6)
    # a compact feature near the centre and one near a corner, found on the grid `prepare` makes
    rows, cols = np.indices(shape)
    for fx, fy in [(0.55, 0.45), (0.15, 0.85)]:
        x0, y0 = left + fx * side, top + fy * side
        image = np.exp(-((cols - x0) ** 2 + (rows - y0) ** 2) / (2 * (0.02 * side) ** 2))
        grid = prepare(image, GRID)
        w = np.where(grid > 0.05, grid, 0.0)
        gy, gx = np.indices(grid.shape)
        same_sky(x0, y0, (w * gx).sum() / w.sum(), (w * gy).sum() / w.sum(), 0.05)


def test_regridded_header_rescales_the_pixel_scale_and_says_the_values_are_normalised():
    cards = _sky_cards("cd", as_text=True)
    shape = (300, 200)
    out = regridded_header(cards, shape, GRID)
    header = _header(out)
    assert header["BUNIT"] == "normalised" and "min-max" in header.comments["BUNIT"]
    assert "DATAMIN" not in header and "DATAMAX" not in header
    assert (header["BMAJ"], header["BMIN"], header["BPA"]) == (1e-4, 8e-5, 30.0)  # degrees: still true
    history = "\n".join(header["HISTORY"])
    assert "Jy/beam" in history and "resampled to 129x129" in history and "cropped 200x300 px to columns 1-200, rows 51-250" in history
    loaded = read_image(fits_bytes(np.random.default_rng(0).random((GRID, GRID)).astype(np.float32), out), "r.fits")
    assert loaded.meta.pixel_scale_arcsec == pytest.approx(SCALE_DEG * 3600 * 200 / GRID, rel=1e-9)
    assert loaded.meta.has_wcs and header["PIXSCALE"] == pytest.approx(SCALE_DEG * 3600 * 200 / GRID, rel=1e-9)


def test_a_wcs_with_distortion_in_original_pixels_is_dropped_with_a_reason():
    cards = _sky_cards("cd", as_text=False) + [("A_ORDER", 2, ""), ("B_ORDER", 2, ""), ("A_2_0", 1e-6, ""),
                                               ("B_0_2", 1e-6, "")]
    cards[0] = ("CTYPE1", "RA---TAN-SIP", "")
    cards[1] = ("CTYPE2", "DEC--TAN-SIP", "")
    header = _header(regridded_header(cards, (300, 200), GRID))
    gone = [k for k in header if k.startswith(("CTYPE", "CRPIX", "CRVAL", "CD1", "CD2", "A_", "B_"))]
    assert gone == [] and not WCS(header).has_celestial
    assert "WCS removed" in "\n".join(header["HISTORY"]) and header["BUNIT"] == "normalised"


def test_simulated_offset_axes_without_crpix_are_regridded_too():
    from core.io.headers import simulated_header

    cards = simulated_header(pixel_scale_arcsec=0.05, beam_fwhm_arcsec=0.1, east_left=False)
    shape = (150, 150)
    before, after = WCS(_header(cards, 150)), WCS(_header(regridded_header(cards, shape, GRID)))
    for x0, x1 in [(-0.5, -0.5), (149.5, GRID - 0.5), (74.5, (GRID - 1) / 2)]:
        np.testing.assert_allclose(after.all_pix2world([[x1, x1]], 0), before.all_pix2world([[x0, x0]], 0), atol=1e-9)


@pytest.mark.parametrize(("ra", "dec"), [(1.0, 0.0), (0.0, 1.0), (-0.7, -0.7)])
def test_a_simulated_lens_header_puts_east_and_north_where_the_pixels_have_them(ra, dec):
    """A compact source at RA offset `ra` (east positive) and Dec offset `dec` (north positive), rendered
    by the project's lenstronomy set-up with a negligible lens, lies where the header's WCS says."""
    from core.data.lenses import LensParams
    from core.data.simulated_images import lens_image

    params = LensParams(theta_E_arcsec=0.02, e1=0.0, e2=0.0, gamma1=0.0, gamma2=0.0, lens_light_amp=0.0,
                        source_x_arcsec=ra, source_y_arcsec=dec, source_r_sersic_arcsec=0.05, source_e1=0.0,
                        source_e2=0.0, snr=1000.0)
    loaded, raw = lens_image(params, "no_sub", size=64, seed=0)
    wcs = WCS(fits.getheader(io.BytesIO(raw)))
    row, col = np.unravel_index(np.argmax(loaded.data), loaded.data.shape)
    (east, north), = wcs.all_pix2world([[col, row]], 0)  # arcsec offsets from the lens centre (CRPIX)
    assert (east, north) == pytest.approx((ra, dec), abs=params.pixel_scale_arcsec)


def _casa_cards(as_text=True) -> list[tuple]:
    """A CASA-style 4-axis header (RA, Dec, FREQ, STOKES; full PC matrix, time, site, spectral notes), as
    ImageMeta.header holds it for the 2-D plane the reader takes out of a (1, 1, 300, 200) cube."""
    cards = [("SIMPLE", True, ""), ("BITPIX", -32, ""), ("NAXIS", 4, ""), ("NAXIS1", 200, ""), ("NAXIS2", 300, ""),
             ("NAXIS3", 1, ""), ("NAXIS4", 1, ""), ("BMAJ", 2.8e-5, ""), ("BMIN", 2.6e-5, ""), ("BPA", -82.5, ""),
             ("OBJECT", "ring", ""), ("BUNIT", "Jy/beam", ""), ("EQUINOX", 2000.0, ""), ("RADESYS", "FK5", ""),
             ("LONPOLE", 180.0, ""), ("LATPOLE", -40.0, "")]
    cards += [(f"PC{i}_{j}", 1.0 if i == j else 0.0, "") for j in range(1, 5) for i in range(1, 5)]
    for n, (ctype, crval, cdelt, crpix, cunit) in enumerate(
            [("RA---SIN", 240.0, -4.2e-6, 101.0, "deg"), ("DEC--SIN", -40.0, 4.2e-6, 151.0, "deg"),
             ("FREQ", 2.3e11, 7.5e9, 1.0, "Hz"), ("STOKES", 1.0, 1.0, 1.0, "")], start=1):
        cards += [(f"CTYPE{n}", ctype, ""), (f"CRVAL{n}", crval, ""), (f"CDELT{n}", cdelt, ""), (f"CRPIX{n}", crpix, ""),
                  (f"CUNIT{n}", cunit, "")]
    cards += [("PV2_1", 0.0, ""), ("PV2_2", 0.0, ""), ("RESTFRQ", 2.3e11, ""), ("SPECSYS", "LSRK", ""),
              ("ALTRVAL", -0.0, ""), ("ALTRPIX", 1.0, ""), ("VELREF", 257, ""), ("TELESCOP", "ALMA", ""),
              ("DATE-OBS", "2014-05-21T04:23:27.524148", ""), ("TIMESYS", "UTC", ""),
              ("OBSGEO-X", 2225142.18, ""), ("OBSGEO-Y", -5440307.37, ""), ("OBSGEO-Z", -2481029.85, ""),
              ("HISTORY", "CASA tclean", "")]
    return [(k, ("T" if v is True else str(v)) if as_text else v, c) for k, v, c in cards]


def _read_wcs(header: fits.Header) -> WCS:
    """WCS(header), failing the test on any astropy warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return WCS(header)


def _input_wcs(cards) -> WCS:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(_header(cards, 10)).celestial  # the input's own 4-axis WCS, as astropy reads it


def _assert_same_sky(before: WCS, after: WCS, pairs):
    """Each ((x0, y0), (x1, y1)): 0-based input pixel and written pixel are one sky position (pixel_to_world(x, y))."""
    for (x0, y0), (x1, y1) in pairs:
        assert before.pixel_to_world(x0, y0).separation(after.pixel_to_world(x1, y1)).arcsec < 1e-6, ((x0, y0), (x1, y1))


@pytest.mark.parametrize("box", [None, (40, 140, 60, 160), (-20, 80, 150, 250)])
def test_a_casa_4_axis_header_is_written_with_a_2d_celestial_wcs_that_maps_the_cutout(box):
    cards = _casa_cards()
    header = _header(regridded_header(cards, (300, 200), GRID, box))
    after = _read_wcs(header)  # no "more axes (4) than the image (2)", datfix or obsfix warning
    assert after.naxis == 2 and header["WCSAXES"] == 2 and list(after.wcs.ctype) == ["RA---SIN", "DEC--SIN"]
    assert not [k for k in header if k[-1] in "34" and k.startswith(("CTYPE", "CRVAL", "CDELT", "CRPIX", "CUNIT", "PC"))]
    assert not {"ALTRVAL", "ALTRPIX", "VELREF"} & set(header) and header["RESTFRQ"] == 2.3e11  # spectral notes go, rest frequency stays
    assert header["BMAJ"] == 2.8e-5 and header["TELESCOP"] == "ALMA" and header["DATE-OBS"].startswith("2014-05-21")
    assert "EquiScope: WCS axes dropped: 3 FREQ, 4 STOKES" in list(header["HISTORY"])
    row0, row1, col0, col1 = box or (50, 250, 0, 200)  # the central square of 300 x 200
    r = (row1 - row0) / GRID
    corners = [(-0.5, -0.5), (GRID - 0.5, GRID - 0.5), ((GRID - 1) / 2, (GRID - 1) / 2), (10.0, 100.0)]
    _assert_same_sky(_input_wcs(cards), after, [((col0 - 0.5 + (x + 0.5) * r, row0 - 0.5 + (y + 0.5) * r), (x, y))
                                                for x, y in corners])


def test_an_upscaled_casa_plane_gets_a_2d_wcs_at_half_the_pixel_size():
    from core.io.headers import upscaled_cards

    cards = _casa_cards(as_text=False)
    header = _header(upscaled_cards(cards), 400)
    after = _read_wcs(header)
    assert after.naxis == 2 and header["CDELT2"] == pytest.approx(2.1e-6)
    _assert_same_sky(_input_wcs(cards), after, [((x, y), (2 * x + 0.5, 2 * y + 0.5)) for x, y in [(0, 0), (100, 150), (199, 7)]])


def test_a_plane_between_degenerate_axes_keeps_the_wcs_of_its_own_two_axes():
    """A (Dec, RA, 1) array: FITS axis 1 is a one-channel FREQ axis, the image is FITS axes 2 and 3."""
    from core.io.headers import plane_cards

    cards = [("NAXIS", 3, ""), ("NAXIS1", 1, ""), ("NAXIS2", 200, ""), ("NAXIS3", 300, ""),
             ("CTYPE1", "FREQ", ""), ("CRVAL1", 1e11, ""), ("CDELT1", 1e9, ""), ("CRPIX1", 1.0, ""),
             ("CTYPE2", "RA---TAN", ""), ("CRVAL2", 83.8, ""), ("CDELT2", -1e-5, ""), ("CRPIX2", 100.0, ""),
             ("CTYPE3", "DEC--TAN", ""), ("CRVAL3", -5.4, ""), ("CDELT3", 1e-5, ""), ("CRPIX3", 150.0, "")]
    after = _read_wcs(_header(plane_cards(cards), 10))
    before = WCS(fits.Header([fits.Card(k, v, c) for k, v, c in cards]))
    assert list(after.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    for x, y in [(0, 0), (120.5, 33.0)]:
        np.testing.assert_allclose(after.all_pix2world([[x, y]], 0)[0], before.all_pix2world([[0, x, y]], 0)[0][1:])


def test_a_2d_header_is_not_rewritten():
    from core.io.headers import plane_cards

    for cards in (_sky_cards("cd", True), _sky_cards("pc", False)):
        assert plane_cards(cards) == cards


def test_the_real_casa_image_gets_a_celestial_2d_wcs(realdata):
    """ring20_robust0.5_clean.image.fits: (1, 1, 512, 512), RA / Dec / FREQ / STOKES, DATE-OBS and OBSGEO-X/Y/Z."""
    from core.io.headers import upscaled_cards

    path = realdata("disks/ring20_robust0.5_clean.image.fits")
    loaded = read_image(path)
    with fits.open(path) as hdul:
        before = _input_wcs([(c.keyword, c.value, c.comment) for c in hdul[0].header.cards])
    box = (200, 330, 190, 320)
    after = _read_wcs(_header(regridded_header(loaded.meta.header, loaded.data.shape, GRID, box)))
    r = 130 / GRID
    _assert_same_sky(before, after, [((190 - 0.5 + (x + 0.5) * r, 200 - 0.5 + (y + 0.5) * r), (x, y))
                                     for x, y in [(0, 0), (64, 64), (128, 3)]])
    up = _read_wcs(_header(upscaled_cards(loaded.meta.header), 1024))
    _assert_same_sky(before, up, [((x, y), (2 * x + 0.5, 2 * y + 0.5)) for x, y in [(0, 0), (256, 256), (511, 17)]])
