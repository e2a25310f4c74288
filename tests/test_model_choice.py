"""Which classifier a page offers first for a lens image: the one trained on images like it."""

from __future__ import annotations

from core.analysis.model_choice import default_index


def _entry(name: str, preset: str | None, size: int) -> dict:
    data = {"generator": "lenses", "size": size, "n": 100}
    if preset:
        data["preset"] = preset
    return {"name": name, "kind": "classifier", "model": "equivariant_classifier", "data": data}


ENTRIES = [
    _entry("lenses-classifier-equivariant", None, 150),  # this project's generator (no preset recorded: older entries)
    _entry("lenses-model1-equivariant", "deeplense-model1", 150),
    _entry("lenses-model2-equivariant", "deeplense-model2", 64),
]


def _pick(shape, source):
    return ENTRIES[default_index(ENTRIES, "classifier", True, "lens", shape, source)]["name"]


def test_a_64_px_upload_gets_the_model_ii_classifier():
    assert _pick((64, 64), "upload") == "lenses-model2-equivariant"
    assert _pick((66, 66), "upload") == "lenses-model2-equivariant"  # nearest size wins


def test_a_150_px_upload_gets_model_i_but_the_apps_own_simulation_gets_the_project_model():
    assert _pick((150, 150), "upload") == "lenses-model1-equivariant"
    assert _pick((150, 150), "simulation") == "lenses-classifier-equivariant"
    assert _pick((150, 150), "example") == "lenses-classifier-equivariant"


def test_without_an_image_the_shipped_default_stays():
    assert _pick(None, None) == "lenses-classifier-equivariant"


def test_the_single_disk_autoencoder_stays_the_default_beside_its_ensemble():
    disks = [{"name": n, "kind": "autoencoder", "model": "equivariant_ae", "members": k,
              "data": {"generator": "disks", "size": 129, "n": 3000}}
             for n, k in (("disks-ae-equivariant-ensemble", 4), ("disks-ae-equivariant", 1))]
    assert disks[default_index(disks, "autoencoder", True, "disk", (129, 129), "upload")]["name"] == "disks-ae-equivariant"


def _pick_for_data(shape, preset):
    """The default for a data set of `shape` images whose manifest names `preset` (a batch-evaluation zip)."""
    return ENTRIES[default_index(ENTRIES, None, None, "lens", shape, "upload", preset)]["name"]


def test_a_data_sets_preset_decides_the_simulator_family_at_equal_size():
    assert _pick_for_data((150, 150), "project") == "lenses-classifier-equivariant"  # an upload, but the project's simulator
    assert _pick_for_data((150, 150), "deeplense-model1") == "lenses-model1-equivariant"
    assert _pick_for_data((64, 64), "deeplense-model2") == "lenses-model2-equivariant"
    assert _pick_for_data((64, 64), None) == "lenses-model2-equivariant"  # no manifest: the images' size alone


def test_a_preset_without_a_shape_still_picks_its_own_models():
    assert _pick_for_data(None, "deeplense-model2") == "lenses-model2-equivariant"
    assert _pick_for_data(None, "deeplense-model1") == "lenses-model1-equivariant"


def test_default_order_ranks_by_size_then_preset():
    from core.analysis.model_choice import default_order

    order = default_order(ENTRIES, "classifier", True, "lens", (64, 64), "upload", "deeplense-model2")
    assert [ENTRIES[i]["name"] for i in order][0] == "lenses-model2-equivariant"


def test_a_checkpoint_suits_data_of_its_own_kind_or_of_unknown_kind():
    from core.analysis.model_choice import suits

    disk_ae = {"name": "disks-ae-equivariant", "kind": "autoencoder", "data": {"generator": "disks"}}
    assert suits(ENTRIES[2], "lens") and suits(disk_ae, "disk")
    assert not suits(disk_ae, "lens") and not suits(ENTRIES[0], "disk")
    assert suits(disk_ae, None) and suits(ENTRIES[1], None)


def test_either_family_prefers_the_equivariant_model_of_the_best_fit():
    """A picker for either family (Batch evaluation) offers the equivariant model of the size-matched ones first."""
    from core.analysis.model_choice import default_index

    entries = [{"name": "m1-cnn", "model": "cnn_classifier", "kind": "classifier",
                "data": {"generator": "lenses", "preset": "deeplense-model1", "size": 150}, "config": {"image_size": 149}},
               {"name": "m1-eq", "model": "equivariant_classifier", "kind": "classifier",
                "data": {"generator": "lenses", "preset": "deeplense-model1", "size": 150}, "config": {"image_size": 149}}]
    assert entries[default_index(entries, None, None, "lens", (150, 150), None)]["name"] == "m1-eq"
    assert entries[default_index(entries, None, False, "lens", (150, 150), None)]["name"] == "m1-cnn"
