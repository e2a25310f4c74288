"""FITS headers EquiScope writes are true for their pixels: simulated-lens orientation."""

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS


@pytest.mark.parametrize(("ra", "dec"), [(1.0, 0.0), (0.0, 1.0), (-0.7, -0.7)])
def test_a_simulated_lens_header_puts_east_and_north_where_the_pixels_have_them(ra, dec):
    """A compact source at RA offset `ra` (east positive) and Dec offset `dec` (north positive), rendered
    by the project's lenstronomy set-up with a negligible lens, lies where the header's WCS says."""
    from core.data.lenses import LensParams
    from core.io.simulated import lens_image

    params = LensParams(theta_E_arcsec=0.02, e1=0.0, e2=0.0, gamma1=0.0, gamma2=0.0, lens_light_amp=0.0,
                        source_x_arcsec=ra, source_y_arcsec=dec, source_r_sersic_arcsec=0.05, source_e1=0.0,
                        source_e2=0.0, snr=1000.0)
    loaded, raw = lens_image(params, "no_sub", size=64, seed=0)
    wcs = WCS(fits.getheader(io.BytesIO(raw)))
    row, col = np.unravel_index(np.argmax(loaded.data), loaded.data.shape)
    centre = (64 - 1) / 2
    (east, north), (east_c, north_c) = wcs.all_pix2world([[col, row], [centre, centre]], 0)  # arcsec offsets
    assert (east - east_c, north - north_c) == pytest.approx((ra, dec), abs=2 * params.pixel_scale_arcsec)
