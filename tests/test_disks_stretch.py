"""Linear Jy/beam images or figure-like ones (core.io.stretch): stretches, the assumption and its sentence."""

import io
from pathlib import Path

import numpy as np
import pytest

from core.data import dsharp
from core.data.disks import observe
from core.io import read_image
from core.io.stretch import (
    STRETCHES,
    apply_stretch,
    assume_brightness,
    model_input,
    render_figure,
    saw_figures,
    stretch_score,
    undo_softening,
    undo_stretch,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "disks" / "HD163296_ALMA_B7_2012.fits"


@pytest.mark.parametrize(("kind", "s"), [("linear", 0.0), ("sqrt", 0.0), ("power", 0.4), ("asinh", 0.05), ("log", 300.0)])
def test_stretches_map_0_1_onto_itself_lift_the_faint_end_and_invert_exactly(kind, s):
    t = np.linspace(0, 1, 101)
    v = apply_stretch(t, kind, s)
    assert v[0] == pytest.approx(0.0) and v[-1] == pytest.approx(1.0) and np.all(np.diff(v) > 0)
    np.testing.assert_allclose(undo_stretch(v, kind, s), t, atol=1e-12)
    if kind != "linear":
        assert v[10] > 0.2  # a tenth of the peak shows at over a fifth of the display


def test_unknown_stretch_gets_one_sentence():
    with pytest.raises(ValueError, match="Unknown stretch 'gamma'"):
        apply_stretch(np.zeros(3), "gamma")
    assert set(STRETCHES) == {"linear", "sqrt", "power", "asinh", "log"}


def test_eight_bit_figures_have_256_levels_and_clip_to_the_display_range():
    x = np.linspace(-0.1, 1.2, 5000)
    v = render_figure(x, "asinh", 0.05, 0.0, 1.0, bits=8)
    assert v.min() == 0.0 and v.max() == 1.0 and len(np.unique(v)) <= 256
    assert np.all(v[x <= 0] == 0) and np.all(v[x >= 1] == 1)


def _meta(fmt, bunit=None, beam=None):
    return type("Meta", (), {"source_format": fmt, "bunit": bunit, "beam": beam})()


def test_fits_in_jy_per_beam_is_linear_and_png_is_figure_like():
    disk = dsharp.sample_dsharp_params(np.random.default_rng(4), 1, 64)
    image, _, _ = observe(disk, 64, np.random.default_rng(0))
    a = assume_brightness(image * 0.003, _meta("fits", "Jy/beam", (0.04, 0.035, 10.0)))
    assert a.kind == "linear" and "Jy/beam" in a.reason
    assert assume_brightness(image, _meta("fits", None, (0.04, 0.035, 10.0))).kind == "linear"  # a beam alone
    png = assume_brightness(np.round(np.clip(image, 0, 1) * 255), _meta("png"))
    assert png.kind == "figure" and "PNG" in png.reason
    raw = assume_brightness(image, None)  # an .npy of the simulated Jy/beam-like image: noise around zero
    assert raw.kind == "linear" and "noise around zero" in raw.reason


def test_simulated_figures_are_figure_like_and_linear_disks_are_not():
    right = total = 0
    for seed in range(40):
        p = dsharp.sample_preset_params("dsharp-figures", np.random.default_rng(seed), seed % 4, 64)
        image, _, _ = observe(p, 64, np.random.default_rng(seed))
        total += 1
        right += assume_brightness(image, None).figure == bool(p.figure_stretch)
    assert right == total


def test_model_input_keeps_a_figure_for_a_figure_trained_model_and_undoes_the_stretch_otherwise():
    p = dsharp.sample_dsharp_params(np.random.default_rng(12), 2, 96)
    linear, _, _ = observe(p, 96, np.random.default_rng(1))
    figure = render_figure(linear, "asinh", 0.02, 0.0, 1.0, bits=8)
    a = assume_brightness(figure, _meta("png"))
    assert a.figure and a.stretch == "stretched"
    same, said = model_input(figure, a, model_saw_figures=True)
    assert np.array_equal(same, figure) and said.startswith("Assumed a figure-like image (a PNG picture")
    assert "used as shown" in said and said.count(".") == 1 and said.endswith(".")
    undone, said = model_input(figure, a, model_saw_figures=False)
    assert "asinh stretch" in said and "undone approximately" in said and said.endswith(".")
    assert stretch_score(undone) < stretch_score(figure)
    assert np.corrcoef(undone.ravel(), np.clip(linear, 0, None).ravel())[0, 1] > np.corrcoef(figure.ravel(), linear.ravel())[0, 1]
    kept, said = model_input(linear, assume_brightness(linear, _meta("fits", "Jy/beam")), model_saw_figures=False)
    assert np.array_equal(kept, linear) and said.startswith("Assumed a linear physical image (a FITS in Jy/beam)")


def test_the_softening_of_a_large_figure_is_found_on_a_sample_as_on_every_pixel(monkeypatch):
    p = dsharp.sample_dsharp_params(np.random.default_rng(12), 2, 96)
    linear, _, _ = observe(p, 96, np.random.default_rng(1))
    figure = np.kron(render_figure(linear, "asinh", 0.02, 0.0, 1.0, bits=8), np.ones((6, 6)))  # 576 px, 8-bit
    sampled = undo_softening(figure)
    monkeypatch.setattr("core.io.stretch.SCORE_PIXELS", figure.size)
    assert sampled > 0 and sampled == pytest.approx(undo_softening(figure), rel=0.15)


def test_a_min_max_normalised_linear_disk_is_used_as_shown_even_when_its_histogram_looks_stretched():
    # ring-only disks score high on stretch_score without any display; only a clipped floor or 8-bit levels call a stretch
    undone = 0
    for seed in range(30):
        p = dsharp.sample_dsharp_params(np.random.default_rng(seed), seed % 3, 96)
        linear, _, _ = observe(p, 96, np.random.default_rng(seed))
        normalised = ((linear - linear.min()) / (linear.max() - linear.min())).astype(np.float32)
        a = assume_brightness(normalised, None)
        assert a.figure and a.reason == "values in [0, 1]"
        image, said = model_input(normalised, a, model_saw_figures=False)
        undone += image is not normalised or "undone" in said
    assert undone == 0
    eight_bit = np.round(render_figure(linear, "log", 1000.0, 0.0, float(linear.max()), bits=8) * 255)
    assert assume_brightness(eight_bit, None).stretch == "stretched"  # whole numbers in [0, 255]: a picture's levels


def test_saw_figures_reads_the_training_preset():
    assert saw_figures({"generator": "disks", "preset": "dsharp-figures"})
    assert not saw_figures({"generator": "disks", "preset": None}) and not saw_figures(None)


@pytest.mark.skipif(not REAL.is_file(), reason="../shared/realdata is absent")
def test_real_alma_fits_is_linear_and_its_asinh_png_is_figure_like():
    from PIL import Image

    loaded = read_image(REAL)
    a = assume_brightness(loaded.data, loaded.meta)
    assert a.kind == "linear" and "JY/BEAM" in a.reason.upper()
    d = loaded.data
    shown = render_figure(d / d.max(), "asinh", 0.02, 0.0, 1.0, bits=8)
    buffer = io.BytesIO()
    Image.fromarray((shown * 255).astype(np.uint8)).save(buffer, format="PNG")
    png = read_image(buffer.getvalue(), "hd163296_asinh.png")
    b = assume_brightness(png.data, png.meta)
    assert b.figure and b.stretch == "stretched" and "clipped to the minimum" in b.reason
    _, said = model_input(png.data, b, model_saw_figures=True)
    assert said.startswith("Assumed a figure-like image (a PNG picture")
