"""core.io: every supported format, the real third-party files, and every kind of bad input.

All fixtures are written by the tests themselves (astropy for FITS, numpy, Pillow) in tmp_path.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zlib

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS, fits_bytes, read_image, write_fits

RNG = np.random.default_rng(0)
IMAGE = RNG.normal(size=(24, 32)).astype(np.float32)


def one_sentence(message: str) -> str:
    """A user message: one line, one sentence, ending with a full stop."""
    assert message and "\n" not in message and message.endswith(".")
    assert ". " not in message[:-1], message
    return message


def refuse(fragment: str, source, filename=None, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_image(source, filename, **kwargs)
    message = one_sentence(str(info.value))
    assert fragment in message, message
    return message


def fits_file(data, **cards) -> bytes:
    hdu = fits.PrimaryHDU(data)
    for key, value in cards.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def npy_bytes(array, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


# ---------------------------------------------------------------- FITS


def test_fits_from_path_keeps_values_units_scale_beam_and_wcs(tmp_path):
    path = tmp_path / "disk.fits"
    path.write_bytes(
        fits_file(
            IMAGE.astype(">f8"),
            BUNIT="Jy/beam",
            CTYPE1="RA---SIN",
            CTYPE2="DEC--SIN",
            CDELT1=-4.0e-6,
            CDELT2=4.0e-6,
            CUNIT1="deg",
            CUNIT2="deg",
            CRPIX1=16.0,
            CRPIX2=12.0,
            CRVAL1=240.0,
            CRVAL2=-40.0,
            BMAJ=2.0e-5,
            BMIN=1.0e-5,
            BPA=30.0,
        )  # fmt: skip
    )
    img = read_image(path)
    assert img.data.dtype == np.float32 and img.data.dtype.isnative
    np.testing.assert_array_equal(img.data, IMAGE)
    m = img.meta
    assert (m.filename, m.source_format, m.original_shape, m.hdu_index) == (
        "disk.fits",
        "fits",
        (24, 32),
        0,
    )
    assert m.original_dtype == "float64 (big-endian)"
    assert m.bunit == "Jy/beam" and m.has_wcs
    assert m.pixel_scale_arcsec == pytest.approx(4.0e-6 * 3600, rel=1e-9)
    assert m.beam == pytest.approx((0.072, 0.036, 30.0))
    assert ("BUNIT", "Jy/beam", "") in m.header
    assert (m.n_nonfinite, m.fill_value, m.n_planes, m.plane) == (0, None, 1, None)


def test_fits_bytes_equal_path_and_pixscale_keyword():
    raw = fits_file(IMAGE, PIXSCALE=0.05)
    img = read_image(raw, "lens.fits")
    np.testing.assert_array_equal(img.data, IMAGE)
    assert img.meta.pixel_scale_arcsec == 0.05 and not img.meta.has_wcs and img.meta.beam is None


def test_fits_cd_matrix_in_arcsec():
    raw = fits_file(IMAGE, CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CUNIT1="arcsec", CUNIT2="arcsec",
                    CD1_1=-0.1, CD1_2=0.0, CD2_1=0.0, CD2_2=0.1)  # fmt: skip
    assert read_image(raw, "x.fits").meta.pixel_scale_arcsec == pytest.approx(0.1)


def test_casa_degenerate_axes_are_squeezed():
    img = read_image(fits_file(IMAGE[None, None]), "clean.image.fits")
    np.testing.assert_array_equal(img.data, IMAGE)
    assert img.meta.original_shape == (1, 1, 24, 32) and img.meta.n_planes == 1
    assert any("(1, 1, 24, 32) became (24, 32)" in n for n in img.meta.notes)


def test_fits_cube_defaults_to_plane_zero_and_plane_can_be_chosen():
    cube = np.stack([IMAGE + k for k in range(3)])
    img = read_image(fits_file(cube), "cube.fits")
    np.testing.assert_array_equal(img.data, IMAGE)
    assert (img.meta.n_planes, img.meta.plane) == (3, 0)
    assert any("cube of 3 planes" in n for n in img.meta.notes)
    assert not any("length 1" in n for n in img.meta.notes)  # no axis of length 1 was dropped
    np.testing.assert_array_equal(read_image(fits_file(cube), "cube.fits", plane=2).data, IMAGE + 2)
    refuse(
        "Plane 5 does not exist: cube.fits has planes 0 to 2", fits_file(cube), "cube.fits", plane=5
    )


def test_fits_scaled_integers_are_physical_values():
    counts = np.arange(24 * 32, dtype=np.int16).reshape(24, 32)
    img = read_image(fits_file(counts, BSCALE=0.5, BZERO=10.0), "counts.fits")
    np.testing.assert_allclose(img.data, counts * 0.5 + 10.0)


def test_fits_image_in_extension_and_hdu_choice():
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])]),
                         fits.ImageHDU(IMAGE, name="SCI"), fits.ImageHDU(IMAGE * 2, name="ERR")])  # fmt: skip
    buf = io.BytesIO()
    hdul.writeto(buf)
    raw = buf.getvalue()
    img = read_image(raw, "mef.fits")
    assert img.meta.hdu_index == 2 and img.meta.image_hdus == [2, 3]
    np.testing.assert_array_equal(img.data, IMAGE)
    np.testing.assert_array_equal(read_image(raw, "mef.fits", hdu=3).data, IMAGE * 2)
    refuse(
        "HDU 1 of mef.fits holds no image; the HDUs with images are: 2, 3", raw, "mef.fits", hdu=1
    )


def test_fits_with_only_a_table():
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column("flux", "E", array=[1.0, 2.0])]),
        ]
    )
    buf = io.BytesIO()
    hdul.writeto(buf)
    refuse("contains no image, only BinTableHDU (tables)", buf.getvalue(), "catalog.fits")
    refuse("has no image data (its HDUs hold headers only)", fits_file(None), "header_only.fits")


def test_truncated_fits():
    raw = fits_file(np.ones((64, 64), np.float32) + RNG.random((64, 64)))
    refuse("truncated or damaged", raw[: 2880 + 1000], "cut.fits")
    refuse("empty or damaged FITS file", raw[:100], "cut.fits")


def test_fits_header_announcing_a_huge_image_is_refused_before_reading():
    header = fits.Header(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 50000), ("NAXIS2", 50000)]
    )
    raw = header.tostring().encode() + b"\0" * 2880  # the 10 GB of data are not there at all
    refuse("is 50000 x 50000 pixels, more than the limit of 16,777,216 pixels", raw, "huge.fits")


def test_text_renamed_fits():
    refuse("does not start with the FITS keyword SIMPLE", b"x,y\n1,2\n3,4\n", "table.fits")


def test_fits_1d_5d_and_zero_size():
    refuse("is 1-D data (50 values", fits_file(np.arange(50.0)), "spectrum.fits")
    refuse("has 5 axes longer than 1", fits_file(np.ones((2, 2, 2, 3, 4))), "hyper.fits")
    header = fits.Header(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 0), ("NAXIS2", 5)]
    )
    refuse("has an axis of length 0 (shape (5, 0))", header.tostring().encode(), "empty_axis.fits")


def test_nan_and_inf_are_counted_and_filled_with_the_finite_median():
    data = np.arange(1, 26, dtype=np.float32).reshape(5, 5)
    data[0, 0], data[1, 1], data[2, 2] = np.nan, np.inf, -np.inf
    img = read_image(fits_file(data), "holes.fits")
    finite = data[np.isfinite(data)]
    assert img.meta.n_nonfinite == 3 and img.meta.fill_value == pytest.approx(np.median(finite))
    assert np.isfinite(img.data).all() and img.data[1, 1] == pytest.approx(np.median(finite))
    assert any("3 NaN/Inf pixels" in n and "median" in n for n in img.meta.notes)


def test_all_nan_and_constant_images():
    refuse(
        "Every pixel of blank.fits is NaN or infinite",
        fits_file(np.full((8, 8), np.nan, np.float32)),
        "blank.fits",
    )
    refuse(
        "flat.npy is constant (every pixel equals 3)", npy_bytes(np.full((8, 8), 3.0)), "flat.npy"
    )


def test_max_pixels_is_configurable():
    refuse(
        "is 24 x 32 pixels, more than the limit of 500 pixels",
        npy_bytes(IMAGE),
        "big.npy",
        max_pixels=500,
    )
    assert read_image(npy_bytes(IMAGE), "ok.npy", max_pixels=24 * 32).data.shape == (24, 32)


# ---------------------------------------------------------------- NumPy


@pytest.mark.parametrize(
    ("array", "shape_note"),
    [(IMAGE, None), (IMAGE[None], None), (IMAGE[None, None], None), (IMAGE[:, :, None], None)],
)
def test_npy_layouts_with_one_image(array, shape_note):
    img = read_image(npy_bytes(array), "lens.npy")
    np.testing.assert_array_equal(img.data, IMAGE)
    assert img.meta.original_shape == array.shape and img.meta.n_planes == 1


def test_npy_bands_are_summed_or_chosen_channels_last_and_first():
    bands = np.stack([IMAGE, 2 * IMAGE, 3 * IMAGE])
    for array in (bands, np.moveaxis(bands, 0, -1)):
        img = read_image(npy_bytes(array), "rgb.npy")
        np.testing.assert_allclose(img.data, 6 * IMAGE, rtol=1e-6)
        assert img.meta.plane is None and img.meta.n_planes == 3
        assert any("3 bands" in n and "summed" in n for n in img.meta.notes)
        np.testing.assert_array_equal(
            read_image(npy_bytes(array), "rgb.npy", plane=1).data, 2 * IMAGE
        )


def test_npy_stack_of_many_planes_is_a_cube():
    stack = np.stack([IMAGE + k for k in range(6)])
    img = read_image(npy_bytes(stack), "stack.npy")
    assert (img.meta.plane, img.meta.n_planes) == (0, 6)
    np.testing.assert_array_equal(img.data, IMAGE)


def test_npy_fortran_order_and_big_endian_arrays_read_as_views_of_the_bytes():
    """read_npy reads the pixels straight from the upload's bytes (no second copy), in any order."""
    cube = np.stack([IMAGE + k for k in range(3)])
    for array in (np.asfortranarray(IMAGE), IMAGE.astype(">f8"), np.asfortranarray(cube)):
        img = read_image(npy_bytes(array), "order.npy", plane=1 if array.ndim == 3 else None)
        np.testing.assert_array_equal(img.data, IMAGE + (1 if array.ndim == 3 else 0))


def test_npy_integer_counts_and_booleans():
    counts = RNG.integers(0, 60000, size=(20, 20)).astype(np.uint16)
    img = read_image(npy_bytes(counts), "counts.npy")
    np.testing.assert_array_equal(img.data, counts.astype(np.float32))
    assert img.meta.original_dtype == "uint16"
    mask = np.zeros((10, 10), bool)
    mask[3:6, 3:6] = True
    img = read_image(npy_bytes(mask), "mask.npy")
    assert img.data.sum() == 9 and any("boolean" in n for n in img.meta.notes)


def test_npz_with_one_array_and_refusals():
    buf = io.BytesIO()
    np.savez_compressed(buf, image=IMAGE)
    np.testing.assert_array_equal(read_image(buf.getvalue(), "one.npz").data, IMAGE)
    buf = io.BytesIO()
    np.savez(buf, image=IMAGE, mask=IMAGE > 0)
    refuse("contains 2 arrays (image, mask)", buf.getvalue(), "two.npz")
    buf = io.BytesIO()
    np.savez(buf)
    refuse("contains no NumPy arrays", buf.getvalue(), "none.npz")
    buf = io.BytesIO()
    np.savez(buf, obj=np.array([{"a": 1}], dtype=object))
    refuse("holds Python objects", buf.getvalue(), "obj.npz")


def test_pickled_object_and_complex_npy():
    refuse("is a Python pickle", pickle.dumps({"image": [1, 2, 3]}), "evil.npy")
    refuse(
        "holds a NoneType entry besides the image",
        npy_bytes(np.array([[1, None]], dtype=object), allow_pickle=True),
        "obj.npy",
    )
    refuse("holds complex numbers", npy_bytes(IMAGE.astype(np.complex64)), "vis.npy")
    refuse("rather than numbers", npy_bytes(np.array([["a", "b"], ["c", "d"]])), "text.npy")


def test_npy_zero_size_1d_and_truncated():
    refuse("has an axis of length 0 (shape (0, 5))", npy_bytes(np.zeros((0, 5))), "nothing.npy")
    refuse("is 1-D data (7 values", npy_bytes(np.arange(7.0)), "line.npy")
    raw = npy_bytes(IMAGE)
    refuse("is truncated", raw[:-10], "cut.npy")
    refuse("header is damaged", raw[:20], "cut.npy")


def test_npy_header_announcing_a_huge_array_is_refused_before_reading():
    raw = npy_bytes(np.zeros((2, 2)))
    raw = raw.replace(b"(2, 2)", b"(9999999, 99999)")  # same header length, no data behind it
    refuse("more than the limit", raw, "huge.npy")


# ---------------------------------------------------------------- PNG / JPEG / TIFF


def test_png_grey_and_colour_to_luminance():
    grey = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
    img = read_image(pil_bytes(Image.fromarray(grey), "PNG"), "grey.png")
    np.testing.assert_array_equal(img.data, grey.astype(np.float32))
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    rgb[0, 0] = (0, 0, 0)
    img = read_image(pil_bytes(Image.fromarray(rgb), "PNG"), "red.png")
    assert img.data[1, 1] == pytest.approx(0.299 * 255, rel=1e-6) and img.data[0, 0] == 0
    assert any("luminance" in n for n in img.meta.notes) and img.meta.original_dtype == "RGB"


def test_sixteen_bit_png_and_float_tiff_keep_their_precision():
    deep = (np.arange(100).reshape(10, 10) * 600).astype(np.uint16)
    img = read_image(pil_bytes(Image.fromarray(deep), "PNG"), "deep.png")
    np.testing.assert_array_equal(img.data, deep.astype(np.float32))
    img = read_image(pil_bytes(Image.fromarray(IMAGE), "TIFF"), "float.tif")
    np.testing.assert_array_equal(img.data, IMAGE)
    assert img.meta.source_format == "tiff"


def test_multipage_tiff_is_a_cube_of_pages():
    pages = [Image.fromarray(IMAGE + k) for k in range(3)]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    img = read_image(buf.getvalue(), "pages.tiff", plane=2)
    np.testing.assert_array_equal(img.data, IMAGE + 2)
    assert img.meta.n_planes == 3


def test_jpeg_is_read_as_grey_levels():
    grey = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))
    img = read_image(pil_bytes(Image.fromarray(grey), "JPEG", quality=95), "photo.jpg")
    assert img.meta.source_format == "jpeg"
    assert np.abs(img.data - grey).mean() < 3.0  # lossy, but the same picture


def test_corrupt_and_truncated_png():
    raw = pil_bytes(Image.fromarray((RNG.random((64, 64)) * 255).astype(np.uint8)), "PNG")
    refuse("damaged or truncated PNG image", raw[: len(raw) // 2], "half.png")
    refuse("could not be read as a PNG, JPEG or TIFF image", raw[:8] + b"garbage" * 10, "bad.png")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def test_decompression_bomb_png_is_refused_without_decoding():
    def png(width: int, height: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b"")
        )

    refuse("possible decompression bomb", png(100_000, 100_000), "bomb.png")
    refuse("is 5000 x 5000 pixels, more than the limit", png(5000, 5000), "large.png")


# ---------------------------------------------------------------- names, extensions, sources


def test_empty_unknown_gzip_and_missing():
    refuse("empty.fits is empty (0 bytes)", b"", "empty.fits")
    refuse("has the extension '.txt', which EquiScope does not read", b"hello", "notes.txt")
    refuse("x.fits.gz is an empty or damaged FITS file", gzip.compress(b"SIMPLE"), "x.fits.gz")  # decompressed, then read
    refuse("has no file extension and its content is not recognised", b"hello", "README")


def test_missing_path(tmp_path):
    refuse("nothere.fits does not exist", tmp_path / "nothere.fits")


def test_content_wins_over_a_wrong_known_extension():
    img = read_image(npy_bytes(IMAGE), "actually_numpy.fits")
    assert img.meta.source_format == "npy" and any("read as NPY" in n for n in img.meta.notes)
    assert read_image(npy_bytes(IMAGE)).meta.filename == "upload"


def test_upload_names_never_become_paths():
    # a hostile name is only a label: the bytes are parsed, no file is opened, no folder echoed
    message = refuse("is not a FITS file", b"SIMPL", "../../etc/passwd.fits")
    assert "/etc" not in message and "passwd.fits" in message


def test_supported_extensions():
    assert set(SUPPORTED_EXTENSIONS) == {
        ".fits",
        ".fit",
        ".fts",
        ".npy",
        ".npz",
        ".png",
        ".jpg",
        ".jpeg",
        ".tif",
        ".tiff",
    }


# ---------------------------------------------------------------- writing FITS


def test_fits_bytes_keeps_the_header_but_rebuilds_structure(tmp_path):
    cube_header = fits.Header()
    for key, value in [("BUNIT", "Jy/beam"), ("BMAJ", 2.0e-5), ("BMIN", 1.0e-5), ("BPA", -80.0),
                       ("CTYPE1", "RA---SIN"), ("CTYPE2", "DEC--SIN"), ("CDELT1", -4e-6), ("CDELT2", 4e-6),
                       ("OBJECT", "HD 163296"), ("NAXIS3", 1), ("BSCALE", 2.0)]:  # fmt: skip
        cube_header[key] = value
    cube_header.add_history("cleaned with tclean")
    raw = fits_bytes(IMAGE, cube_header)
    with fits.open(io.BytesIO(raw)) as hdul:
        h = hdul[0].header
        assert h["NAXIS"] == 2 and "NAXIS3" not in h and "BSCALE" not in h
        assert h["OBJECT"] == "HD 163296" and "cleaned with tclean" in str(h["HISTORY"])
        np.testing.assert_array_equal(hdul[0].data, IMAGE)
    # the header as ImageMeta gives it (strings) survives a read -> write -> read round trip
    first = read_image(raw, "a.fits")
    path = tmp_path / "out" / "b.fits"
    write_fits(path, first.data, first.meta.header)
    second = read_image(path)
    np.testing.assert_array_equal(second.data, first.data)
    assert (second.meta.bunit, second.meta.beam, second.meta.pixel_scale_arcsec) == (
        first.meta.bunit, first.meta.beam, first.meta.pixel_scale_arcsec)  # fmt: skip
    assert ("OBJECT", "HD 163296", "") in second.meta.header


def test_write_fits_is_atomic(tmp_path):
    path = tmp_path / "keep.fits"
    write_fits(path, IMAGE)
    before = path.read_bytes()
    with pytest.raises(InputError):
        write_fits(path, np.array([["a"]]))
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------- real third-party files


def test_dustforge_model_image_is_jy_per_pixel_with_extra_axis_keywords(realdata):
    img = read_image(realdata("disks/ring20__model_image.fits"))
    m = img.meta
    assert img.data.shape == (512, 512) and m.original_shape == (512, 512)
    assert m.bunit == "Jy/pixel" and m.beam is None and m.has_wcs
    assert m.pixel_scale_arcsec == pytest.approx(9.49435763888888e-07 * 3600, rel=1e-9)
    assert img.data.max() > 0 and m.n_nonfinite == 0


def test_casa_clean_image_is_jy_per_beam_with_its_beam(realdata):
    img = read_image(realdata("disks/ring20_robust0.5_clean.image.fits"))
    m = img.meta
    assert img.data.shape == (512, 512) and m.original_shape == (1, 1, 512, 512)
    assert m.bunit == "Jy/beam" and m.has_wcs
    assert m.pixel_scale_arcsec == pytest.approx(0.015, rel=1e-6)  # tclean cell = "0.015arcsec"
    bmaj, bmin, bpa = m.beam  # Info_image_ring20_robust0.5.txt: 0.100 x 0.093 arcsec, PA -82.56 deg
    assert (round(bmaj, 3), round(bmin, 3), round(bpa, 2)) == (0.100, 0.093, -82.56)
    # peak 5.96 mJy/beam per the same Info file
    assert img.data.max() == pytest.approx(5.96e-3, rel=0.01)


@pytest.mark.parametrize("kind", ["nosub", "cdm", "axion"])
def test_deeplense_npy_files(kind, realdata):
    img = read_image(realdata(f"lenses/ML4SCI_LucasJose_{kind}.npy"))
    assert img.data.shape == (64, 64) and img.meta.original_dtype == "float64"
    assert img.data.max() == pytest.approx(1.0)  # the README: scaled to max 1


def test_unparsable_header_card_is_ignored_with_a_note():
    raw = fits_file(IMAGE, BUNIT="Jy/beam", OBSERVER="ALMA")
    start = raw.index(b"OBSERVER=")
    card = b"OBSERVER= 'ALMA" + b" " * 65  # unterminated string: astropy cannot parse the value
    raw = raw[:start] + card[:80] + raw[start + 80 :]
    img = read_image(raw, "odd.fits")
    assert img.meta.bunit == "Jy/beam"
    assert "1 header card(s) could not be parsed and were ignored." in img.meta.notes


def test_bytes_uploads_never_touch_the_filesystem(monkeypatch):
    import builtins
    import pathlib

    def forbidden(*args, **kwargs):
        raise AssertionError(f"file system access with {args[:1]}")

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(pathlib.Path, "read_bytes", forbidden)
    monkeypatch.setattr(pathlib.Path, "is_file", forbidden)
    img = read_image(fits_file(IMAGE), "/etc/passwd.fits")
    assert img.meta.filename == "passwd.fits"
    refuse("passwd is empty (0 bytes)", b"", "/etc/passwd")
