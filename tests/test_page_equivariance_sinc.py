"""Equivariance off the grid (issue 24): the Equivariance lab turns by other angles than multiples of 90° either
bilinearly (the default, as a pipeline's reprojection does) or band-limited (sinc, core.data.sinc); the choice reaches
every turn of the page, travels in its link, and picks the measured curve bench.rotation recorded with those turns.

Tiny checkpoints and the AppTest app of test_pages; measured curves are written with bench.rotation's own writer.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from test_pages import app, array_of, disk_image, open_page, plotly_specs, tiny_index, with_image  # noqa: F401

from core.data.transforms import rotate

ANGLES = [0.0, 30.0, 45.0, 90.0]


def _image(seed: int = 0, size: int = 33) -> torch.Tensor:
    return torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- the turns themselves


def test_the_pages_transform_turns_with_the_mode_asked_and_stays_exact_at_90_degrees():
    from ui.inference import transform

    x = _image()
    sinc, bilinear = transform(x, 30.0, mode="sinc"), transform(x, 30.0)
    torch.testing.assert_close(sinc, rotate(x, 30.0, mode="sinc"), rtol=0, atol=0)
    torch.testing.assert_close(bilinear, rotate(x, 30.0), rtol=0, atol=0)  # the default is bilinear, as before
    assert (sinc - bilinear).abs().max() > 1e-2
    inside = torch.zeros(33, 33, dtype=torch.bool)
    inside[8:25, 8:25] = True  # away from the corners each mode fills its own way: bilinear smooths the noise
    assert sinc[..., inside].std() > 1.3 * bilinear[..., inside].std()
    for mode in ("bilinear", "sinc"):
        torch.testing.assert_close(transform(x, 90.0, mode=mode), torch.rot90(x, 1, dims=(-2, -1)), rtol=0, atol=0)
        torch.testing.assert_close(transform(x, 270.0, True, mode=mode),
                                   torch.rot90(torch.flip(x, dims=(-1,)), 3, dims=(-2, -1)), rtol=0, atol=0)


def test_the_curves_turn_input_and_output_maps_with_the_mode():
    """f(g·x) against g·f(x) for a pointwise square: both sides turned with the mode asked (g·f(x) by act_on_map;
    in sinc mode the map is continued beyond its square by its azimuthal profile, core.data.observe.turn)."""
    from core.analysis.equivariance import equivariance_curve, relative_error
    from core.data.observe import turn

    def turn_map(y, a, mode):
        return turn(y, torch.tensor([a]), torch.tensor([False]), mode="sinc") if mode == "sinc" else rotate(y, a, mode=mode)

    x = _image(1)
    errors = {}
    for mode in ("bilinear", "sinc"):
        curve = equivariance_curve(lambda t: t**2, x, ANGLES, kind="equivariant", mask_input=False, mode=mode)
        target = [relative_error(rotate(x, a, mode=mode) ** 2, turn_map(x**2, a, mode),
                                 _disc(33))[0] for a in ANGLES]
        np.testing.assert_allclose(curve.error[0], target, rtol=1e-6, atol=1e-12)
        assert curve.error[0, 0] < 1e-12 and curve.error[0, -1] < 1e-6  # exact at 0 and 90 degrees either way
        errors[mode] = curve.error[0]
    assert abs(errors["sinc"][1] - errors["bilinear"][1]) > 1e-3  # 30 degrees: the two turns differ


def test_a_sinc_turn_of_an_output_map_does_not_ring_at_the_squares_edge():
    """An output map that fills its square (a flat one): turned on a zero canvas its cut edge rings into the
    measured disc; act_on_map continues it by its profile, so a flat map stays flat there."""
    from core.analysis.equivariance import act_on_map

    flat = torch.ones(1, 1, 33, 33)
    inside = _disc(33).bool()
    assert float((act_on_map(flat, 30.0, False, mode="sinc") - 1)[..., inside].abs().max()) < 1e-5
    assert float((rotate(flat, 30.0, mode="sinc") - 1)[..., inside].abs().max()) > 1e-3


def test_the_orbit_on_the_map_turns_its_copies_with_the_mode():
    from core.analysis.equivariance import disc_mask
    from core.analysis.orbit import orbit_copies
    from core.data.transforms import apply_group_element

    x = _image(2)
    disc = x * disc_mask(33, 1.0)  # orbit_copies cuts the inscribed disc first
    for mode in ("bilinear", "sinc"):
        copies, angles, _ = orbit_copies(x, 30.0, True, mode)
        i = angles.index(30.0)
        torch.testing.assert_close(copies[i : i + 1], apply_group_element(disc, 30.0, False, mode=mode), rtol=0, atol=0)
        torch.testing.assert_close(copies[angles.index(90.0) : angles.index(90.0) + 1], torch.rot90(disc, 1, dims=(-2, -1)),
                                   rtol=0, atol=0)
    assert (orbit_copies(x, 30.0, False, "sinc")[0][1] - orbit_copies(x, 30.0, False)[0][1]).abs().max() > 1e-2


def _disc(size: int) -> torch.Tensor:
    from core.analysis.equivariance import disc_mask

    return disc_mask(size, 0.8)


def test_the_cached_pair_turns_gx_and_gfx_with_the_mode(app):  # noqa: F811 - points core.checkpoints at the tiny index
    import core.checkpoints as ck
    from core.analysis.equivariance import disc_mask
    from core.data.preprocess import prepare
    from ui.inference import equivariance_pair
    from ui.resources import loaded_model

    (entry,) = [e for e in ck.list_checkpoints() if e["name"] == "disks-ae-equivariant"]
    image = disk_image()
    x = torch.from_numpy(prepare(image, 33))[None, None] * disc_mask(33, 1.0)
    model = loaded_model(entry["name"], entry["sha256"]).model
    with torch.no_grad():
        fx = model(x)
    pairs = {m: equivariance_pair(entry["name"], entry["sha256"], image, 30.0, False, (0, 0), m)
             for m in ("bilinear", "sinc")}
    for mode, pair in pairs.items():
        np.testing.assert_allclose(pair["gx"], rotate(x, 30.0, mode=mode)[0, 0].numpy(), atol=1e-6)
        np.testing.assert_allclose(pair["g_fx"], rotate(fx, 30.0, mode=mode)[0, 0].numpy(), atol=1e-5)
    assert pairs["sinc"]["relative_error"] != pytest.approx(pairs["bilinear"]["relative_error"], rel=1e-3)


# ---------------------------------------------------------------- the page


def _errors(at) -> dict[str, float]:
    return {h.value.split(":")[0]: float(h.value.rsplit(" ", 1)[1]) for h in at.subheader if "relative error" in h.value}


def _curve(at, name: str) -> tuple[np.ndarray, np.ndarray]:
    spec = json.loads(at.get("plotly_chart")[2].proto.spec)  # the panels of the two models, then the curves
    trace = next(t for t in spec["data"] if t["name"].startswith(f"{name}: reconstruction"))
    return array_of(trace["x"]), array_of(trace["y"])


def test_the_lab_measures_with_band_limited_turns_when_asked(app):  # noqa: F811
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    choice = at.radio(key="eq_interp")
    assert choice.value == "bilinear" and choice.options == ["bilinear (as a pipeline's reprojection does)",
                                                              "band-limited (sinc: no smoothing)"]
    assert any("isolate the model's own departure" in c.value for c in at.caption)
    at.slider(key="eq_angle").set_value(30.0).run()
    bilinear, bilinear_curve = _errors(at), _curve(at, "disks-ae-equivariant")
    at.radio(key="eq_interp").set_value("sinc").run()
    assert not at.exception, [e.value for e in at.exception]
    sinc, (angles, sinc_curve) = _errors(at), _curve(at, "disks-ae-equivariant")
    for name in ("disks-ae-equivariant", "disks-ae-cnn"):  # f(g·x) against g·f(x) at 30 degrees: the numbers react
        assert sinc[name] != pytest.approx(bilinear[name], rel=1e-3), name
    assert not np.allclose(sinc_curve[angles == 30.0], bilinear_curve[1][angles == 30.0], rtol=1e-3)
    assert sinc_curve[angles == 90.0][0] < 1e-5 < sinc_curve[angles == 45.0][0]  # still exact at right angles only
    at.slider(key="eq_angle").set_value(90.0).run()
    assert _errors(at)["disks-ae-equivariant"] < 1e-5 < _errors(at)["disks-ae-cnn"]


def test_a_classifiers_scores_against_angle_follow_the_turns(app):  # noqa: F811
    at = open_page(with_image(app, disk_image(), kind="lens"), "pages/equivariance.py")

    def logits(at) -> np.ndarray:
        titles = [json.loads(el.proto.spec)["layout"].get("title", {}).get("text", "") for el in at.get("plotly_chart")]
        spec = json.loads(at.get("plotly_chart")[titles.index("lenses-classifier-equivariant: logits")].proto.spec)
        return np.stack([array_of(t["y"]) for t in spec["data"]])  # (K, angles 15, 30, ..., 345)

    before = logits(at)
    at.radio(key="eq_interp").set_value("sinc").run()
    assert not at.exception
    after = logits(at)
    assert not np.allclose(before[:, 1], after[:, 1], rtol=1e-4)  # 30 degrees
    np.testing.assert_allclose(before[:, 5], after[:, 5], atol=1e-5)  # 90 degrees: the same exact quarter turn


@pytest.fixture
def linked(app, app_script_every_run):  # noqa: F811 - app.py applies links on every run
    return app


@pytest.mark.parametrize("text, taken, said", [("sinc", "sinc", False), ("cubic", "bilinear", True), (None, "bilinear", False)])
def test_the_choice_travels_in_the_link_and_old_links_keep_bilinear(linked, text, taken, said):
    link = {"page": "equivariance", "example": "lens_cdm.npy", "eq_curves_on": "false"}
    linked.query_params.update(link if text is None else {**link, "eq_interp": text})
    linked.run()
    assert not linked.exception, [e.value for e in linked.exception]
    assert linked.radio(key="eq_interp").value == taken
    assert linked.query_params["eq_interp"] == taken  # the address bar carries what was taken
    sentences = [w.value.replace("\\", "") for w in linked.sidebar.warning]
    assert bool(sentences) is said
    if said:
        assert "Resampling of non-right-angle turns" in sentences[0] and "not one of its choices" in sentences[0]


# ---------------------------------------------------------------- the measured curves


SCORE = {"rotation_curve": [0.9, 0.8, 0.79, 0.9], "rotation_curve_sinc": [0.9, 0.88, 0.87, 0.9]}


@pytest.fixture
def recorded(app, tiny_index, tmp_path, monkeypatch):  # noqa: F811
    """`app` over a copy of the tiny index: the equivariant AE records both curves, the CNN the bilinear one only."""
    import core.checkpoints as ck
    from bench.rotation import record_in_index

    folder = tmp_path / "recorded"
    shutil.copytree(tiny_index, folder)
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", folder)
    entries = {e["name"]: e for e in ck.list_checkpoints()}
    for name, keys in (("disks-ae-equivariant", SCORE), ("disks-ae-cnn", ["rotation_curve"])):
        record_in_index(name, {key: {"metric": "ms_ssim", "angles_deg": ANGLES, "score": SCORE[key],
                                     "sha256": entries[name]["sha256"], "n": 8, "held_out": "data/disks-test",
                                     **({"interp": "sinc"} if key.endswith("sinc") else {})} for key in keys})
    return app


def _promise(at) -> dict[str, np.ndarray]:
    (spec,) = [s for s in plotly_specs(at) if "held-out image turned" in (s["layout"].get("title") or {}).get("text", "")]
    return {t["name"]: array_of(t["y"]) for t in spec["data"]} | {"title": spec["layout"]["title"]["text"]}


def test_the_measured_panel_shows_the_sinc_curve_when_recorded(recorded):
    at = open_page(with_image(recorded, disk_image()), "pages/equivariance.py")
    shown = _promise(at)
    np.testing.assert_allclose(shown["disks-ae-equivariant"], SCORE["rotation_curve"])
    assert not any("No band-limited measurement" in c.value for c in at.caption)
    at.radio(key="eq_interp").set_value("sinc").run()
    assert not at.exception
    shown = _promise(at)
    np.testing.assert_allclose(shown["disks-ae-equivariant"], SCORE["rotation_curve_sinc"])
    np.testing.assert_allclose(shown["disks-ae-cnn (bilinear)"], SCORE["rotation_curve"])  # no sinc record: bilinear
    assert "band-limited turns" in shown["title"]
    (note,) = [c.value for c in at.caption if "No band-limited measurement" in c.value]
    assert note.startswith("No band-limited measurement is recorded for disks-ae-cnn: its bilinear curve is shown")
    assert "--interp sinc" in note


def test_measured_reads_the_curve_of_the_turns_asked():
    from ui.equivariance_lab import measured

    curve = {"angles_deg": [0, 45, 90], "score": [0.9, 0.8, 0.9], "metric": "macro_auc", "sha256": "a"}
    entry = {"name": "m", "sha256": "a", "metrics": {"rotation_curve": curve,
                                                     "rotation_curve_sinc": {**curve, "score": [0.9, 0.85, 0.9]}}}
    assert measured(entry)["score"][1] == 0.8 and measured(entry)["interp"] == "bilinear"
    assert measured(entry, "sinc")["score"][1] == 0.85 and measured(entry, "sinc")["interp"] == "sinc"
    assert measured({**entry, "metrics": {"rotation_curve": curve}}, "sinc") is None
    stale = {**entry, "metrics": {"rotation_curve_sinc": {**curve, "sha256": "b"}}}
    assert measured(stale, "sinc") is None  # measured on another file of this name
