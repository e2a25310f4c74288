"""bench.rotation --record-index: each checkpoint's curve and cost per image land in its index entry.

Tiny real checkpoints (escnn C4 and a CNN on a 33-pixel grid, as test_pages builds them) in a temporary
index, a 9-image simulated lens set as their held-out set (configs in a temporary folder), three angles.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.errors import InputError

torch.set_num_threads(1)

CLASSES = ["no_sub", "cdm", "vortex"]
TINY = {  # name: (registry name, config)
    "tiny-eq": ("equivariant_classifier", {"group": "C4", "image_size": 33, "fields": (1, 2, 2), "hidden": 8}),
    "tiny-cnn": ("cnn_classifier", {"image_size": 33, "channels": (2, 4, 4), "hidden": 8}),
    "tiny-other": ("cnn_classifier", {"image_size": 33, "channels": (2, 2, 2), "hidden": 4}),
}
ARGS = ["--models", "tiny-eq:tiny-cnn", "--n", "6", "--angles-step", "45", "--roundtrip-step", "45",
        "--threads", "1", "--batch-size", "8", "--no-record"]


@pytest.fixture(scope="module")
def held_out_set(tmp_path_factory) -> Path:
    from core.data.dataset_writer import simulate_dataset

    out = tmp_path_factory.mktemp("data") / "tiny-test"
    simulate_dataset("lenses", 9, 33, seed=3, out=out, progress=False)
    return out


@pytest.fixture
def bench(tmp_path, monkeypatch, held_out_set):
    """bench.rotation over a temporary index of the tiny checkpoints and configs naming the tiny held-out set."""
    import bench.rotation as rotation
    import core.checkpoints as ck
    from core.models.registry import build_model

    folder = tmp_path / "checkpoints"
    for i, (name, (model_name, config)) in enumerate(TINY.items()):
        torch.manual_seed(i)
        path = ck.save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config,
                                  state_dict=build_model(model_name, config).state_dict(), metrics={"macro_auc": 0.5},
                                  data_manifest={"generator": "lenses", "n": 9}, command="test", history={},
                                  classes=CLASSES)
        ck.register(path, name)
    configs = tmp_path / "configs"
    (configs / "data").mkdir(parents=True)
    for name in TINY:
        (configs / f"{name}.toml").write_text(f'test_data = "{held_out_set}"\n')
    (configs / "data" / "tiny-test.toml").write_text('kind = "lenses"\nn = 9\nseed = 3\nsize = 33\n')
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", folder)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(rotation, "CONFIGS_DIR", configs)
    return rotation


def _entries(folder: Path) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads((folder / "index.json").read_text())["checkpoints"]}


def test_record_index_writes_each_checkpoints_curve_and_cost(bench, held_out_set):
    import core.checkpoints as ck
    from core.analysis.model_cost import learned_parameters, mflop_per_image
    from ui.equivariance_lab import measured, recorded_cost

    folder = Path(ck.CHECKPOINTS_DIR)
    before = _entries(folder)
    assert bench.main([*ARGS, "--record-index"]) == 0
    after = _entries(folder)  # strict JSON: no NaN
    json.loads((folder / "index.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the index"))
    assert after["tiny-other"] == before["tiny-other"]  # a checkpoint not measured is untouched
    for name, partner in (("tiny-eq", "tiny-cnn"), ("tiny-cnn", "tiny-eq")):
        entry, old = after[name], before[name]
        assert {k: v for k, v in entry.items() if k != "metrics"} == {k: v for k, v in old.items() if k != "metrics"}
        metrics = entry["metrics"]
        assert metrics["macro_auc"] == 0.5  # the training metrics stay
        curve, cost = metrics["rotation_curve"], metrics["cost"]
        assert curve["metric"] == "macro_auc" and curve["metric_name"] == "macro AUC"
        assert curve["angles_deg"] == [0.0, 45.0, 90.0] and len(curve["score"]) == 3
        assert curve["roundtrip"]["angles_deg"] == [45.0] and len(curve["roundtrip"]["score"]) == 1
        assert len(curve["roundtrip"]["change"]) == 1 and curve["roundtrip"]["change"][0] > 0  # resampling moves f(x)
        assert len(curve["accuracy"]) == 3 and len(curve["roundtrip"]["accuracy"]) == 1
        assert all(0.0 <= s <= 1.0 for s in curve["score"] + curve["roundtrip"]["score"])
        assert curve["n"] == 6 and curve["partner"] == partner and curve["sha256"] == entry["sha256"]
        assert str(held_out_set) in curve["held_out"] and "first 6 of 9" in curve["held_out"]
        assert curve["command"].startswith("python -m bench.rotation --models tiny-eq:tiny-cnn")
        assert curve["command"].endswith("--record-index") and curve["date_utc"].endswith("Z")
        loaded = ck.load_model(name)
        assert cost["mflop"] == pytest.approx(mflop_per_image(loaded.model, 33))
        assert cost["parameters"] == learned_parameters(TINY[name][0], TINY[name][1])
        assert cost["ms"] > 0 and cost["threads"] == 1
        shown = measured(entry)  # what the Equivariance lab reads back
        assert shown is not None and list(shown["angles_deg"]) == [0.0, 45.0, 90.0] and shown["n"] == 6
        assert recorded_cost(entry)["mflop"] == pytest.approx(cost["mflop"])
    eq_change = after["tiny-eq"]["metrics"]["rotation_curve"]["change"]
    assert eq_change[-1] < 1e-4 < eq_change[1]  # C4: exact at 90 degrees, not at 45
    assert after["tiny-eq"]["metrics"]["rotation_curve"]["score"][-1] == pytest.approx(
        after["tiny-eq"]["metrics"]["rotation_curve"]["score"][0], abs=1e-9)

    ck.register(Path(ck.CHECKPOINTS_DIR) / "tiny-eq.pt", "tiny-eq")  # a retrain re-registers: the record goes
    assert "rotation_curve" not in _entries(folder)["tiny-eq"]["metrics"]


def test_a_sinc_run_records_apart_from_the_curve_the_lab_shows(bench):
    """--interp sinc: band-limited turns, whose 45-degree round trip barely moves f(x) (bilinear's does); its curve
    goes to metrics.rotation_curve_sinc and leaves metrics.rotation_curve, which the Equivariance lab reads, alone."""
    import core.checkpoints as ck

    folder = Path(ck.CHECKPOINTS_DIR)
    assert bench.main([*ARGS, "--record-index"]) == 0
    bilinear = _entries(folder)["tiny-eq"]["metrics"]["rotation_curve"]
    assert bench.main([*ARGS, "--record-index", "--interp", "sinc"]) == 0
    metrics = _entries(folder)["tiny-eq"]["metrics"]
    assert metrics["rotation_curve"] == bilinear
    sinc = metrics["rotation_curve_sinc"]
    assert sinc["interp"] == "sinc" and sinc["change"][-1] < 1e-4  # still exact at 90 degrees
    assert sinc["roundtrip"]["change"][0] < 0.5 * bilinear["roundtrip"]["change"][0]


def test_without_record_index_the_index_is_untouched(bench):
    import core.checkpoints as ck

    index = Path(ck.CHECKPOINTS_DIR) / "index.json"
    raw = index.read_bytes()
    assert bench.main(ARGS) == 0
    assert index.read_bytes() == raw


def test_record_index_refuses_checkpoints_no_index_lists_before_measuring(bench, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("measured although the record had nowhere to go")

    monkeypatch.setattr(bench, "measure", never)
    with pytest.raises(InputError, match="No checkpoint index lists tiny-gone"):
        bench.main(["--models", "tiny-eq:tiny-gone", "--record-index", "--no-record"])


def test_pairs_is_another_name_for_models_and_the_v2_pairs_exist(bench, monkeypatch):
    assert bench.chosen_pairs("model2-v2") == [bench.PAIRS["model2-v2"]]
    assert bench.PAIRS["model1-v2"][1:] == ("lenses-model1-equivariant-v2", "lenses-model1-cnn-v2")
    seen = []

    def capture(spec):
        seen.append(spec)
        raise InputError("stop here")

    monkeypatch.setattr(bench, "chosen_pairs", capture)
    with pytest.raises(InputError, match="stop here"):
        bench.main(["--pairs", "model1-v2"])
    assert seen == ["model1-v2"]


def test_the_default_pairs_are_those_an_index_lists(bench, monkeypatch):
    """A pair replaced in the shipped set (its checkpoints gone from checkpoints/index.json) is left out of the
    default run, which would otherwise stop at it on a fresh checkout; named, it is still taken."""
    shipped = {"lenses-model2-equivariant-v4", "lenses-model2-cnn-v4", "lenses-model1-equivariant-v3"}
    monkeypatch.setattr(bench, "listed_names", lambda: shipped)
    assert bench.chosen_pairs(None) == [bench.PAIRS["model2-v4"]]
    assert bench.chosen_pairs("model2-v2") == [bench.PAIRS["model2-v2"]]
