"""Pixel scale as an input (issue 26, item 1): images go to a model on the grid it was trained at.

core.data.regrid resamples (surface-brightness conserving) and crops or pads to the model's field;
core.data.preprocess.prepare_on_grid does that before the usual preparation; core.data.grids gives
each checkpoint's grid record.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data.grids import grid_record
from core.data.preprocess import prepare, prepare_on_grid
from core.data.regrid import arcsec_text, border_level, match_grid, regrid
from core.io import read_image
from core.io.fits_io import fits_bytes

FINDER_GRID = {"arcsec_per_pixel": 0.1, "field_of_view_arcsec": 6.4, "image_size": 64, "source": "test"}
MODEL_SIZE = 65  # the finders' model grid (64-px training images resized to 65)


def sky(side_arcsec: float, pixel: float, seed: int = 0) -> np.ndarray:
    """A lens-like sky sampled at `pixel` arcsec: an elliptical galaxy, an arc and an off-centre companion,
    on a flat background (analytic, so two samplings see the same sky); pixel values are surface brightness
    averaged over each pixel (4 x 4 sub-samples)."""
    n = int(round(side_arcsec / pixel))
    sub = 4
    t = (np.arange(n * sub) + 0.5) / sub * pixel - n * pixel / 2  # sub-sample centres, arcsec from the centre
    y, x = np.meshgrid(t, t, indexing="ij")
    r = np.hypot(x, y / 0.8)
    galaxy = np.exp(-r / 0.4)
    arc = 0.4 * np.exp(-0.5 * ((np.hypot(x, y) - 1.3) / 0.08) ** 2) * (x > -0.3)
    companion = 0.6 * np.exp(-0.5 * ((x - 2.0) ** 2 + (y + 1.2) ** 2) / 0.15 ** 2)
    image = 0.05 + galaxy + arc + companion
    return image.reshape(n, sub, n, sub).mean(axis=(1, 3)).astype(np.float32)


def wcs_header(pixel_arcsec: float, shape: tuple[int, int]) -> list[tuple[str, object, str]]:
    """A TAN celestial WCS with square pixels of `pixel_arcsec` (RA increasing to the left, as on the sky)."""
    deg = pixel_arcsec / 3600.0
    return [("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 150.0, ""), ("CRVAL2", 2.0, ""),
            ("CRPIX1", shape[1] / 2 + 0.5, ""), ("CRPIX2", shape[0] / 2 + 0.5, ""), ("CDELT1", -deg, ""),
            ("CDELT2", deg, ""), ("CUNIT1", "deg", ""), ("CUNIT2", "deg", ""), ("BUNIT", "electron/s", "")]


def as_fits(image: np.ndarray, pixel_arcsec: float | None, name: str = "image.fits"):
    header = wcs_header(pixel_arcsec, image.shape) if pixel_arcsec else None
    return read_image(fits_bytes(image, header), name)


# ---------------------------------------------------------------- the resampling itself


def test_same_scale_and_size_is_the_image_itself():
    image = sky(6.4, 0.1)
    assert np.array_equal(regrid(image, 0.1, 0.1, 64), image)
    assert np.array_equal(regrid(image, 0.1, 0.1004, 64), image)  # within 1 %: the same grid


def test_half_the_pixel_is_the_two_by_two_block_mean_of_the_training_simulator():
    from core.data.lensfinding import bin_to_grid

    fine = np.random.default_rng(1).normal(size=(128, 128)).astype(np.float32)
    assert np.allclose(regrid(fine, 0.05, 0.1, 64), bin_to_grid(fine, 64), atol=1e-6)


@pytest.mark.parametrize("from_arcsec, n", [(0.03, 300), (0.05, 180), (0.04, 171), (0.15, 60)])
def test_surface_brightness_and_flux_are_conserved(from_arcsec, n):
    flat = np.full((n, n), 3.5, dtype=np.float32)
    assert np.allclose(regrid(flat, from_arcsec, 0.1, 40), 3.5, atol=1e-5)  # a flat sky keeps its level
    source = np.zeros((n, n), dtype=np.float32)
    source[n // 2 - 3:n // 2 + 4, n // 2 - 5:n // 2 + 2] = np.arange(49).reshape(7, 7)
    out = regrid(source, from_arcsec, 0.1, 40, fill=0.0)
    assert out.sum() * 0.1 ** 2 == pytest.approx(source.sum() * from_arcsec ** 2, rel=1e-5)  # flux = mean x area


def test_regridding_commutes_with_quarter_turns_and_flips():
    image = np.random.default_rng(2).random((150, 150)).astype(np.float32)
    out = regrid(image, 0.03, 0.1, 64)
    assert np.allclose(regrid(np.rot90(image), 0.03, 0.1, 64), np.rot90(out), atol=1e-5)
    assert np.allclose(regrid(image[:, ::-1], 0.03, 0.1, 64), out[:, ::-1], atol=1e-5)


def test_a_small_image_is_padded_with_its_sky_level_and_stays_centred():
    image = np.full((30, 30), 2.0, dtype=np.float32)
    image[0, :] = 7.0  # one bright border row does not move the median
    image[14:16, 14:16] = 10.0  # the centre
    out = regrid(image, 0.1, 0.1, 64)
    assert border_level(image) == 2.0
    assert out[0, 0] == 2.0 and out[-1, -1] == 2.0  # the pad continues the sky
    assert np.unravel_index(np.argmax(out), out.shape) in {(31, 31), (31, 32), (32, 31), (32, 32)}


def test_the_pad_is_sky_noise_like_the_image_edges_not_a_flat_frame():
    """A 4.5″ COSMOS-like cutout at 0.03″ (noise sigma 1 per native pixel) on the finders' 6.4″ grid: the pad has
    the sky level and the noise of the resampled pixels beside it, and it is the same on every call."""
    rng = np.random.default_rng(4)
    image = (5.0 + rng.normal(0, 1.0, (150, 150)) + 50 * sky(4.5, 0.03)).astype(np.float32)
    out = regrid(image, 0.03, 0.1, 64)
    inner = out[11:53, 11:53]  # fully covered: 150 x 0.03″ = 45 new pixels, centred
    edge = np.concatenate([inner[:2].ravel(), inner[-2:].ravel(), inner[2:-2, :2].ravel(), inner[2:-2, -2:].ravel()])
    pad = np.concatenate([out[:9].ravel(), out[-9:].ravel()])
    edge_sigma = 1.4826 * np.median(np.abs(edge - np.median(edge)))
    assert np.std(pad) == pytest.approx(edge_sigma, rel=0.15)
    assert np.std(pad) > 0.2  # ~1 / sqrt(11 native pixels per new one), not a flat frame
    assert np.median(pad) == pytest.approx(border_level(image), abs=0.05)
    assert np.array_equal(regrid(image, 0.03, 0.1, 64), out)  # deterministic: seeded from the image
    other = image.copy()
    other[75, 75] += 1.0
    assert not np.array_equal(regrid(other, 0.03, 0.1, 64)[:9], out[:9])  # another image, other noise
    # turned with the image (up to float rounding of the resampling), so quarter turns stay exact symmetries
    assert np.allclose(regrid(np.rot90(image), 0.03, 0.1, 64), np.rot90(out), atol=1e-4)
    assert np.allclose(regrid(image[::-1], 0.03, 0.1, 64), out[::-1], atol=1e-4)
    assert np.all(regrid(image, 0.03, 0.1, 64, fill=0.0)[:9] == 0.0)  # an explicit fill stays flat


# ---------------------------------------------------------------- files as users have them


def test_a_fits_at_005_and_the_same_sky_at_01_give_the_same_model_input():
    """The same sky: a 10″ field at 0.05″ (200 px) and the central 6.4″ at 0.1″ (64 px), both FITS with WCS."""
    fine, coarse = as_fits(sky(10.0, 0.05), 0.05), as_fits(sky(6.4, 0.1), 0.1)
    assert fine.meta.pixel_scale_arcsec == pytest.approx(0.05) and coarse.meta.pixel_scale_arcsec == pytest.approx(0.1)
    a, match_a = prepare_on_grid(fine.data, MODEL_SIZE, fine.meta.pixel_scale_arcsec, FINDER_GRID)
    b, match_b = prepare_on_grid(coarse.data, MODEL_SIZE, coarse.meta.pixel_scale_arcsec, FINDER_GRID)
    assert np.abs(a - b).max() < 0.005  # the same model input, up to the two samplings of the sky
    before = np.abs(prepare(fine.data, MODEL_SIZE) - prepare(coarse.data, MODEL_SIZE)).max()
    assert before > 0.2  # without regridding the 0.05″ file shows the model a 10″ field
    assert match_a.note == ("Resampled from 0.05″ to 0.10″ per pixel to match the model's grid; "
                            "the central 6.4″ field is used.")
    assert match_b.note == "Already at the model's 0.10″ per pixel."


def test_a_bare_npy_keeps_its_pixels_and_gets_the_note(tmp_path):
    image = sky(10.0, 0.05)
    np.save(tmp_path / "lens.npy", image)
    loaded = read_image(tmp_path / "lens.npy")
    assert loaded.meta.pixel_scale_arcsec is None
    x, match = prepare_on_grid(loaded.data, MODEL_SIZE, loaded.meta.pixel_scale_arcsec, FINDER_GRID)
    assert np.array_equal(x, prepare(image, MODEL_SIZE)) and not match.resample
    assert match.note.startswith("This image has no pixel scale, so its pixels go to the model as they are")
    assert "0.10″ per pixel on a 6.4″ field" in match.note


def test_the_users_pixel_scale_changes_the_input_as_a_header_would():
    image = sky(10.0, 0.05)
    unknown, _ = prepare_on_grid(image, MODEL_SIZE, None, FINDER_GRID)
    typed, match = prepare_on_grid(image, MODEL_SIZE, 0.05, FINDER_GRID, scale_origin="user")
    from_header = as_fits(image, 0.05)
    header, _ = prepare_on_grid(from_header.data, MODEL_SIZE, from_header.meta.pixel_scale_arcsec, FINDER_GRID)
    assert np.abs(typed - unknown).max() > 0.2
    assert np.allclose(typed, header, atol=1e-5)
    assert "0.05″ (the pixel scale you set)" in match.note


def test_a_model_without_a_pixel_scale_takes_the_image_as_it_is():
    image = sky(6.4, 0.05)
    for grid in (None, {"arcsec_per_pixel": None, "image_size": 129, "source": "disks"}):
        x, match = prepare_on_grid(image, 33, 0.05, grid)
        assert np.array_equal(x, prepare(image, 33)) and match.note is None and not match.resample


def test_notes_say_what_was_done():
    assert arcsec_text(0.05) == "0.05″" and arcsec_text(0.1) == "0.10″" and arcsec_text(0.101) == "0.101″"
    small = match_grid((50, 50), 0.03, FINDER_GRID).note
    assert small.startswith("Resampled from 0.03″ to 0.10″ per pixel") and "covers 1.5″ of its 6.4″ field" in small


# ---------------------------------------------------------------- grid records


def test_grid_records_come_from_the_training_presets():
    assert grid_record({"generator": "lenses", "preset": "project", "size": 150, "version": "1.4"})["arcsec_per_pixel"] == 0.05
    assert grid_record({"generator": "lenses", "size": 150, "version": "1.4"})["field_of_view_arcsec"] == 7.5
    model2 = grid_record({"generator": "lenses", "preset": "deeplense-model2", "size": 64, "version": "dl-1.1"})
    assert model2["arcsec_per_pixel"] == 0.101 and model2["image_size"] == 64
    finder = grid_record({"generator": "lensfinding", "preset": "hard", "size": 64, "version": "lf-1.0"})
    assert (finder["arcsec_per_pixel"], finder["field_of_view_arcsec"]) == (0.1, 6.4)
    lr = grid_record({"generator": "lenses", "preset": "deeplense-model2", "size": 64, "version": "pairs-1"}, "superres")
    assert lr["arcsec_per_pixel"] == pytest.approx(0.202) and lr["image_size"] == 32
    mixed = grid_record({"generator": "lenses", "preset": "dl2+dl1", "size": 64, "version": "pairs-mix-1"}, "superres")
    assert mixed["arcsec_per_pixel"] is None and "mixed" in mixed["source"]
    disk = grid_record({"generator": "disks", "size": 129, "version": "2.1"})
    assert disk["arcsec_per_pixel"] is None and disk["beam_fwhm_px"]["p5"] >= 2.2 - 1e-9
    assert 0 < disk["au_per_pixel"]["p5"] < disk["au_per_pixel"]["median"] < disk["au_per_pixel"]["p95"]
    assert grid_record({"generator": None, "size": 64}) is None and grid_record(None) is None


# ---------------------------------------------------------------- python -m core evaluate


def _sky_folder(root):
    """lens/ and nonlens/ of FITS files with a WCS at 0.05″ (10″ fields), and one bare .npy."""
    for label, seed in (("lens", 0), ("lens", 1), ("nonlens", 2), ("nonlens", 3)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        image = sky(10.0, 0.05) * (1 + seed)
        (folder / f"sky{seed}.fits").write_bytes(fits_bytes(image, wcs_header(0.05, image.shape)))
    np.save(root / "nonlens" / "bare.npy", sky(6.4, 0.1))
    return root


def test_a_data_set_is_put_on_the_grid_under_the_same_names(tmp_path):
    from core.data.regrid_dataset import dataset_on_grid

    data = _sky_folder(tmp_path / "sky")
    index, note = dataset_on_grid(data, FINDER_GRID, tmp_path / "grid")
    assert [f.relative_to(index.root).as_posix() for f in index.files] == [
        "lens/sky0.fits", "lens/sky1.fits", "nonlens/bare.npy", "nonlens/sky2.fits", "nonlens/sky3.fits"]
    assert index.labels == ["lens", "lens", "nonlens", "nonlens", "nonlens"]
    on_grid = read_image(index.root / "lens" / "sky1.fits")
    assert on_grid.data.shape == (64, 64) and on_grid.meta.pixel_scale_arcsec is None  # no stale sky cards
    assert np.allclose(on_grid.data, regrid(sky(10.0, 0.05) * 2, 0.05, 0.1, 64))
    assert np.array_equal(read_image(index.root / "nonlens" / "bare.npy").data, sky(6.4, 0.1))  # kept as it is
    assert note == ("4 of 5 images put on the model's grid (0.10″ per pixel, a 6.4″ field) from their files' pixel "
                    "scales (0.05″); 1 without a pixel scale keep their pixels.")
    same, none = dataset_on_grid(data, {"arcsec_per_pixel": None, "image_size": 129}, tmp_path / "disk")
    assert none is None and same.root == data  # a model without a pixel scale reads the folder itself


def test_evaluate_resamples_files_with_a_wcs_and_says_so(tmp_path, capsys):
    import json

    import torch

    from core.checkpoints import save_checkpoint
    from core.cli import main
    from core.models.registry import build_model

    torch.manual_seed(0)
    config = {"image_size": 17, "channels": [2, 2, 2, 2], "hidden": 4, "n_classes": 2}
    path = save_checkpoint(tmp_path / "finder.pt", model_name="cnn_classifier", config=config,
                           state_dict=build_model("cnn_classifier", config).state_dict(), metrics={}, command="test",
                           history={}, classes=["lens", "nonlens"],
                           data_manifest={"generator": "lensfinding", "preset": "easy", "size": 64, "n": 8})
    data = _sky_folder(tmp_path / "sky")
    csv = tmp_path / "rows.csv"
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data), "--json", "--csv", str(csv)]) == 0
    on_grid = json.loads(capsys.readouterr().out)
    assert on_grid["n"] == 5 and on_grid["notes"][0].startswith("4 of 5 images put on the model's grid (0.10″ per pixel")
    assert "lens/sky0.fits" in csv.read_text()  # rows keep the data set's own file names
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(data), "--json", "--native-pixels"]) == 0
    native = json.loads(capsys.readouterr().out)
    assert "notes" not in native or not any("model's grid" in n for n in native["notes"])
