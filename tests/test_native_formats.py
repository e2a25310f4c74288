"""DeepLense's object-array .npy records and gzipped FITS load; a pickle that would run code does not."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from core.data.deeplense import save_native
from core.io import InputError, read_image


def _record(tmp_path, image, mass) -> Path:
    path = tmp_path / "axion_sim_1.npy"
    save_native(path, image, mass)
    return path


def test_deeplense_vortex_record_loads_with_its_axion_mass(tmp_path):
    image = np.arange(150 * 150, dtype=np.int64).reshape(150, 150) % 97
    loaded = read_image(_record(tmp_path, image, 3.2e-23))
    assert loaded.meta.axion_mass_ev == pytest.approx(3.2e-23)
    np.testing.assert_array_equal(loaded.data, image.astype(np.float32))
    assert any("axion mass" in note for note in loaded.meta.notes)


def test_numpy_scalar_mass_as_the_official_script_writes_it(tmp_path):
    record = np.empty(2, dtype=object)
    record[0], record[1] = np.random.default_rng(0).random((64, 64)), np.float64(1.5e-24)
    np.save(tmp_path / "a.npy", record, allow_pickle=True)
    assert read_image(tmp_path / "a.npy").meta.axion_mass_ev == pytest.approx(1.5e-24)


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_pickle_that_would_run_code_is_refused_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = np.empty(2, dtype=object)
    record[0], record[1] = np.zeros((8, 8)), _RunsCode()
    np.save(tmp_path / "evil.npy", record, allow_pickle=True)
    with pytest.raises(InputError, match="refuses to load") as err:
        read_image(tmp_path / "evil.npy")
    assert not (tmp_path / "PWNED").exists()
    assert "system" in str(err.value)


def test_a_raw_pickle_file_named_npy_is_still_refused(tmp_path):
    (tmp_path / "x.npy").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InputError, match="pickle"):
        read_image(tmp_path / "x.npy")


@pytest.mark.parametrize("entries", [["text", np.zeros((4, 4))], [np.zeros((4, 4)), np.zeros((4, 4))], [1.0, 2.0]])
def test_object_records_that_are_not_one_image_and_numbers_are_refused(tmp_path, entries):
    record = np.empty(len(entries), dtype=object)
    for i, entry in enumerate(entries):
        record[i] = entry
    np.save(tmp_path / "r.npy", record, allow_pickle=True)
    with pytest.raises(InputError):
        read_image(tmp_path / "r.npy")


@pytest.mark.parametrize("model, shape", [("I", (150, 150)), ("II", (64, 64))])
def test_files_written_by_the_official_simulator_load(model, shape, realdata):
    loaded = read_image(realdata(f"lenses/DeepLenseSim_Model_{model}_axion_native.npy"))
    assert loaded.data.shape == shape and 1e-24 <= loaded.meta.axion_mass_ev <= 1e-22


def _fits_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    fits.PrimaryHDU(data, header=fits.Header([("BUNIT", "Jy/beam")])).writeto(buffer)
    return buffer.getvalue()


def test_gzipped_fits_loads_like_the_plain_file(tmp_path):
    data = np.random.default_rng(1).random((40, 30)).astype(np.float32)
    path = tmp_path / "image.fits.gz"
    path.write_bytes(gzip.compress(_fits_bytes(data)))
    loaded = read_image(path)
    np.testing.assert_array_equal(loaded.data, data)
    assert loaded.meta.source_format == "fits" and loaded.meta.bunit == "Jy/beam"
    from_bytes = read_image(path.read_bytes(), "upload.fits.gz")
    np.testing.assert_array_equal(from_bytes.data, data)


def test_truncated_or_oversized_gzip_gives_one_sentence(tmp_path):
    whole = gzip.compress(_fits_bytes(np.ones((64, 64), np.float32) * np.arange(64)))
    with pytest.raises(InputError, match="truncated gzip"):
        read_image(whole[: len(whole) // 2], "cut.fits.gz")
    bomb = gzip.compress(b"\0" * 3_000_000)
    with pytest.raises(InputError, match="larger than any image"):
        read_image(bomb, "bomb.fits.gz", max_pixels=1000)


def test_gzipped_files_are_found_in_data_folders(tmp_path):
    from core.data.datasets import scan_dataset

    for cls in ("no", "sphere"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "a.fits.gz").write_bytes(gzip.compress(_fits_bytes(np.random.default_rng(2).random((16, 16)))))
    index = scan_dataset(tmp_path)
    assert len(index) == 2 and index.classes == ["no_sub", "cdm"]
