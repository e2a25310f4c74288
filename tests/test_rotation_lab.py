"""The Equivariance lab shows the promise measured (AppTest): each model's score against rotation angle and its
cost per image as bench.rotation recorded them in the checkpoint index, one sentence with the bench command for a
model without a record, and the section follows the model picked.

The tiny checkpoints of test_pages are copied, and records are written into the copy's index with
bench.rotation's own writer (record_in_index).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_pages import app, array_of, disk_image, open_page, plotly_specs, tiny_index, with_image  # noqa: F401

ANGLES = [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0]
EQ_SCORE = [0.91, 0.905, 0.9, 0.895, 0.9, 0.905, 0.91]
CNN_SCORE = [0.92, 0.85, 0.8, 0.78, 0.8, 0.85, 0.92]
COMMAND = "python -m bench.rotation --models {} --no-record --record-index"


@pytest.fixture
def index_copy(app, tiny_index, tmp_path, monkeypatch):  # noqa: F811 - fixtures imported above
    """`app` over a copy of the tiny index that records may be written into."""
    import core.checkpoints as ck

    folder = tmp_path / "recorded"
    shutil.copytree(tiny_index, folder)
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", folder)
    return folder


def _record(name: str, score: list[float], cost: dict | None = None, trip: list[float] | None = None, **extra) -> None:
    import core.checkpoints as ck
    from bench.rotation import record_in_index

    (entry,) = [e for e in ck.list_checkpoints() if e["name"] == name]
    curve = {"metric": "ms_ssim", "metric_name": "MS-SSIM", "angles_deg": ANGLES, "score": score,
             "roundtrip": {"angles_deg": [15.0, 45.0], "score": trip or []}, "held_out": "data/disks-test: first 600 of 600",
             "n": 600, "partner": "x", "sha256": entry["sha256"], "date_utc": "2026-12-07T10:00:00Z",
             "command": "python -m bench.rotation --models disks-ae --record-index", **extra}
    record_in_index(name, {"rotation_curve": curve, **({"cost": cost} if cost else {})})


def _promise(at) -> list[dict]:
    return [s for s in plotly_specs(at) if "held-out image turned" in (s["layout"].get("title") or {}).get("text", "")]


def _costs(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Cost per image: ")]


def test_without_records_one_sentence_gives_the_bench_command(app, index_copy):  # noqa: F811
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    assert not _promise(at)
    said = [c.value for c in at.caption if "score-against-angle" in c.value]
    assert said == ["disks-ae-equivariant and disks-ae-cnn have no score-against-angle curve in the checkpoint index "
                    "yet; measure them on the held-out set with "
                    f"`{COMMAND.format('disks-ae-equivariant:disks-ae-cnn')}`."]
    assert all(" ms on this server" in c for c in _costs(at)) and len(_costs(at)) == 2  # measured here, none recorded


def test_recorded_curves_and_costs_are_shown_and_follow_the_model_picked(app, index_copy):  # noqa: F811
    _record("disks-ae-equivariant", EQ_SCORE, {"parameters": 1234, "mflop": 12.5, "ms": 0.75, "threads": 2,
                                               "date_utc": "2026-12-07T10:00:00Z"}, trip=[0.9, 0.89])
    _record("disks-ae-cnn", CNN_SCORE, {"parameters": 4321, "mflop": 3.25, "ms": 0.25, "threads": 2})
    _record("disks-ae-d4", EQ_SCORE, sha256="0" * 64)  # measured on an earlier file of this name: counts as none
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    (spec,) = _promise(at)
    lines = {t["name"]: (array_of(t["x"]), array_of(t["y"])) for t in spec["data"]}
    assert set(lines) == {"disks-ae-equivariant", "disks-ae-equivariant: turned and back", "disks-ae-cnn"}
    np.testing.assert_allclose(lines["disks-ae-equivariant"][0], ANGLES)
    np.testing.assert_allclose(lines["disks-ae-cnn"][1], CNN_SCORE)
    np.testing.assert_allclose(lines["disks-ae-equivariant: turned and back"][0], [15.0, 45.0])
    np.testing.assert_allclose(lines["disks-ae-equivariant: turned and back"][1], [0.9, 0.89])
    assert spec["layout"]["yaxis"]["title"]["text"] == "MS-SSIM"
    assert _costs(at) == [  # the index's records, not measured here
        "Cost per image: 1,234 learned parameters · 12.5 MFLOP (one forward pass) · 0.75 ms on 2 CPU threads "
        "(bench.rotation, 2026-12-07)",
        "Cost per image: 4,321 learned parameters · 3.25 MFLOP (one forward pass) · 0.25 ms on 2 CPU threads "
        "(bench.rotation, undated)"]
    table = next(m.value for m in at.markdown if "45° and back" in m.value)
    assert "disks\\-ae\\-equivariant | 0\\.9100 | 0\\.8950 \\(45°\\) | 0\\.8900 | 12\\.5 | 0\\.75 \\(2\\)" in table
    assert "disks\\-ae\\-cnn | 0\\.9200 | 0\\.7800 \\(45°\\) | — | 3\\.25 | 0\\.25 \\(2\\)" in table
    assert any("data/disks-test: first 600 of 600, 600 images, 2026-12-07" in c.value for c in at.caption)

    at.selectbox(key="eq_model_eq").set_value("disks-ae-d4").run()  # its record is stale: the CNN's curve alone
    assert not at.exception
    (spec,) = _promise(at)
    assert [t["name"] for t in spec["data"]] == ["disks-ae-cnn"]
    assert any(c.value.endswith(f"; disks-ae-d4 has no such record yet: measure it with "
                                f"`{COMMAND.format('disks-ae-d4:disks-ae-cnn')}`.") for c in at.caption)
    costs = _costs(at)
    assert " ms on this server" in costs[0] and "0.25 ms on 2 CPU threads" in costs[1]  # d4 measured here


def test_malformed_records_count_as_none():
    from ui.equivariance_lab import measured, recorded_cost

    good = {"angles_deg": [0, 45, 90], "score": [0.9, 0.8, 0.9], "metric": "macro_auc", "sha256": "a"}
    assert measured({"name": "m", "sha256": "a", "metrics": {"rotation_curve": good}}) is not None
    assert measured({"name": "m", "sha256": "b", "metrics": {"rotation_curve": good}}) is None  # another file
    trip = measured({"name": "m", "metrics": {"rotation_curve": {**good, "roundtrip": {"angles_deg": [45], "score": []}}}})
    assert trip is not None and len(trip["trip_angles"]) == 0  # a broken round trip: the curve alone
    for bad in (None, [], {"mflop": 1.0, "ms": 1.0}, {"mflop": "x", "ms": 1, "threads": 1},
                {"mflop": float("nan"), "ms": 1, "threads": 1}, {"mflop": 1, "ms": 0, "threads": 1}):
        assert recorded_cost({"metrics": {"cost": bad}}) is None
    assert recorded_cost({"metrics": {"cost": {"mflop": 2, "ms": 0.5, "threads": 1}}})["parameters"] == 0
