"""Label on the map (AppTest): select points, name them, the probe colours the map; correct, retrain,
download, restore; labels per (model, reference set) that survive page switches.

A box/lasso selection is sent the way the browser sends it: the chart's widget state (JSON with the
selected points, each carrying the trace's customdata) in the next script run. AppTest has no driver
for plotly charts, so `select` adds that state to the widget states of the run itself.
Fixtures (tiny checkpoints, 12-image reference sets) are those of tests/test_pages.py.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_pages import app, array_of, downloads, open_page, plotly_specs, tiny_index, with_image  # noqa: F401

from core.analysis.probe import fit_probe, load_probe
from core.errors import InputError

torch.set_num_threads(1)
PAGE = "pages/latent_map.py"
MODEL = "disks-ae-equivariant"  # the default model for a disk image


def chart(at, key: str):
    return next(c for c in at.get("plotly_chart") if c.key == key)


def select(at, indices, key: str = "map_chart"):
    """Run the page with reference points `indices` box-selected on chart `key`, as the browser reports it."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    element = chart(at, key)
    spec = json.loads(element.proto.spec)
    points = []
    for c, trace in enumerate(spec["data"]):
        if "customdata" not in trace:
            continue
        custom = array_of(trace["customdata"])
        x, y = array_of(trace["x"]), array_of(trace["y"])
        for j, idx in enumerate(custom):
            if int(idx) in indices:
                points.append({"curve_number": c, "point_number": j, "point_index": j, "x": float(x[j]),
                               "y": float(y[j]), "customdata": int(idx)})
    assert len(points) == len(indices)
    state = {"selection": {"points": points, "point_indices": [p["point_index"] for p in points], "box": [{}],
                           "lasso": []}}
    widgets = at._tree.get_widget_states()
    widgets.widgets.append(WidgetState(id=element.proto.id, string_value=json.dumps(state)))
    at._run(widgets)
    assert not at.exception, [e.value for e in at.exception]
    return at


def label(at, indices, name: str):
    select(at, indices)
    assert at.caption and any(f"Selected: {len(indices)} points on the map" in c.value for c in at.caption)
    at.text_input(key="lm_class").set_value(name)
    at.button(key="lm_label").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def map_table(at, downloads) -> pd.DataFrame:  # noqa: F811 - the fixture's dict
    return pd.read_csv(io.BytesIO(downloads[_button(at, "map_csv").proto.url]))


def _button(at, key: str):
    return next(b for b in at.get("download_button") if b.key == key)


TABLES = {"lm_table": {"source"}, "lm_predictions": {"image", "predicted"}}  # columns only that table of the page has


def frame(at, key: str) -> pd.DataFrame:
    """The page's table `key` (st.dataframe has an element id only with on_select: found by its columns)."""
    return next(d.value for d in at.dataframe if TABLES[key] <= set(d.value.columns))


def warned(at) -> list[str]:
    return [w.value for w in at.warning]


def predicted_traces(at, which: int = 0) -> dict[str, dict]:
    return {t["name"]: t for t in plotly_specs(at)[which]["data"] if t["name"].startswith("predicted ")}


def reference_latents():
    from core.checkpoints import list_checkpoints
    from ui import reference

    sha = next(e["sha256"] for e in list_checkpoints() if e["name"] == MODEL)
    return reference.reference_latents(MODEL, sha, "disks")


def test_select_name_probe_colours_the_map_then_correct_and_download(app, downloads):  # noqa: F811
    at = open_page(with_image(app, np.random.default_rng(0).random((40, 40)).astype(np.float32)), PAGE)
    assert at.info[-1].value.startswith("Select points on the map")
    table = map_table(at, downloads)
    rings = [i for i, lab in enumerate(table["label"]) if lab == "planets_0"]
    three = [i for i, lab in enumerate(table["label"]) if lab == "planets_3"]

    label(at, rings, "empty")
    assert at.success[0].value == "Labelled 3 points as “empty”."
    assert at.info[-1].value == "Label images of at least two classes before fitting a probe."
    assert at.radio(key="map_colour").value == "cluster" and not predicted_traces(at)

    label(at, three, "three planets")
    assert at.radio(key="map_colour").value == "predicted class"  # the first probe switches the colouring
    lat = reference_latents()
    truth = fit_probe(lat.z[rings + three], ["empty"] * 3 + ["three planets"] * 3)
    expected = truth.predict(lat.z)
    for which in (0, 1):  # t-SNE and PCA: every reference point in the trace of its predicted class
        traces = predicted_traces(at, which)
        assert set(traces) <= {"predicted empty", "predicted three planets"} and traces
        seen = []
        for name, trace in traces.items():
            idx = array_of(trace["customdata"]).astype(int)
            assert {expected[i] for i in idx} == {name.removeprefix("predicted ")}
            alpha = array_of(trace["marker"]["opacity"])
            assert alpha.shape == idx.shape and ((alpha >= 0.15) & (alpha <= 1)).all()
            assert all(" · predicted " in text and "(p = " in text for text in trace["text"])
            seen += idx.tolist()
        assert sorted(seen) == list(range(len(table)))
        ring = next(t for t in plotly_specs(at)[which]["data"] if t["name"] == "labelled")
        assert len(array_of(ring["x"])) == 6
    probs = truth.predict_proba(lat.z).max(axis=1)
    table = map_table(at, downloads)
    assert list(table["predicted"]) == expected
    np.testing.assert_allclose(table["probability"], probs, rtol=1e-5)

    shown = frame(at, "lm_table")  # the labelled points, with what the probe says of each
    assert sorted(shown["class"]) == ["empty"] * 3 + ["three planets"] * 3
    assert set(shown["true label"]) == {"planets_0", "planets_3"} and shown["probability"].between(0, 1).all()
    labels = pd.read_csv(io.BytesIO(downloads[_button(at, "lm_labels_csv").proto.url]))
    assert list(labels.columns) == ["file", "x", "y", "class"] and len(labels) == 6
    merged = labels.merge(table, on="file")
    np.testing.assert_allclose(merged[["x", "y"]].to_numpy(), merged[["tsne_x", "tsne_y"]].to_numpy(), rtol=1e-5)
    probe, backbone = load_probe(downloads[_button(at, "lm_probe_file").proto.url])
    assert backbone == MODEL and probe.classes == ["empty", "three planets"]
    assert probe.predict(lat.z) == expected

    # correct one label and retrain: a planets_3 image called "empty"
    wrong = f"ref:{table['file'][three[0]]}"
    at.multiselect(key="lm_edit").set_value([wrong])
    at.text_input(key="lm_class").set_value("empty")
    at.button(key="lm_relabel").click().run()
    assert not at.exception
    retrained = fit_probe(lat.z[rings + three], ["empty"] * 4 + ["three planets"] * 2).predict(lat.z)
    assert list(map_table(at, downloads)["predicted"]) == retrained
    assert sorted(frame(at, "lm_table")["class"]) == ["empty"] * 4 + ["three planets"] * 2

    # remove the last class: no probe, one sentence, the map falls back to the clusters
    at.multiselect(key="lm_edit").set_value([f"ref:{table['file'][i]}" for i in three[1:]])
    at.button(key="lm_remove").click().run()
    assert not at.exception
    assert at.info[-1].value == "Label images of at least two classes before fitting a probe."
    assert not predicted_traces(at) and any(t["name"].startswith("cluster ") for t in plotly_specs(at)[0]["data"])
    assert "predicted" not in map_table(at, downloads).columns


def test_labels_survive_page_switches_belong_to_their_model_and_restore_from_csv(app, downloads):  # noqa: F811
    from core.io import read_image
    from core.io.fits_io import fits_bytes
    from ui.image_list import Entry

    rng = np.random.default_rng(1)
    mine = []
    for k in range(3):
        loaded = read_image(fits_bytes(rng.random((40, 40)).astype(np.float32)), f"mine{k}.fits")
        mine.append(Entry(id=f"t{k}", name=f"mine{k}.fits", kind="disk", source="upload", loaded=loaded,
                          label="odd" if k % 2 else "even"))
    app.session_state["image_list"] = mine
    at = open_page(with_image(app, np.random.default_rng(0).random((40, 40)).astype(np.float32)), PAGE)
    table = map_table(at, downloads)

    at.button(key="lm_label").click().run()  # nothing selected: one sentence
    assert "Select points on the map or images of your list first, then press Label selected." in warned(at)
    at.multiselect(key="lm_list").set_value(["t0", "t2"])
    at.run()
    assert "2 images of your list" in next(c.value for c in at.caption if c.value.startswith("Selected:"))
    at.button(key="lm_label").click().run()  # no class name: one sentence
    assert "Type a class name first, then press Label selected." in warned(at)
    at.text_input(key="lm_class").set_value("mine")
    at.button(key="lm_label").click().run()
    at.multiselect(key="lm_list").set_value([]).run()
    label(at, [0, 1, 2], "reference")
    shown = frame(at, "lm_table")
    assert sorted(shown["source"]) == ["reference"] * 3 + ["your image"] * 2
    yours = frame(at, "lm_predictions")  # every image of the session gets a predicted class
    assert list(yours["image"]) == ["mine0.fits", "mine1.fits", "mine2.fits", "test_disk.fits"]
    assert set(yours["predicted"]) <= {"mine", "reference"} and yours["probability"].between(0.5, 1).all()
    assert list(yours["label"][:3]) == ["even", "odd", "even"]
    saved = downloads[_button(at, "lm_labels_csv").proto.url]
    at.button(key="lm_remove").click().run()  # nothing picked to remove: one sentence, nothing lost
    assert "Pick labelled points under Labelled points to change first." in warned(at)
    assert len(frame(at, "lm_table")) == 5

    at.switch_page("pages/data.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception and len(frame(at, "lm_table")) == 5  # kept across pages

    at.selectbox(key="map_model").set_value("disks-ae-cnn").run()  # another model: its own (empty) labels
    assert not at.exception and at.info[-1].value.startswith("Select points on the map")
    at.file_uploader(key="lm_restore").set_value([("labels.csv", saved + b"elsewhere/x.npy,0,0,mine\n", "text/csv")]).run()
    assert not at.exception
    assert ("Restored 5 labels; 1 row names an image that is neither in this reference set nor in your image list "
            "and was skipped.") in warned(at)
    restored = frame(at, "lm_table")
    assert sorted(restored["file"]) == sorted(["mine0.fits", "mine2.fits", *table["file"][:3]])
    assert predicted_traces(at)  # the restored labels fit a probe on this model's embedding

    at.selectbox(key="map_model").set_value(MODEL).run()
    assert len(frame(at, "lm_table")) == 5


def test_read_labels_csv_says_what_is_wrong():
    from ui.label_map import read_labels_csv

    assert read_labels_csv(b"file,x,y,class\na.npy,1,2, ring \nb.npy,0,0,\n") == [("a.npy", "ring")]
    with pytest.raises(InputError, match="needs the columns file and class"):
        read_labels_csv(b"name,label\na,b\n")
    with pytest.raises(InputError, match="no row with both a file and a class"):
        read_labels_csv(b"file,class\na.npy,\n")


def test_opacity_runs_from_chance_to_certainty():
    from ui.label_map import MIN_OPACITY, opacity

    np.testing.assert_allclose(opacity(np.array([1 / 3, 2 / 3, 1.0, 0.1]), 3), [MIN_OPACITY, (1 + MIN_OPACITY) / 2, 1, MIN_OPACITY])


def test_a_self_supervised_encoder_is_a_map_model_like_any_other(app, tmp_path, monkeypatch):  # noqa: F811
    """A checkpoint of kind "encoder" (a self-supervised pretrained backbone) in runs/ is offered on the map and labelled."""
    import core.checkpoints as ck
    from core.checkpoints import register, save_checkpoint
    from core.models import registry

    if "equivariant_encoder" not in registry.MODEL_NAMES:
        pytest.skip("no self-supervised encoder model (equivariant_encoder) in the model registry")
    torch.manual_seed(0)
    model = registry.build_model("equivariant_encoder", {"image_size": 33}).eval()
    runs = tmp_path / "runs"
    path = save_checkpoint(runs / "tiny-ssl.pt", model_name="equivariant_encoder", config=model.config.to_dict(),
                           state_dict=model.state_dict(), metrics={},
                           data_manifest={"generator": "lenses", "n": 12, "preset": "deeplense-model2"},
                           command="test", history={})
    register(path, "tiny-ssl")
    monkeypatch.setattr(ck, "RUNS_DIR", runs)
    at = open_page(app, PAGE)
    at.selectbox(key="map_model").set_value("tiny-ssl").run()
    assert not at.exception, [e.value for e in at.exception]
    from core.analysis.reference_sets import preset_of

    assert preset_of("tiny-ssl") == "deeplense-model2"  # its map shows the lenses of its own preset
    label(at, [0, 1, 2], "a")
    label(at, [6, 7, 8], "b")
    traces = predicted_traces(at)
    assert traces and set(traces) <= {"predicted a", "predicted b"}
    assert sum(len(array_of(t["customdata"])) for t in traces.values()) == 12
