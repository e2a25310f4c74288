"""Kind guessing (core/analysis/kind.py): what an uploaded image shows, from its file alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits

from core.analysis.kind import guess_kind
from core.io import read_image


def fits_meta(**cards):
    hdu = fits.PrimaryHDU(np.arange(64, dtype=np.float32).reshape(8, 8))
    for key, value in cards.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return read_image(buf.getvalue(), "x.fits").meta


def npy_meta():
    buf = io.BytesIO()
    np.save(buf, np.arange(64, dtype=np.float32).reshape(8, 8))
    return read_image(buf.getvalue(), "x.npy").meta


def png_meta():
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return read_image(buf.getvalue(), "x.png").meta


@pytest.mark.parametrize("label, kind", [("no_sub", "lens"), ("cdm", "lens"), ("vortex", "lens"),
                                         ("planets_0", "disk"), ("planets_3", "disk")])
def test_a_class_label_decides_over_the_file(label, kind):
    assert guess_kind(png_meta(), label) == kind
    assert guess_kind(fits_meta(BUNIT="Jy/beam"), label) == kind


def test_the_file_decides_without_a_label():
    assert guess_kind(fits_meta(BMAJ=1e-5, BMIN=1e-5, BPA=0.0)) == "disk"  # a beam
    assert guess_kind(fits_meta(BUNIT="JY/BEAM")) == "disk"  # a Jy unit, any case
    assert guess_kind(fits_meta()) == "disk"  # any other FITS image
    assert guess_kind(npy_meta()) == "lens"  # DeepLense arrays
    assert guess_kind(png_meta()) is None  # a picture: unknown
    assert guess_kind(png_meta(), "some_folder") is None  # a label that is no class says nothing
