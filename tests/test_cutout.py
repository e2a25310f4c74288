"""core.data.cutout: the source is found and framed, a user's box wins, NaN pixels are masked, units are checked."""


import numpy as np
import pytest

from core.data.cutout import MARGIN, CutoutBox, cutout, disk_unit_note, exclude_invalid
from core.data.disks import DiskParams, simulate_disk
from core.errors import InputError


def small_disk_in_large_field(centre=(140, 230), field=320, disk_px=48, snr=30.0, seed=0):
    """A 48-px ring disk (outer ring radius ~ 14 px) pasted at `centre` of a field of beam-like noise."""
    p = DiskParams(inclination_deg=40.0, position_angle_deg=30.0, critical_radius_au=40.0, outer_radius_au=60.0,
                   distance_pc=140.0, pixel_scale_arcsec=150.0 / 140.0 / disk_px, beam_fwhm_arcsec=0.05,
                   smooth_fraction=0.0, ring_radii_au=[25.0, 50.0], ring_widths_au=[4.0, 4.0], ring_amplitudes=[1.0, 1.0],
                   cavity_radius_au=15.0, spiral_contrast=0.0)
    disk = simulate_disk(p, disk_px, noise=False).astype(np.float64)
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal((field, field)), 1.0)
    image = 3.0 + noise / noise.std() / snr  # a background offset too
    r0, c0 = centre[0] - disk_px // 2, centre[1] - disk_px // 2
    image[r0 : r0 + disk_px, c0 : c0 + disk_px] += disk
    true_centre = (r0 + (disk_px - 1) / 2, c0 + (disk_px - 1) / 2)
    return image, true_centre, p


def test_small_disk_in_a_large_field_is_found_centred_and_fills_the_grid():
    image, (tr, tc), _ = small_disk_in_large_field()
    cut = cutout(image, 65)
    assert cut.source == "detected"
    assert abs(cut.centre[0] - tr) < 1.5 and abs(cut.centre[1] - tc) < 1.5
    assert cut.background == pytest.approx(3.0, abs=0.01)
    # the outer ring (50 au = 16 px at this scale, inclined) sets the radius; the box is MARGIN times it
    assert 12 < cut.radius_px < 22
    assert cut.side_px == pytest.approx(2 * MARGIN * cut.radius_px, abs=3)
    assert cut.side_px < 0.2 * image.shape[0]  # far smaller than the field
    assert cut.image.shape == (65, 65) and cut.valid.all()
    assert cut.image.min() == 0.0 and cut.image.max() == 1.0
    # the disk is in the middle of the grid: the bright pixels' centroid sits at the grid centre
    rows, cols = np.nonzero(cut.image > 0.3)
    assert abs(rows.mean() - 32) < 2 and abs(cols.mean() - 32) < 2
    # the disk spans most of the grid rather than a few pixels
    assert np.ptp(cols) > 0.4 * 65
    assert any("Source found" in n for n in cut.notes)


def test_a_user_box_wins_in_pixels_arcsec_and_au():
    image, _, _ = small_disk_in_large_field()
    cut = cutout(image, 33, box=CutoutBox(side=101, unit="px", centre=(100.0, 100.0)))
    assert cut.source == "user box" and cut.box == (50, 151, 50, 151)
    arc = cutout(image, 33, box=CutoutBox(side=2.0, unit="arcsec", centre=(100.0, 100.0)), pixel_scale_arcsec=0.02)
    assert arc.box == (50, 151, 50, 151)
    au = cutout(image, 33, box=CutoutBox(side=280.0, unit="au", centre=(100.0, 100.0), distance_pc=140.0), pixel_scale_arcsec=0.02)
    assert au.box == arc.box
    # without a centre the box goes around the detected source
    around = cutout(image, 33, box=CutoutBox(side=41, unit="px"))
    r0, r1, c0, c1 = around.box
    assert r1 - r0 == c1 - c0 == 41 and around.source == "user box"
    assert abs((r0 + r1 - 1) / 2 - around.centre[0]) <= 0.5 and abs((c0 + c1 - 1) / 2 - around.centre[1]) <= 0.5
    assert abs(around.centre[0] - 139.5) < 1.5 and abs(around.centre[1] - 229.5) < 1.5
    with pytest.raises(InputError, match="pixel scale"):
        cutout(image, 33, box=CutoutBox(side=2.0, unit="arcsec"))
    with pytest.raises(InputError, match="distance"):
        cutout(image, 33, box=CutoutBox(side=2.0, unit="au"), pixel_scale_arcsec=0.02)
    with pytest.raises(InputError, match="unit"):
        cutout(image, 33, box=CutoutBox(side=2.0, unit="pc"))


def test_the_pages_box_tuple_is_decoded_in_one_place():
    assert CutoutBox.from_tuple(None) is None  # automatic
    assert CutoutBox.from_tuple((280.0, "au", None, None, 140.0)) == CutoutBox(280.0, "au", None, 140.0)
    assert CutoutBox.from_tuple((41.0, "px", 100.0, 120.0, None)) == CutoutBox(41.0, "px", (100.0, 120.0), None)
    image, _, _ = small_disk_in_large_field()
    given = cutout(image, 33, box=CutoutBox.from_tuple((101.0, "px", 100.0, 100.0, None)))
    assert given.box == (50, 151, 50, 151)


def test_a_box_beyond_the_edge_is_padded_and_masked():
    image, _, _ = small_disk_in_large_field()
    cut = cutout(image, 33, box=CutoutBox(side=101, centre=(10.0, 10.0)))
    assert cut.box == (-40, 61, -40, 61)
    assert not cut.valid[:10, :10].any() and cut.valid[-5:, -5:].all()
    assert any("beyond the image" in n for n in cut.notes)


def test_nan_pixels_are_masked_not_filled_with_signal_and_left_out_of_metrics():
    image, (tr, tc), _ = small_disk_in_large_field()
    image[:, :100] = np.nan  # 31 % of the field, far from the disk
    image[int(tr) + 2 : int(tr) + 6, int(tc) - 2 : int(tc) + 2] = np.inf  # a hole inside the disk
    cut = cutout(image, 65)
    assert abs(cut.centre[0] - tr) < 2 and abs(cut.centre[1] - tc) < 2
    assert (~cut.valid).any() and cut.valid.mean() > 0.9
    # masked pixels carry the background level, not a brightness that looks like disk emission
    background_level = np.median(cut.image[cut.valid & (cut.image < 0.1)])
    assert np.abs(cut.image[~cut.valid] - background_level).max() < 0.05
    assert any("left out of the metrics" in n for n in cut.notes)
    recon = np.zeros_like(cut.image)
    kept = exclude_invalid(recon, cut.image, cut.valid)
    assert np.all(kept[~cut.valid] == cut.image[~cut.valid]) and np.all(kept[cut.valid] == 0)
    with pytest.raises(InputError, match="no valid"):
        cutout(np.full((20, 20), np.nan), 17)


def test_pure_noise_keeps_the_whole_image_and_says_so():
    noise = np.random.default_rng(1).standard_normal((90, 120))
    cut = cutout(noise, 33)
    assert cut.source == "whole image" and cut.box == (0, 90, 15, 105)
    assert any("No source stands out" in n for n in cut.notes)
    assert cutout(noise, 33, auto=False).source == "whole image"


def test_a_caller_mask_is_respected_and_checked():
    image, _, _ = small_disk_in_large_field()
    mask = np.ones(image.shape, bool)
    mask[:, 200:] = False  # hides the disk
    with pytest.raises(InputError, match="shape"):
        cutout(image, 33, mask=mask[:10])
    cut = cutout(image, 33, mask=mask)
    assert cut.source == "whole image" or cut.centre[1] < 200


@pytest.mark.parametrize(("bunit", "note"), [
    ("Jy/beam", None), ("JY/PIXEL", None), ("K", None), ("counts/s", None), (None, None), ("", None),
    ("m/s", "velocity"), ("km/s", "velocity"), ("KM/S", "velocity"), ("km s-1", "velocity"), ("deg", "not a brightness unit"),
])  # fmt: skip
def test_unit_note_flags_velocity_maps_and_unknown_units(bunit, note):
    got = disk_unit_note(bunit)
    assert (got is None) if note is None else (note in got)


@pytest.mark.parametrize("name", ["ring20_robust0.5_clean.image.fits", "ring20__model_image.fits"])
def test_casa_ring_and_its_sky_model_are_cut_around_the_ring(name, realdata):
    from core.io import read_image

    loaded = read_image(realdata(f"disks/{name}"))
    cut = cutout(loaded.data, 129, pixel_scale_arcsec=loaded.meta.pixel_scale_arcsec)
    assert cut.source == "detected"
    assert abs(cut.centre[0] - 255.5) < 3 and abs(cut.centre[1] - 255.5) < 3  # the disk is at the phase centre
    radius_arcsec = cut.radius_px * loaded.meta.pixel_scale_arcsec
    assert 0.15 < radius_arcsec < 0.4  # a 20 au ring (sigma 8 au) at 160 pc, plus the beam for the CASA image
    assert cut.side_px < 0.45 * 512
