"""`python -m core reconstruct`: cutout + reconstruction as FITS with a true header, masks, notes, errors."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from core.cli import main
from core.io import write_fits

CHECKPOINT = "disks-ae-cnn"  # a shipped autoencoder that loads fast


def sky_header(bunit="Jy/beam"):
    return [("CTYPE1", "RA---SIN", ""), ("CTYPE2", "DEC--SIN", ""), ("CRVAL1", 240.0, ""), ("CRVAL2", -30.0, ""),
            ("CRPIX1", 101.0, ""), ("CRPIX2", 101.0, ""), ("CDELT1", -5e-6, ""), ("CDELT2", 5e-6, ""),
            ("CUNIT1", "deg", ""), ("CUNIT2", "deg", ""), ("BUNIT", bunit, ""), ("BMAJ", 2e-5, ""), ("BMIN", 2e-5, ""), ("BPA", 0.0, "")]


def field_with_disk(nan_corner=True):
    rows, cols = np.mgrid[:200, :200].astype(float)
    r = np.hypot(rows - 80, cols - 120)
    image = np.exp(-0.5 * ((r - 12) / 3) ** 2) + 0.01 * np.random.default_rng(0).standard_normal((200, 200))
    if nan_corner:
        image[150:, :40] = np.nan
    return image.astype(np.float32)


def test_reconstruct_writes_cutout_and_reconstruction_with_a_true_header(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_fits(src / "ring.fits", field_with_disk(), sky_header())
    velocity = field_with_disk(nan_corner=False)
    velocity[0, 0] = np.nan  # a NaN inside the box's reach is not needed: masked pixels still count
    write_fits(src / "vel.fits", velocity, sky_header("km/s"))
    (src / "notes.txt").write_text("not an image")  # ignored: not a supported extension
    out = tmp_path / "out"
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(src), "--out", str(out)]) == 0
    summary = json.loads((out / "reconstruct.json").read_text())
    assert [e["input"] for e in summary["images"]] == ["ring.fits", "vel.fits"]
    ring = summary["images"][0]
    assert ring["source"] == "detected" and ring["unit_note"] is None
    assert abs(ring["centre"][0] - 80) < 1.5 and abs(ring["centre"][1] - 120) < 1.5
    assert 0.0 < ring["metrics"]["ms_ssim"] <= 1.0 and len(ring["latent"]) > 0
    assert "velocity" in summary["images"][1]["unit_note"]
    with fits.open(out / ring["files"]["cutout"]) as hdul:
        cut_header, cut = hdul[0].header, hdul[0].data
    with fits.open(out / ring["files"]["reconstruction"]) as hdul:
        rec_header, rec = hdul[0].header, hdul[0].data
    assert cut.shape == rec.shape == (129, 129) and cut_header["BUNIT"] == "normalised"
    assert np.nanmax(cut) == pytest.approx(1.0) and np.nanmin(rec) >= 0.0
    # the grid's centre pixel and the original's detected centre are the same point on the sky
    r0, r1, c0, c1 = ring["box"]
    original = WCS(fits.Header([fits.Card(k, v, c) for k, v, c in sky_header()]))
    on_grid = WCS(cut_header)
    centre_sky = original.pixel_to_world((c0 + c1 - 1) / 2, (r0 + r1 - 1) / 2)
    grid_sky = on_grid.pixel_to_world(64, 64)
    assert centre_sky.separation(grid_sky).arcsec < 0.01
    scale = (r1 - r0) / 129
    assert cut_header["CDELT2"] == pytest.approx(5e-6 * scale)
    assert any("model disks-ae-cnn" in h for h in rec_header["HISTORY"])
    assert any("Source found" in c for c in cut_header["COMMENT"])


def test_box_beyond_the_image_and_nan_pixels_are_nan_in_both_files(tmp_path):
    write_fits(tmp_path / "ring.fits", field_with_disk(), sky_header())
    out = tmp_path / "out"
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "ring.fits"), "--out", str(out),
                 "--box", "120", "px", "--centre", "160", "30"]) == 0
    entry = json.loads((out / "reconstruct.json").read_text())["images"][0]
    assert entry["source"] == "user box" and entry["box"] == [100, 221, -30, 91]
    with fits.open(out / entry["files"]["cutout"]) as hdul:
        cut = hdul[0].data
    with fits.open(out / entry["files"]["reconstruction"]) as hdul:
        rec = hdul[0].data
    assert np.isnan(cut).any() and np.array_equal(np.isnan(cut), np.isnan(rec))
    assert np.isnan(cut[-1, 0]) and not np.isnan(cut[0, -1])  # NaN corner / outside the image vs inside
    assert entry["metrics"]["valid_fraction"] < 1.0


def test_bad_inputs_get_one_sentence(tmp_path, capsys):
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    assert "holds no FITS" in capsys.readouterr().err
    write_fits(tmp_path / "ring.fits", field_with_disk(), sky_header())
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "ring.fits"), "--out", str(tmp_path / "o"),
                 "--box", "1", "au"]) == 1  # au without a distance: that file fails, with its reason
    assert "distance" in capsys.readouterr().out
    assert main(["reconstruct", "--checkpoint", "lenses-classifier-cnn", "--input", str(tmp_path / "ring.fits"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "needs an autoencoder" in capsys.readouterr().err


def test_an_image_unlike_any_disk_gets_a_fit_warning(tmp_path, capsys):
    """A checkerboard-like texture (nothing a disk autoencoder learned) is reported, not silently reconstructed."""
    rows, cols = np.mgrid[:96, :96]
    texture = (np.sin(rows / 2.0) * np.cos(cols / 1.5) + 0.5 * np.sin((rows + cols) / 3.0)).astype(np.float32)
    write_fits(tmp_path / "texture.fits", texture, sky_header())
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "texture.fits"), "--out", str(tmp_path / "o"),
                 "--no-cutout"]) == 0
    entry = json.loads((tmp_path / "o" / "reconstruct.json").read_text())["images"][0]
    assert entry["metrics"]["ms_ssim"] < 0.8 and "unlike the simulated disks" in entry["fit_note"]
    assert "warning: The reconstruction matches the cutout poorly" in capsys.readouterr().out


def test_an_optical_galaxy_is_flagged_out_of_kind_and_a_radio_disk_is_not(tmp_path, capsys):
    """An HST-like elliptical galaxy (a Sersic profile in e-/s with an optical header) reconstructs well, since it
    is smooth, but the kind check says the disk model's answer on it is out of kind, on screen and in the JSON; a
    ring with beam-smoothed noise and a radio header is a disk, and gets no such warning."""
    from scipy.ndimage import gaussian_filter

    rows, cols = np.mgrid[:120, :120].astype(float)
    noise = np.random.default_rng(1).standard_normal((120, 120))
    r = np.hypot((rows - 60) / 0.7, cols - 60)
    galaxy = 5.0 * np.exp(-7.67 * ((r / 15.0) ** 0.25 - 1)) + 0.02 * noise
    optical = [c for c in sky_header("ELECTRONS/S") if c[0] not in ("BMAJ", "BMIN", "BPA")]
    write_fits(tmp_path / "galaxy.fits", galaxy.astype(np.float32), optical + [("TELESCOP", "HST", ""), ("INSTRUME", "ACS", "")])
    disk = np.exp(-0.5 * ((np.hypot(rows - 60, cols - 60) - 14) / 3) ** 2) + 0.03 * gaussian_filter(noise, 2)
    write_fits(tmp_path / "disk.fits", disk.astype(np.float32), sky_header() + [("TELESCOP", "ALMA", "")])
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    disk_entry, galaxy_entry = json.loads((tmp_path / "o" / "reconstruct.json").read_text())["images"]
    assert galaxy_entry["kind"]["kind"] in ("galaxy", "lens") and galaxy_entry["kind"]["flag"] == "out of kind"
    assert disk_entry["kind"]["kind"] == "disk" and disk_entry["kind"]["flag"] is None
    printed = capsys.readouterr().out
    assert printed.count("out of kind") == 1 and "warning: Kind check:" in printed.split("galaxy.fits")[1]


def _casa_header():
    """sky_header() as CASA writes it: RA, Dec, FREQ, STOKES with a PC matrix, time and site."""
    cards = [c for c in sky_header() if not c[0].startswith(("CTYPE", "CRVAL", "CRPIX", "CDELT", "CUNIT"))]
    cards += [(f"PC{i}_{j}", float(i == j), "") for j in range(1, 5) for i in range(1, 5)]
    for n, (ctype, crval, cdelt, crpix, cunit) in enumerate(
            [("RA---SIN", 240.0, -5e-6, 101.0, "deg"), ("DEC--SIN", -30.0, 5e-6, 101.0, "deg"),
             ("FREQ", 2.3e11, 7.5e9, 1.0, "Hz"), ("STOKES", 1.0, 1.0, 1.0, "")], start=1):
        cards += [(f"CTYPE{n}", ctype, ""), (f"CRVAL{n}", crval, ""), (f"CDELT{n}", cdelt, ""), (f"CRPIX{n}", crpix, ""),
                  (f"CUNIT{n}", cunit, "")]
    return cards + [("SPECSYS", "LSRK", ""), ("DATE-OBS", "2014-05-21T04:23:27.5", ""),
                    ("OBSGEO-X", 2225142.18, ""), ("OBSGEO-Y", -5440307.37, ""), ("OBSGEO-Z", -2481029.85, "")]


def _cutout_maps_like_its_input(out, entry, input_path):
    """Both written files: a 2-D WCS astropy reads without a warning, whose pixel_to_world(x, y) puts each grid
    pixel where the input's own (celestial) WCS puts the matching input pixel."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = WCS(fits.getheader(input_path)).celestial
    r0, r1, c0, c1 = entry["box"]
    r = (r1 - r0) / 129
    for what in ("cutout", "reconstruction"):
        header = fits.getheader(out / entry["files"][what])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            after = WCS(header)
        assert after.naxis == 2 and "CTYPE3" not in header and "PC3_3" not in header
        for x, y in [(0, 0), (64, 64), (128, 5)]:
            sky = after.pixel_to_world(x, y)
            assert sky.separation(before.pixel_to_world(c0 - 0.5 + (x + 0.5) * r, r0 - 0.5 + (y + 0.5) * r)).arcsec < 1e-6


def test_a_casa_cube_gives_files_with_a_2d_celestial_wcs(tmp_path):
    write_fits(tmp_path / "ring.fits", field_with_disk()[None, None], _casa_header())  # (1, 1, 200, 200)
    out = tmp_path / "out"
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(tmp_path / "ring.fits"), "--out", str(out)]) == 0
    entry = json.loads((out / "reconstruct.json").read_text())["images"][0]
    _cutout_maps_like_its_input(out, entry, tmp_path / "ring.fits")


def test_the_real_casa_ring_is_written_with_a_2d_celestial_wcs(realdata, tmp_path):
    path = realdata("disks/ring20_robust0.5_clean.image.fits")  # (1, 1, 512, 512): RA, Dec, FREQ, STOKES
    out = tmp_path / "out"
    assert main(["reconstruct", "--checkpoint", CHECKPOINT, "--input", str(path), "--out", str(out)]) == 0
    entry = json.loads((out / "reconstruct.json").read_text())["images"][0]
    assert entry["source"] == "detected"
    _cutout_maps_like_its_input(out, entry, path)
