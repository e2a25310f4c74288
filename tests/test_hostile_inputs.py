"""Hostile uploads a stranger can send a hosted demo (issue 22): zip bombs, lying zip directories,
FITS cubes declaring millions of planes, and truncated variants of each.

Each is refused with one sentence (core.errors.InputError) before its cost is paid: the tests count
the bytes zipfile decompresses and the Python memory used (tracemalloc), never wall-clock time.
Every file is built in memory, by hand where a library would refuse to write it; all stay small.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import numpy.lib.format as npformat
import pytest

from core.data.dataset_zip import unpack_dataset_zip
from core.errors import InputError
from core.io import MAX_PLANES, read_image
from core.io.zip_images import CHUNK, member_budget, zip_images

SIDE = 2048  # the bomb's declared side: 2048 x 2048 float64 = 32 MB of zeros, a 32 KB zip
MAX_PIXELS = 256 * 256  # the limit the tests read with: the bomb is 64 times too big


def one_sentence(message: str) -> str:
    assert message and "\n" not in message and message.endswith("."), message
    assert ". " not in message[:-1], message
    return message


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def bomb_zip(name: str = "bomb/zeros.npy", side: int = SIDE) -> bytes:
    """A zip holding one .npy of side x side float64 zeros, written a piece at a time (never whole)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open(name, "w") as fp:
        fp.write(npy_header((side, side)))
        for _ in range(side * side * 8 // CHUNK):
            fp.write(bytes(CHUNK))
    return buf.getvalue()


def fits_cube(n_planes: int, side: int = 8, planes_present: int = 1) -> bytes:
    """A FITS primary HDU declaring `n_planes` float32 planes, holding data for `planes_present` only."""
    cards = [("SIMPLE", "T"), ("BITPIX", -32), ("NAXIS", 3), ("NAXIS1", side), ("NAXIS2", side), ("NAXIS3", n_planes)]
    header = b"".join(f"{key:<8}= {value:>20}".ljust(80).encode() for key, value in cards) + b"END".ljust(80)
    header = header.ljust(-(-len(header) // 2880) * 2880, b" ")
    data = np.arange(planes_present * side * side, dtype=">f4").tobytes()
    return header + data + bytes(-len(data) % 2880)


def set_central_size(raw: bytes, size: int) -> bytes:
    """The zip with the uncompressed size of its last directory entry replaced (a lying directory)."""
    data = bytearray(raw)
    at = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, size)
    return bytes(data)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_zip()


@pytest.fixture
def inflated(monkeypatch) -> list[int]:
    """Bytes handed out by zipfile's member streams, counted as the code under test reads them."""
    counts: list[int] = []
    real = zipfile.ZipExtFile.read

    def counting(self, n=-1):
        out = real(self, n)
        counts.append(len(out))
        return out

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    return counts


def test_zip_bomb_is_refused_from_its_npy_header_before_decompressing(bomb, inflated):
    archive = zip_images(bomb, "bomb.zip")
    assert archive.members[0].size == SIDE * SIDE * 8 + 128  # the directory is honest: 32 MB
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            read_image(archive.read(archive.members[0], max_pixels=MAX_PIXELS), "zeros.npy", max_pixels=MAX_PIXELS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(inflated) <= CHUNK, f"{sum(inflated):,} bytes inflated"  # only the first piece, which holds the header
    assert peak < 4 * CHUNK, f"{peak / 2**20:.1f} MB of Python memory while refusing a 32 MB bomb"
    message = one_sentence(str(caught.value))
    assert message.startswith("zeros.npy in bomb.zip is 2048 x 2048 pixels, more than the limit"), message


def test_zip_members_are_read_with_the_hosted_pixel_limit_by_default(bomb, monkeypatch, inflated):
    from core.settings import load_settings

    hosted = load_settings({"EQUISCOPE_HOSTED": "1", "EQUISCOPE_MAX_PIXELS": str(MAX_PIXELS)})
    monkeypatch.setattr("core.io.zip_images.settings", lambda: hosted)
    archive = zip_images(bomb, "bomb.zip")
    with pytest.raises(InputError, match="more than the limit of 65,536 pixels"):
        archive.read(archive.members[0])
    assert sum(inflated) <= CHUNK


def test_a_member_larger_than_its_budget_is_refused_before_decompressing(inflated):
    raw = zip_of_members({"big.png": bytes(3 * CHUNK)})
    archive = zip_images(raw, "big.zip")
    with pytest.raises(InputError) as caught:
        archive.read(archive.members[0], max_bytes=CHUNK)
    assert one_sentence(str(caught.value)) == (
        "big.png in big.zip decompresses to more than 1.0 MB, the most one file in a zip may hold; zip smaller files."
    )
    assert sum(inflated) <= CHUNK + 1
    assert member_budget(MAX_PIXELS) < member_budget(4 * MAX_PIXELS)  # the budget follows the pixel limit


def test_a_member_whose_directory_entry_lies_stops_at_the_declared_size(inflated):
    """The directory says 1,000 bytes; the data inflates to 8 MB: at most 1,000 bytes come out, then one sentence."""
    raw = set_central_size(zip_of_members({"lie.npy": npy_header((1024, 1024)) + bytes(8 * 2**20)}), 1000)
    archive = zip_images(raw, "lie.zip")
    with pytest.raises(InputError) as caught:
        archive.read(archive.members[0], max_pixels=2**20)
    assert "lie.npy in lie.zip" in one_sentence(str(caught.value))
    assert sum(inflated) <= 1000


def test_a_data_set_zip_that_lies_leaves_nothing_on_disk(tmp_path, inflated):
    good = npy_bytes(np.arange(64.0).reshape(8, 8))
    raw = set_central_size(zip_of_members({"no/0.npy": good, "no/1.npy": good + bytes(8 * 2**20)}), 1000)
    with pytest.raises(InputError) as caught:
        unpack_dataset_zip(raw, tmp_path / "out", "set.zip")
    assert one_sentence(str(caught.value)).startswith("1.npy in set.zip")
    assert not (tmp_path / "out").exists()  # the member written before the lie is gone too


def test_a_data_set_zip_bomb_is_refused_from_its_header_and_nothing_is_written(bomb, tmp_path, inflated):
    with pytest.raises(InputError) as caught:
        unpack_dataset_zip(bomb, tmp_path / "out", "set.zip", max_pixels=MAX_PIXELS)
    assert "zeros.npy in set.zip is 2048 x 2048 pixels" in one_sentence(str(caught.value))
    assert sum(inflated) <= CHUNK
    assert not (tmp_path / "out").exists()


def test_a_damaged_compressed_stream_is_one_sentence():
    raw = bytearray(bomb_zip(side=512))
    start = raw.find(b"PK\x03\x04") + 30 + len("bomb/zeros.npy")
    raw[start + 40:start + 400] = bytes(range(256)) + bytes(104)  # garbage inside the deflate stream
    archive = zip_images(bytes(raw), "bad.zip")
    with pytest.raises(InputError) as caught:
        archive.read(archive.members[0], max_pixels=2**20)
    assert one_sentence(str(caught.value)) == (
        "zeros.npy in bad.zip cannot be decompressed (the archive is damaged); zip the files again."
    )


@pytest.mark.parametrize("cut", [10, 60])
def test_a_truncated_npy_header_in_a_zip_is_one_sentence(cut):
    raw = zip_of_members({"cut.npy": npy_header((SIDE, SIDE))[:cut]})
    archive = zip_images(raw, "cut.zip")
    with pytest.raises(InputError, match="header is damaged") as caught:
        archive.read(archive.members[0], max_pixels=MAX_PIXELS)
    one_sentence(str(caught.value))


def test_a_truncated_zip_bomb_is_one_sentence(bomb):
    with pytest.raises(InputError, match="not a readable zip archive") as caught:
        zip_images(bomb[: len(bomb) // 2], "half.zip")
    one_sentence(str(caught.value))


def test_fits_cube_declaring_ten_million_planes_is_refused():
    raw = fits_cube(10_000_000)
    assert len(raw) == 2 * 2880  # 5.6 KB on disk
    with pytest.raises(InputError) as caught:
        read_image(raw, "cube.fits")
    assert one_sentence(str(caught.value)) == (
        f"cube.fits declares 10,000,000 planes, more than the {MAX_PLANES:,} EquiScope reads from one cube; "
        "save the planes you need as a smaller cube."
    )


def test_plane_cap_boundary_and_the_plane_count_for_the_ui():
    loaded = read_image(fits_cube(MAX_PLANES, planes_present=2), "cube.fits", plane=1)
    assert loaded.meta.n_planes == MAX_PLANES and loaded.meta.plane == 1
    with pytest.raises(InputError, match="declares 65,537 planes"):
        read_image(fits_cube(MAX_PLANES + 1), "cube.fits")


def test_npy_cube_declaring_too_many_planes_is_refused():
    raw = npy_bytes(np.arange((MAX_PLANES + 1) * 15, dtype=np.uint8).reshape(MAX_PLANES + 1, 3, 5))  # 1 MB
    with pytest.raises(InputError, match=f"declares {MAX_PLANES + 1:,} planes") as caught:
        read_image(raw, "stack.npy")
    one_sentence(str(caught.value))


def test_fits_plane_bomb_in_a_zip_is_refused_from_its_header(inflated):
    archive = zip_images(zip_of_members({"cube.fits": fits_cube(10_000_000)}), "cubes.zip")
    with pytest.raises(InputError, match="cube.fits in cubes.zip declares 10,000,000 planes"):
        archive.read(archive.members[0], max_pixels=MAX_PIXELS)


def test_fits_pixel_bomb_in_a_zip_is_refused_from_its_header(inflated):
    raw = fits_cube(1, side=SIDE, planes_present=0) + bytes(SIDE * SIDE * 4)  # 16 MB of zeros, 16 KB zipped
    archive = zip_images(zip_of_members({"big.fits": raw}), "big.zip")
    with pytest.raises(InputError, match="big.fits in big.zip is 2048 x 2048 pixels") as caught:
        archive.read(archive.members[0], max_pixels=MAX_PIXELS)
    one_sentence(str(caught.value))
    assert sum(inflated) <= CHUNK


@pytest.mark.parametrize("cut", [400, 2880 + 100])
def test_truncated_fits_plane_bombs_are_one_sentence(cut):
    raw = fits_cube(10_000_000)[:cut]  # cut inside the header, then inside the data
    archive = zip_images(zip_of_members({"cube.fits": raw}), "cubes.zip")
    with pytest.raises(InputError) as caught:
        read_image(archive.read(archive.members[0], max_pixels=MAX_PIXELS), "cube.fits", max_pixels=MAX_PIXELS)
    one_sentence(str(caught.value))


def test_ordinary_members_still_read_whole():
    image = np.arange(64.0, dtype=np.float32).reshape(8, 8)
    raw = zip_of_members({"a.npy": npy_bytes(image), "a.fits": fits_cube(3, planes_present=3), "labels.csv": b"x" * 3000})
    archive = zip_images(raw, "ok.zip", keep=("labels.csv",))
    by_name = {m.name: archive.read(m, max_pixels=MAX_PIXELS, max_bytes=8192) for m in archive.members}
    np.testing.assert_array_equal(read_image(by_name["a.npy"], "a.npy").data, image)
    assert read_image(by_name["a.fits"], "a.fits", plane=2).meta.n_planes == 3
    assert by_name["labels.csv"] == b"x" * 3000


def zip_of_members(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, raw in files.items():
            z.writestr(path, raw)
    return buf.getvalue()


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    return buf.getvalue()
