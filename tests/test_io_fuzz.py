"""Property-based tests of core.io on random and mutated bytes of every supported format.

Whatever the bytes, `read_image` either returns a finite 2-D float32 image or raises InputError
with a one-line message; no other exception escapes and no case hangs (hypothesis deadline per
example, pytest-timeout for the whole test). Runs derandomized so a failure reproduces.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS, read_image
from core.io.zip_images import zip_images

MAX_PIXELS = 1024 * 1024  # small limit: a mutated header may announce any size
FUZZ = settings(
    max_examples=500,
    deadline=3000,  # ms per example: a hang or runaway allocation fails the test
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _seeds() -> dict[str, bytes]:
    """One small valid file per format (and per interesting variant)."""
    rng = np.random.default_rng(1)
    image = rng.normal(size=(12, 10)).astype(np.float32)
    seeds: dict[str, bytes] = {}
    hdu = fits.PrimaryHDU(np.stack([image, image * 2])[:, None])  # (2, 1, 12, 10) cube
    hdu.header["BUNIT"] = "Jy/beam"
    hdu.header["BMAJ"] = 1e-5
    hdu.header["CTYPE1"], hdu.header["CTYPE2"] = "RA---SIN", "DEC--SIN"
    hdu.header["CDELT1"], hdu.header["CDELT2"] = -1e-6, 1e-6
    buf = io.BytesIO()
    fits.HDUList([hdu, fits.ImageHDU((image * 100).astype(np.int16))]).writeto(buf)
    seeds["cube.fits"] = buf.getvalue()
    for name, array in {
        "a.npy": image,
        "rgb.npy": np.stack([image] * 3, -1),
        "c.npy": image.astype(">i4"),
    }.items():
        buf = io.BytesIO()
        np.save(buf, array)
        seeds[name] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, image=image)
    seeds["z.npz"] = buf.getvalue()
    grey = Image.fromarray((rng.random((12, 10)) * 255).astype(np.uint8))
    for name, (img, fmt) in {
        "g.png": (grey, "PNG"),
        "rgb.png": (grey.convert("RGB"), "PNG"),
        "p.jpg": (grey, "JPEG"),
        "f.tif": (Image.fromarray(image), "TIFF"),
    }.items():
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        seeds[name] = buf.getvalue()
    return seeds


SEEDS = _seeds()


def check(raw: bytes, filename: str, **kwargs) -> None:
    try:
        img = read_image(raw, filename, max_pixels=MAX_PIXELS, **kwargs)
    except InputError as exc:
        message = str(exc)  # one plain sentence: one line, a full stop at the end and nowhere else
        assert message.strip() and "\n" not in message and message.endswith("."), repr(message)
        assert ". " not in message, repr(message)
        return
    assert img.data.ndim == 2 and img.data.dtype == np.float32
    assert np.isfinite(img.data).all()
    assert img.data.size <= MAX_PIXELS


@st.composite
def mutated(draw):
    """A seed file with a few byte flips, overwrites, insertions or a truncation."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:]
    # header fields (FITS cards, npy dict, PNG IHDR) sit near the start: hit them often
    return name, bytes(data)


@pytest.mark.timeout(120)
@FUZZ
@given(mutated(), st.sampled_from([None, 0, 1, 3]))
def test_mutated_files_raise_only_input_error(case, plane):
    name, raw = case
    check(raw, name, plane=plane)


@pytest.mark.timeout(120)
@settings(FUZZ, max_examples=100)
@given(st.binary(max_size=3000), st.sampled_from([*SUPPORTED_EXTENSIONS, ".txt", ""]))
def test_random_bytes_raise_only_input_error(raw, extension):
    check(raw, f"random{extension}")


@pytest.mark.timeout(120)
@settings(FUZZ, max_examples=60)
@given(
    st.sampled_from(
        [
            b"SIMPLE  =",
            b"\x93NUMPY",
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
            b"II*\x00",
            b"PK\x03\x04",
        ]
    ),
    st.binary(max_size=3000),
)
def test_valid_signature_then_garbage_raises_only_input_error(magic, tail):
    check(magic + tail, "upload")


def _zip_seed() -> bytes:
    """A zip of three seeds (deflated .npy and FITS, stored PNG): the member headers sit early in it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("cls/a.npy", SEEDS["a.npy"], compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("cls/cube.fits", SEEDS["cube.fits"], compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("g.png", SEEDS["g.png"])
    return buf.getvalue()


ZIP_SEED = _zip_seed()


@pytest.mark.timeout(120)
@settings(FUZZ, max_examples=150)
@given(st.lists(st.tuples(st.integers(0, len(ZIP_SEED) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_zips_raise_only_input_error(edits):
    """zip_images, then each member's read with a small byte budget, then read_image: only InputError."""
    data = bytearray(ZIP_SEED)
    for at, value in edits:
        data[at] = value
    try:
        archive = zip_images(bytes(data), "m.zip")
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).endswith(".")
        return
    for member in archive.members:
        try:
            check(archive.read(member, max_pixels=MAX_PIXELS, max_bytes=64 * 1024), member.name)
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc).endswith(".") and ". " not in str(exc), repr(str(exc))


def test_every_seed_loads():
    """The mutation corpus starts from files that are valid (else the fuzz tests prove little)."""
    for name, raw in SEEDS.items():
        img = read_image(raw, name)
        assert img.data.shape == (12, 10), name
    archive = zip_images(ZIP_SEED, "seeds.zip")
    for member in archive.members:
        assert read_image(archive.read(member), member.name).data.shape == (12, 10), member.path
