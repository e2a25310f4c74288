"""Every page renders without an exception and reacts to one real interaction (AppTest).

Checkpoints are tiny real models (escnn C4 on a 33-pixel grid) written into a temporary
index that `core.checkpoints` is pointed at; the reference sets are 12 simulated images of
33 pixels in a temporary cache. The current image is put into session_state as the Data
page would.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.paths import REPO_ROOT

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
CLASSES = ["no_sub", "cdm", "vortex"]
TINY = {  # (registry name, config, generator)
    "disks-ae-equivariant": ("equivariant_ae", {"group": "C4", "image_size": 33, "fields": (1, 2, 2), "latent_dim": 4,
                                                "decoder_channels": (4, 4, 4, 4)}, "disks"),
    "disks-ae-d4": ("equivariant_ae", {"group": "D4", "image_size": 33, "fields": (1, 2, 2), "latent_dim": 4,
                                       "decoder_channels": (4, 4, 4, 4)}, "disks"),
    "disks-ae-cnn": ("cnn_ae", {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4,
                                "decoder_channels": (4, 4, 4, 4)}, "disks"),
    "lenses-classifier-equivariant": ("equivariant_classifier", {"group": "C4", "image_size": 33, "fields": (1, 2, 2),
                                                                 "hidden": 8}, "lenses"),
    "lenses-classifier-cnn": ("cnn_classifier", {"image_size": 33, "channels": (2, 4, 4), "hidden": 8}, "lenses"),
}


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory) -> Path:
    """A folder of tiny real checkpoints with its index.json, as `python -m core train` writes them."""
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model, model_kind

    folder = tmp_path_factory.mktemp("checkpoints")
    for i, (name, (model_name, config, generator)) in enumerate(TINY.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config).eval()
        classes = CLASSES if model_kind(model_name) == "classifier" else None
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config,
                               state_dict=model.state_dict(), metrics={"micro_auc": 0.5 + i / 100} if classes else {},
                               data_manifest={"generator": generator, "n": 12}, command="test", history={},
                               classes=classes)
        register(path, name)
    return folder


@pytest.fixture
def app(tiny_index, tmp_path, monkeypatch):
    """AppTest of app.py with the tiny checkpoints, a 12-image reference cache and no hosted mode."""
    import core.analysis.reference_sets as reference
    import core.checkpoints as ck
    import ui.training as training

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", tiny_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(reference, "CACHE", tmp_path.parent / "page_cache")  # shared by this session's tests
    monkeypatch.setattr(reference, "REFERENCE_N", {"disks": 12, "lenses": 12})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {"disks": 33, "lenses": 33})
    monkeypatch.setattr(training, "DATA_DIRS", (tmp_path / "data",))
    monkeypatch.setattr(training, "DATA_DIR", tmp_path / "data")
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)


def disk_image(size: int = 65) -> np.ndarray:
    """A ring with a gap, off-centre so that rotations change it."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32) - size / 2
    r = np.hypot(xx - 3, yy + 2)
    return (np.exp(-r / 12) * (1 - 0.8 * np.exp(-0.5 * ((r - 10) / 2) ** 2))).astype(np.float32)


def with_image(at, image: np.ndarray, kind: str = "disk", header=None):
    from core.io import read_image
    from core.io.fits_io import fits_bytes

    loaded = read_image(fits_bytes(image, header), "test_disk.fits")
    at.session_state["current_image"] = {"data": loaded.data, "meta": loaded.meta, "name": "test_disk.fits",
                                         "kind": kind}
    return at


def open_page(at, page: str):
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """{url: bytes} of every file a page hands to a download button (AppTest keeps only the URL)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    files, add = {}, MediaFileManager.add

    def record(self, data, *args, **kwargs):
        url = add(self, data, *args, **kwargs)
        files[url] = data.encode() if isinstance(data, str) else bytes(data)
        return url

    monkeypatch.setattr(MediaFileManager, "add", record)
    return files


def plotly_specs(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def array_of(value) -> np.ndarray:
    """A plotly JSON array, plain list or typed {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(value)


def values_shown(trace: dict) -> np.ndarray:
    """The values a ui.viewer heatmap's hover reads: customdata's first channel, times 10^E when compact (int16)."""
    values = array_of(trace["customdata"])[..., 0].astype(np.float64)
    scale = (trace.get("meta") or {}).get("scale")
    return values * scale if scale else values


# ------------------------------------------------------------------------- pages


SKY = [("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 83.8, ""), ("CRVAL2", -5.4, ""),
       ("CRPIX1", 33.0, ""), ("CRPIX2", 30.0, ""), ("CDELT1", -1e-5, ""), ("CDELT2", 1e-5, ""),
       ("BUNIT", "Jy/beam", ""), ("BMAJ", 3e-5, ""), ("BMIN", 3e-5, ""), ("BPA", 0.0, "")]


def test_reconstruct_metrics_follow_the_chosen_model(app, downloads):
    from astropy.io import fits

    at = open_page(with_image(app, disk_image(), header=SKY), "pages/reconstruct.py")
    labels = [m.label for m in at.metric]
    assert labels.count("PSNR") == 2 and labels.count("MS-SSIM") == 2  # equivariant and CNN
    psnr_c4 = at.metric[1].value
    assert at.selectbox(key="recon_model_eq").options == ["disks-ae-d4", "disks-ae-equivariant"]
    at.selectbox(key="recon_model_eq").set_value("disks-ae-d4").run()
    assert not at.exception
    assert at.subheader[0].value == "disks-ae-d4"
    assert at.metric[1].value != psnr_c4
    buttons = at.get("download_button")
    assert len(buttons) == 2
    with fits.open(io.BytesIO(downloads[buttons[0].proto.url])) as hdul:  # disks-ae-d4's reconstruction
        header, data = hdul[0].header, hdul[0].data
    linked = plotly_specs(at)[0]  # disks-ae-d4: original | reconstruction | residual on shared axes
    shown = values_shown(linked["data"][1])  # the "Reconstruction" heatmap's hover, in its own values
    np.testing.assert_allclose(data, shown.reshape(33, 33), atol=linked["data"][1]["meta"]["scale"] / 2 + 1e-6)
    assert linked["layout"]["xaxis2"]["matches"] == "x" and linked["layout"]["xaxis3"]["matches"] == "x"
    assert header["BUNIT"] == "normalised" and header["BMAJ"] == 3e-5
    from core.data.cutout import cutout

    r0, r1, c0, _ = cutout(disk_image(), 33).box  # the disk's cutout is what the model saw
    r = (r1 - r0) / 33  # original pixels per grid pixel
    assert header["CDELT1"] == pytest.approx(-1e-5 * r) and header["CRPIX1"] == pytest.approx((33.0 - c0 - 0.5) / r + 0.5)
    assert header["CRPIX2"] == pytest.approx((30.0 - r0 - 0.5) / r + 0.5)
    assert any(c.value.startswith("Cutout: Background") and "fills the frame" in c.value for c in at.caption)
    assert "EquiScope: reconstruction by the model disks-ae-d4" in header["HISTORY"]
    # Jy/beam is a brightness: no unit warning (the tiny test models may still fit poorly and say so)
    assert all("matches the cutout poorly" in w.value for w in at.warning)
    with_image(at, disk_image(), kind="lens").run()
    kind_warning = ("The current image is a strong lens, but this model was trained on simulated disks; its output "
                    "says little about it.")
    assert [w.value for w in at.warning].count(kind_warning) == 2  # one per model answer (besides fit-quality notes)
    assert sum("percentile of the reference images' own distances" in c.value for c in at.caption) == 2


def test_reconstruct_warns_when_the_unit_is_a_velocity(app):
    at = open_page(with_image(app, disk_image(), header=[("BUNIT", "km/s", "")]), "pages/reconstruct.py")
    assert not at.exception
    assert sum("velocity" in w.value for w in at.warning) == 2  # one per model (equivariant and CNN)


def test_reconstruct_takes_a_user_box(app):
    at = open_page(with_image(app, disk_image()), "pages/reconstruct.py")
    at.number_input(key="recon_box_side").set_value(21.0).run()
    assert not at.exception
    assert any(c.value.startswith("Cutout: ") and "Your box: 21 px" in c.value for c in at.caption)


def test_reconstruct_without_image_points_to_the_data_page(app):
    at = open_page(app, "pages/reconstruct.py")
    assert at.info[0].value == "No image yet: load, simulate or pick an example on the Data page first."


def test_feature_maps_rotation_by_90_degrees_cycles_the_field(app):
    at = open_page(with_image(app, disk_image()), "pages/feature_maps.py")
    grid0 = plotly_specs(at)[0]
    titles = [a["text"] for a in grid0["layout"]["annotations"]]
    assert titles == ["0°", "90°", "180°", "270°"]
    at.slider(key="fm_angle").set_value(90).run()
    assert not at.exception
    grid90 = plotly_specs(at)[0]
    z0 = [array_of(t["z"]) for t in grid0["data"]]
    z90 = [array_of(t["z"]) for t in grid90["data"]]
    for g in range(4):  # rotating the input rotates every map and shifts it by one group element
        np.testing.assert_allclose(z90[g], np.rot90(z0[(g - 1) % 4]), atol=1e-4)


def test_latent_map_places_the_image_and_recolours_by_label(app, downloads):
    import pandas as pd

    at = open_page(with_image(app, disk_image()), "pages/latent_map.py")
    names = [t["name"] for t in plotly_specs(at)[0]["data"]]
    assert "test_disk.fits" in names and "nearest neighbours" in names
    assert {m.label for m in at.metric} >= {"ARI", "NMI", "Silhouette"}
    at.radio(key="map_colour").set_value("true label").run()
    assert not at.exception
    names = [t["name"] for t in plotly_specs(at)[0]["data"]]
    assert {"class planets_0", "class planets_3"} <= set(names)
    table = pd.read_csv(io.BytesIO(downloads[at.get("download_button")[0].proto.url]))
    assert list(table.columns) == ["file", "label", "cluster", "tsne_x", "tsne_y", "pc1", "pc2"] and len(table) == 12
    assert table["cluster"].nunique() == int(at.metric[0].value)  # "Clusters"
    for trace in plotly_specs(at)[0]["data"]:  # every point the map shows is its row of the CSV
        if trace["name"].startswith("class "):
            rows = table.iloc[array_of(trace["customdata"])]
            assert set(rows["label"]) == {trace["name"].removeprefix("class ")}
            np.testing.assert_allclose(rows[["tsne_x", "tsne_y"]].to_numpy(),
                                       np.c_[array_of(trace["x"]), array_of(trace["y"])], rtol=1e-5)
    for trace in plotly_specs(at)[1]["data"]:  # the PCA map beside it: the same points, its own coordinates
        if trace["name"].startswith("class "):
            rows = table.iloc[array_of(trace["customdata"])]
            np.testing.assert_allclose(rows[["pc1", "pc2"]].to_numpy(),
                                       np.c_[array_of(trace["x"]), array_of(trace["y"])], rtol=1e-5, atol=1e-9)


def test_latent_map_neighbours_uploads_and_search(app):
    at = open_page(with_image(app, disk_image()), "pages/latent_map.py")
    assert at.subheader[0].value == "Nearest neighbours of test\\_disk\\.fits"  # the name shown literally
    buf1, buf2 = io.BytesIO(), io.BytesIO()
    np.save(buf1, disk_image()[::-1].copy())
    np.save(buf2, np.rot90(disk_image()).copy())
    at.file_uploader(key="map_uploads").set_value([("flipped.npy", buf1.getvalue(), "application/octet-stream"),
                                                   ("turned.npy", buf2.getvalue(), "application/octet-stream")]).run()
    assert not at.exception
    for spec in plotly_specs(at)[:2]:  # t-SNE and PCA: three stars, each with its own label
        stars = next(t for t in spec["data"] if t["name"] == "placed images")
        assert list(stars["text"]) == ["test_disk.fits", "flipped.npy", "turned.npy"]
    at.text_input(key="map_search").set_value("planets_1/").run()
    assert not at.exception
    hits = next(t for t in plotly_specs(at)[0]["data"] if t["name"] == "search matches")
    assert len(array_of(hits["x"])) == 3 and all("planets_1/" in t for t in hits["text"])
    assert any(h.value == "3 reference images match “planets\\_1/”" for h in at.subheader)  # the search text, literally


def _errors(at) -> dict[str, float]:
    return {h.value.split(":")[0]: float(h.value.rsplit(" ", 1)[1]) for h in at.subheader if "relative error" in h.value}


def _curves(spec) -> dict:
    return {t["name"].split(" ")[0] + t["name"].split(" ")[1]: (array_of(t["x"]), array_of(t["y"])) for t in spec["data"]}


def test_equivariance_lab_error_is_zero_at_90_degrees_only_for_the_equivariant_model(app):
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")  # default angle 90
    errors = _errors(at)
    assert errors["disks-ae-equivariant"] < 1e-5
    assert errors["disks-ae-cnn"] > 1e-3
    specs = plotly_specs(at)
    assert len(specs) == 3  # two linked image panels, the curves; the orbit only on request
    assert [a["text"] for a in specs[0]["layout"]["annotations"]][0] == "g·x: the transformed input"
    x, y = _curves(specs[2])["disks-ae-equivariant:reconstruction"]
    assert y[x == 90.0][0] < 1e-5 < y[x == 45.0][0]
    assert specs[2]["layout"]["xaxis"]["title"]["text"] == "rotation angle (degrees)"
    at.slider(key="eq_angle").set_value(45.0).run()
    assert not at.exception
    assert _errors(at)["disks-ae-equivariant"] > 1e-5  # off the grid's symmetries: approximate only
    at.toggle(key="eq_orbit_on").set_value(True).run()
    assert not at.exception
    orbit_spec = json.loads(at.get("plotly_chart")[3].proto.spec)  # equivariant model's map
    orbit = next(t for t in orbit_spec["data"] if t["name"] == "rotated copies")
    ox, oy = array_of(orbit["x"]), array_of(orbit["y"])
    labels = list(orbit["text"])
    i0, i90 = labels.index("0°"), labels.index("90°")
    span = np.ptp(array_of(orbit_spec["data"][0]["x"]))
    assert abs(ox[i0] - ox[i90]) + abs(oy[i0] - oy[i90]) < 1e-3 * span  # invariant latent: the copies coincide


def test_equivariance_lab_flip_redraws_from_the_cached_curves(app, monkeypatch):
    """The curves are measured once per (model, image), both flips together; Flip and the angle only redraw."""
    import core.analysis.equivariance as eq

    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    calls = []
    real = eq.model_equivariance
    monkeypatch.setattr(eq, "model_equivariance", lambda *a, **k: calls.append(k.get("flips")) or real(*a, **k))
    before = _curves(json.loads(at.get("plotly_chart")[2].proto.spec))
    at.toggle(key="eq_flip").set_value(True).run()
    at.slider(key="eq_angle").set_value(30.0).run()
    assert not at.exception and calls == []
    after = _curves(json.loads(at.get("plotly_chart")[2].proto.spec))
    key = "disks-ae-equivariant:reconstruction"
    assert not np.allclose(before[key][1], after[key][1])  # the flipped curve is shown


def test_equivariance_lab_tests_a_classifier_and_warns_on_the_other_kind(app):
    """Classifiers in the Equivariance lab (probabilities and logits against angle); a lens model on a
    disk, and a disk model on a lens, are flagged in the lab and on the Feature maps page."""
    at = open_page(with_image(app, disk_image(), kind="disk"), "pages/equivariance.py")
    assert "lenses-classifier-equivariant" in at.selectbox(key="eq_model_eq").options
    at.selectbox(key="eq_model_eq").set_value("lenses-classifier-equivariant").run()
    assert not at.exception
    assert at.selectbox(key="eq_model_cnn").value == "lenses-classifier-cnn"
    assert [w.value for w in at.warning] == [
        "The current image is a protoplanetary disk, but this model was trained on simulated lenses; its output "
        "says little about it."]
    assert _errors(at)["lenses-classifier-equivariant"] < 1e-5  # invariant logits at 90 degrees
    inputs = plotly_specs(at)[0]["data"]  # x | g·x, the transformed input shown
    x, gx = (array_of(t["z"]).reshape(33, 33) for t in inputs[:2])
    np.testing.assert_allclose(gx, np.rot90(x), atol=1e-6)
    titles = [json.loads(el.proto.spec)["layout"].get("title", {}).get("text", "") for el in at.get("plotly_chart")]
    assert "lenses-classifier-equivariant: class probabilities" in titles
    assert "lenses-classifier-equivariant: logits" in titles
    probs = json.loads(at.get("plotly_chart")[titles.index("lenses-classifier-equivariant: class probabilities")].proto.spec)
    total = sum(array_of(t["y"]) for t in probs["data"])
    np.testing.assert_allclose(total, 1.0, atol=1e-5)

    at = open_page(with_image(app, disk_image(), kind="lens"), "pages/feature_maps.py")
    assert at.selectbox(key="fm_model_eq").value == "lenses-classifier-equivariant"  # follows the image's kind
    at.selectbox(key="fm_model_eq").set_value("disks-ae-equivariant").run()
    assert [w.value for w in at.warning] == [
        "The current image is a strong lens, but this model was trained on simulated disks; its output says little "
        "about it."]


def test_lenses_probabilities_and_evaluation(app):
    at = open_page(with_image(app, disk_image(), kind="lens"), "pages/lenses.py")
    bars = plotly_specs(at)[0]["data"]
    assert [b["name"] for b in bars] == ["lenses-classifier-equivariant", "lenses-classifier-cnn"]
    for b in bars:
        assert list(b["x"]) == CLASSES and array_of(b["y"]).sum() == pytest.approx(1.0, abs=1e-5)
    kinds = [spec["data"][-1]["type"] for spec in plotly_specs(at)]
    assert kinds == ["bar", "scatter", "heatmap", "scatter", "heatmap", "table"]  # ROC + confusion per model, zoo
    zoo = plotly_specs(at)[-1]["data"][0]
    assert zoo["cells"]["values"][0] == ["lenses-classifier-cnn", "lenses-classifier-equivariant"]
    at.toggle(key="lens_evaluate").set_value(False).run()
    assert [spec["data"][-1]["type"] for spec in plotly_specs(at)] == ["bar", "table"]


def test_train_refuses_a_second_run(app):
    import ui.training as training

    at = open_page(app, "pages/train.py")
    at.selectbox(key="train_model").set_value("CNN autoencoder").run()
    assert at.radio(key="train_family").disabled
    assert training._LOCK.acquire(blocking=False)  # another visitor's run holds the server
    try:
        at.button(key="train_start").click().run()
    finally:
        training._LOCK.release()
    assert [e.value for e in at.error] == [
        "A training run is already in progress on this server; wait for it to finish or stop it."]


def test_hosted_mode_hides_the_train_page(app, monkeypatch):
    from core.settings import settings

    monkeypatch.setenv("EQUISCOPE_HOSTED", "1")
    settings.cache_clear()
    try:
        app.run()
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page("pages/train.py")
        app.switch_page("pages/lenses.py").run()
        assert not app.exception
        # a fresh server routes /train straight to pages/train.py, without app.py: the page refuses itself
        from streamlit.testing.v1 import AppTest

        direct = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=30).run()
        assert [i.value for i in direct.info] == [
            "Training is switched off on this hosted demo; run EquiScope locally to train (`make app`)."]
        assert not direct.button
    finally:
        settings.cache_clear()


def test_no_checkpoints_gives_a_clear_message(app, tmp_path, monkeypatch):
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", tmp_path / "empty")
    at = open_page(app, "pages/latent_map.py")
    assert at.info[0].value.startswith("No model checkpoint exists yet")


def test_train_runs_in_the_background_and_the_checkpoint_joins_the_pickers(app):
    """A real (tiny) run started from the page: CNN autoencoder, 8 simulated disks, 1 epoch."""
    import time

    import ui.training as training

    at = open_page(app, "pages/train.py")
    at.selectbox(key="train_model").set_value("CNN autoencoder").run()
    at.number_input(key="train_n").set_value(8).run()
    at.number_input(key="train_epochs").set_value(1).run()
    at.text_input(key="train_name").set_value("page-test-run").run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    job = training.current()
    assert job is not None and job.name == "page-test-run"
    deadline = time.monotonic() + 300
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job.status == "done", job.error
    assert not (REPO_ROOT / "runs" / "page-test-run").exists()  # the run and its resume state stay in the test's folder
    at.run()
    assert at.subheader[0].value == "Run 'page-test-run': done"
    assert [s.value for s in at.success] == ["checkpoint 'page-test-run' written; it is now in every model picker"]
    with_image(at, disk_image()).switch_page("pages/reconstruct.py").run()
    assert at.selectbox(key="recon_model_cnn").options == ["disks-ae-cnn", "page-test-run"]


# ------------------------------------------------------------------------- batch evaluation


def npy_bytes(array: np.ndarray) -> bytes:
    """`array` as the bytes of a .npy file."""
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def lens_zip(layout: dict[str, str], n_per_class: int = 4, size: int = 40, wrapper: str = "") -> bytes:
    """A zip of tiny lens-like .npy images in class folders named by `layout` ({folder: class})."""
    import zipfile

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in layout:
            for i in range(n_per_class):
                zf.writestr(f"{wrapper}{folder}/{i:03d}.npy", npy_bytes(rng.random((size, size)).astype(np.float32)))
        zf.writestr("__MACOSX/._junk.npy", b"junk")
    return buf.getvalue()


def test_batch_evaluation_of_a_deeplense_zip(app, downloads):
    import pandas as pd

    at = open_page(app, "pages/batch.py")
    assert at.info[0].value.startswith("Upload a zip to evaluate the model on it")
    assert at.selectbox(key="batch_model").value == "disks-ae-equivariant"  # no data yet: the first example's kind
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, wrapper="dataset/")  # DeepLense's names
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="batch_model").value == "lenses-classifier-equivariant"  # follows the zip's classes
    cm = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Confusion matrix")["data"][0]
    matrix = array_of(cm["z"])
    assert matrix.sum() == 12 and list(cm["x"]) == CLASSES and (matrix.sum(axis=1) == 4).all()
    table = pd.read_csv(io.BytesIO(downloads[at.get("download_button")[0].proto.url]))
    assert len(table) == 12 and set(table["true"]) == set(CLASSES)
    assert {"file", "predicted", "probability", "latent_distance", "distance_percentile"} <= set(table.columns)
    assert table["file"].iloc[0] == "no/000.npy"  # folder kept in the name
    wrong = int((table["true"] != table["predicted"]).sum())
    assert at.subheader[-1].value == f"Misclassified: {wrong} of 12"
    assert np.trace(matrix) == 12 - wrong
    assert int(at.metric[0].value) == 12

    at.selectbox(key="batch_model").set_value("disks-ae-equivariant").run()  # an autoencoder on the same zip
    assert not at.exception
    assert at.subheader[-1].value == "The worst reconstructions (input | reconstruction)"
    assert "Mean MS-SSIM" in [m.label for m in at.metric]


def test_batch_evaluation_of_the_labelled_images_of_the_list(app, downloads):
    """The Batch page evaluates the session's labelled list entries (a zip loaded on the Data page)."""
    import pandas as pd

    app.run()
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=2)
    app.file_uploader[0].set_value([("lenses.zip", raw, "application/zip")]).run()
    assert not app.exception and len(app.session_state["image_list"]) == 6
    at = open_page(app, "pages/batch.py")
    assert at.radio(key="batch_source").value == "list"  # labelled images in the list: offered first
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="batch_model").value == "lenses-classifier-equivariant"  # follows the labels
    table = pd.read_csv(io.BytesIO(downloads[at.get("download_button")[0].proto.url]))
    assert len(table) == 6 and sorted(table["true"]) == sorted(CLASSES * 2)
    assert set(table["file"]) == {f"lenses.zip/{f}/{i:03d}.npy" for f in ("no", "sphere", "vort") for i in range(2)}
    assert dict(zip(table["file"], table["true"], strict=True))["lenses.zip/sphere/001.npy"] == "cdm"  # each name with its own label
    at.radio(key="batch_source").set_value("zip").run()  # the zip uploader is still there
    assert at.info[0].value.startswith("Upload a zip")


def test_batch_evaluation_refuses_a_broken_zip_in_one_sentence(app):
    at = open_page(app, "pages/batch.py")
    at.file_uploader(key="batch_zip").set_value([("broken.zip", b"PK\x03\x04 not really", "application/zip")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["broken.zip is not a readable zip archive; zip the image files (or their class folders) again."]


@pytest.fixture(scope="session")
def deeplense_index(tiny_index, tmp_path_factory) -> Path:
    """The tiny checkpoints plus size-matched DeepLense classifiers, as the shipped index has them: Model II
    (64 px), Model I (150 px), and this project's lens classifier trained at 150 px."""
    import shutil

    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    folder = tmp_path_factory.mktemp("deeplense_checkpoints")
    shutil.copytree(tiny_index, folder, dirs_exist_ok=True)
    model_name, config, _ = TINY["lenses-classifier-equivariant"]
    for i, (name, preset, size) in enumerate([("lenses-model2-equivariant", "deeplense-model2", 64),
                                              ("lenses-model1-equivariant", "deeplense-model1", 150),
                                              ("lenses-classifier-equivariant", None, 150)]):
        torch.manual_seed(100 + i)
        model = build_model(model_name, config).eval()
        data = {"generator": "lenses", "n": 12, "size": size, **({"preset": preset} if preset else {})}
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config, state_dict=model.state_dict(),
                               metrics={}, data_manifest=data, command="test", history={}, classes=CLASSES)
        register(path, name)
    return folder


@pytest.fixture
def deeplense_app(app, deeplense_index, monkeypatch):
    """`app` with the DeepLense classifiers; familiarity references are skipped (a DeepLense reference set
    would be simulated with lenstronomy, which is not what these tests are about)."""
    import core.checkpoints as ck
    import ui.reference as reference

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", deeplense_index)
    monkeypatch.setattr(reference, "familiarity_reference", lambda *args, **kwargs: None)
    return app


def manifest_zip(size: int, preset: str, n_per_class: int = 2) -> bytes:
    """A simulated data set as `python -m core simulate` writes it (class folders + manifest.json), zipped."""
    import zipfile

    rng = np.random.default_rng(1)
    buf, images = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in CLASSES:
            for i in range(n_per_class):
                zf.writestr(f"{cls}/{i:06d}.npy", npy_bytes(rng.random((size, size)).astype(np.float32)))
                images.append({"file": f"{cls}/{i:06d}.npy", "label": cls})
        manifest = {"generator": "lenses", "preset": preset, "size": size, "seed": 0, "classes": CLASSES, "images": images}
        zf.writestr("manifest.json", json.dumps(manifest))
    return buf.getvalue()


def upload_zip(at, raw: bytes, name: str = "lenses.zip"):
    at.file_uploader(key="batch_zip").set_value([(name, raw, "application/zip")]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_batch_evaluation_defaults_to_the_model_of_the_datas_size_and_preset(deeplense_app, downloads):
    """64-px DeepLense data -> Model II, 150-px -> Model I, 150-px of this project's simulator (manifest) -> the
    project's classifier; the evaluation runs with that model."""
    import pandas as pd

    at = open_page(deeplense_app, "pages/batch.py")
    deeplense = {"no": "no_sub", "sphere": "cdm", "vort": "vortex"}
    upload_zip(at, lens_zip(deeplense, n_per_class=2, size=64))
    assert at.selectbox(key="batch_model").value == "lenses-model2-equivariant"
    url = at.get("download_button")[0].proto.url
    assert len(pd.read_csv(io.BytesIO(downloads[url]))) == 6
    upload_zip(at, lens_zip(deeplense, n_per_class=2, size=150), "model1.zip")
    assert at.selectbox(key="batch_model").value == "lenses-model1-equivariant"
    upload_zip(at, manifest_zip(150, "project"), "project.zip")
    assert at.selectbox(key="batch_model").value == "lenses-classifier-equivariant"
    upload_zip(at, manifest_zip(150, "deeplense-model1"), "model1-manifest.zip")
    assert at.selectbox(key="batch_model").value == "lenses-model1-equivariant"


def test_batch_evaluation_keeps_your_model_when_the_data_source_changes(deeplense_app, downloads):
    """A model picked on the list's images stays through the radio switch (no zip yet) and the zip's upload;
    one trained on other data (a disk autoencoder) gives way to the lens default, with a sentence."""
    import pandas as pd

    deeplense_app.run()
    lenses = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=2, size=64)
    deeplense_app.file_uploader[0].set_value([("listed.zip", lenses, "application/zip")]).run()  # the Data page
    at = open_page(deeplense_app, "pages/batch.py")
    assert at.radio(key="batch_source").value == "list"
    assert at.selectbox(key="batch_model").value == "lenses-model2-equivariant"  # the list's 64-px images
    at.selectbox(key="batch_model").set_value("lenses-classifier-cnn").run()
    at.radio(key="batch_source").set_value("zip").run()
    assert at.selectbox(key="batch_model").value == "lenses-classifier-cnn"  # no zip yet: still yours
    upload_zip(at, lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=2, size=64))
    assert at.selectbox(key="batch_model").value == "lenses-classifier-cnn"  # a lens zip: yours still fits
    table = pd.read_csv(io.BytesIO(downloads[at.get("download_button")[0].proto.url]))
    assert len(table) == 6
    at.selectbox(key="batch_model").set_value("disks-ae-equivariant").run()  # an autoencoder on this zip: yours
    assert at.selectbox(key="batch_model").value == "disks-ae-equivariant" and not at.exception
    assert at.subheader[-1].value == "The worst reconstructions (input | reconstruction)"
    at.radio(key="batch_source").set_value("list").run()  # lens images again: a disk model does not fit them
    assert at.selectbox(key="batch_model").value == "lenses-model2-equivariant"
    assert ("disks-ae-equivariant was trained on disk images, not on these images: lenses-model2-equivariant fits them."
            in [c.value for c in at.caption])


def test_the_misclassified_gallery_opens_an_image_as_the_current_image(deeplense_app):
    """Any misclassified file: shown large with its true and predicted class and every probability; its button
    adds the original file (not the model-grid copy) to the image list as the current image, with its label."""
    from ui.markdown import md_escape

    at = open_page(deeplense_app, "pages/batch.py")
    upload_zip(at, lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, size=64, wrapper="dataset/"))
    wrong = at.subheader[-1].value
    assert wrong.startswith("Misclassified: ") and not wrong.startswith("Misclassified: 0 ")
    box = at.selectbox(key="batch_open")
    file = box.options[-1]
    box.set_value(file).run()
    shown = " ".join(m.value for m in at.markdown)
    assert "True class **" in shown and "predicted **" in shown
    probs = at.dataframe[-1].value  # after the per-file table
    assert list(probs["class"]) == CLASSES and abs(probs["probability"].sum() - 1) < 1e-3
    assert at.session_state["image_list"] == []
    at.button(key="batch_open_use").click().run()
    assert not at.exception and not at.error
    [entry] = at.session_state["image_list"]
    assert entry.name == f"lenses.zip/dataset/{file}" and entry.loaded.data.shape == (64, 64)  # the file itself
    assert entry.label == {"no": "no_sub", "sphere": "cdm", "vort": "vortex"}[file.split("/")[0]] and entry.kind == "lens"
    assert at.session_state["image_list_current"] == entry.id and at.session_state["current_image"]["name"] == entry.name
    assert [s.value for s in at.success] == [f"{md_escape(entry.name)} is the current image."]  # as Markdown


def test_the_misclassified_gallery_of_the_list_selects_the_listed_image(deeplense_app):
    deeplense_app.run()
    lenses = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"}, n_per_class=2, size=64)
    deeplense_app.file_uploader[0].set_value([("listed.zip", lenses, "application/zip")]).run()
    at = open_page(deeplense_app, "pages/batch.py")
    names = [e.name for e in at.session_state["image_list"]]
    box = at.selectbox(key="batch_open")
    assert set(box.options) <= set(names)
    box.set_value(box.options[0]).run()
    at.button(key="batch_open_use").click().run()
    assert not at.exception and [e.name for e in at.session_state["image_list"]] == names  # nothing added
    assert at.session_state["current_image"]["name"] == box.options[0]


def test_lenses_flags_two_confident_models_that_disagree(app, monkeypatch):
    """Regression: both classifiers ≈ 1.00 for different classes on one image is flagged, with familiarity."""
    import ui.inference as inference

    answers = {"lenses-classifier-equivariant": np.array([0.97, 0.02, 0.01], np.float32),
               "lenses-classifier-cnn": np.array([0.01, 0.01, 0.98], np.float32)}
    monkeypatch.setattr(inference, "class_probabilities", lambda name, sha, image: answers[name])
    at = open_page(with_image(app, disk_image(), kind="lens"), "pages/lenses.py")
    warnings = [w.value for w in at.warning]
    assert warnings == [
        "The models disagree although both are confident: lenses-classifier-equivariant says no_sub (0.97), "
        "lenses-classifier-cnn says vortex (0.98). At least one is wrong with high confidence; trust neither on "
        "this image."]
    assert sum("percentile of the reference images' own distances" in c.value for c in at.caption) == 2
    answers["lenses-classifier-cnn"] = np.array([0.96, 0.02, 0.02], np.float32)  # agreement: no note
    at.run()
    assert not at.warning


def test_viewer_controls_change_cut_colour_map_and_contours(app):
    at = open_page(with_image(app, disk_image()), "pages/reconstruct.py")
    linked = plotly_specs(at)[0]
    assert linked["layout"]["xaxis"]["title"]["text"] == "x (px)" and linked["layout"]["xaxis"]["tickformat"] == "d"
    at.selectbox(key="recon_cut").set_value("manual").run()
    at.number_input(key="recon_vmin").set_value(0.2)
    at.number_input(key="recon_vmax").set_value(0.6)
    at.selectbox(key="recon_cmap").set_value("viridis")
    at.number_input(key="recon_contours").set_value(3).run()
    assert not at.exception
    linked = plotly_specs(at)[0]
    axis = linked["layout"]["coloraxis"]
    assert linked["data"][0]["meta"]["cut"] == pytest.approx((0.2, 0.6))
    assert axis["colorscale"][0][1] == "rgb(68, 1, 84)"  # viridis starts dark violet
    assert [t["type"] for t in linked["data"]].count("contour") == 2  # on the original and the reconstruction
    residual = next(t for t in linked["data"] if t.get("coloraxis") == "coloraxis2")
    assert residual["meta"]["cut"][0] == -residual["meta"]["cut"][1]  # residual unchanged


def _cutout_rects(at) -> list[dict]:
    return [shape for spec in plotly_specs(at) for shape in spec["layout"].get("shapes", [])
            if shape.get("type") == "rect" and str(shape.get("name", "")).startswith("cutout")]


def test_the_cutout_box_is_drawn_on_the_data_page_and_a_user_box_holds_on_reconstruct(app):
    """The Data page outlines the square the disk models see; a box set there is the Reconstruct page's."""
    app.session_state["data_tab"] = "Simulate"  # only the open tab of the Data page is drawn
    app.run()
    assert not app.exception
    app.button(key="sim-disk-use").click().run()
    auto = _cutout_rects(app)  # the simulation's disk panel
    assert auto and all(3 <= r["x1"] - r["x0"] <= 129 for r in auto)
    app.number_input(key="sim-disk-box_side").set_value(21.0).run()
    assert not app.exception
    user = _cutout_rects(app)
    assert len(user) == len(auto)
    assert all((r["x1"] - r["x0"], r["y1"] - r["y0"]) == (21, 21) for r in user)  # 21 px on a side, pixel edges
    assert any("Your box: 21 px" in c.value for c in app.caption)
    app.switch_page("pages/reconstruct.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.number_input(key="recon_box_side").value == 21.0
    assert any(c.value.startswith("Cutout: ") and "Your box: 21 px" in c.value for c in app.caption)
    app.number_input(key="recon_box_side").set_value(0.0).run()  # back to automatic, on both pages
    app.switch_page("pages/data.py").run()
    assert _cutout_rects(app) == auto


def test_a_box_the_image_cannot_take_is_said_under_the_image_not_as_an_error(app):
    app.session_state["data_tab"] = "Simulate"
    app.run()
    app.number_input(key="sim-disk-box_side").set_value(1.0).run()
    app.selectbox(key="sim-disk-box_unit").set_value("au").run()  # au without a distance
    assert not app.exception and not app.error
    assert any(c.value.startswith("No cutout box: A box in au needs the distance") for c in app.caption)
    assert not _cutout_rects(app)


# ------------------------------------------------------------------------- a K-fold ensemble in the pickers


ENSEMBLE = "disks-ae-ensemble"


def add_ensemble(folder) -> list[torch.nn.Module]:
    """A 2-member ensemble of the tiny equivariant AE registered in `folder` (the runs/ the app lists)."""
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    model_name, config, _ = TINY["disks-ae-equivariant"]
    members = []
    for seed in (10, 11):
        torch.manual_seed(seed)
        members.append(build_model(model_name, config).eval())
    path = save_checkpoint(folder / f"{ENSEMBLE}.pt", model_name=model_name, config=config,
                           state_dict=[m.state_dict() for m in members], metrics={},
                           data_manifest={"generator": "disks", "n": 12}, command="test", history={})
    register(path, ENSEMBLE)
    return members


def fits_data(files: dict, at, index: int) -> np.ndarray:
    from astropy.io import fits

    with fits.open(io.BytesIO(files[at.get("download_button")[index].proto.url])) as hdul:
        return np.asarray(hdul[0].data, dtype=np.float32)


def test_the_reconstruct_page_offers_the_ensemble_and_shows_the_mean_of_its_members(app, downloads, tmp_path):
    from core.data.cutout import cutout

    members = add_ensemble(tmp_path / "runs")
    at = open_page(with_image(app, disk_image()), "pages/reconstruct.py")
    picker = at.selectbox(key="recon_model_eq")
    assert ENSEMBLE in picker.options and picker.value == "disks-ae-equivariant"  # offered; the single model stays the default
    at.selectbox(key="recon_model_eq").set_value(ENSEMBLE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == ENSEMBLE
    assert any("ensemble of 2" in c.value for c in at.caption)
    x = torch.from_numpy(cutout(disk_image(), 33).image)[None, None]
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(0).clamp(0, 1)[0, 0].numpy()
        first = members[0](x).clamp(0, 1)[0, 0].numpy()
    shown = fits_data(downloads, at, 0)
    np.testing.assert_allclose(shown, expected, atol=1e-5)
    assert np.abs(shown - first).max() > 1e-3


def test_every_autoencoder_picker_lists_the_ensemble(app, tmp_path):
    add_ensemble(tmp_path / "runs")
    for page in ("pages/feature_maps.py", "pages/equivariance.py", "pages/latent_map.py"):
        at = open_page(with_image(app, disk_image()), page)
        boxes = [b for b in at.selectbox if "disks-ae-equivariant" in b.options]
        assert boxes, page
        assert all(ENSEMBLE in b.options for b in boxes), page


# ------------------------------------------------------------------------- one cutout feeds every disk page


def ring_in_wide_frame(size: int = 512) -> np.ndarray:
    """A ring about 60 px across in a 512-px frame of faint noise (as the CASA ring fills its frame)."""
    rng = np.random.default_rng(25)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    r = np.hypot(xx - 300.0, yy - 190.0)
    ring = np.exp(-0.5 * ((r - 22.0) / 4.0) ** 2) + 0.6 * np.exp(-0.5 * (r / 5.0) ** 2)
    return (ring + 0.01 * rng.normal(size=(size, size))).astype(np.float32)


@pytest.fixture
def spies(monkeypatch) -> dict:
    """{function: {checkpoint: what it got}}: the image ui.inference's feature_maps and equivariance_pair were
    given, and the cutout ("original") reconstruct returned."""
    import ui.inference as inference

    seen: dict = {"feature_maps": {}, "equivariance_pair": {}, "reconstruct": {}}

    def given(real, tag):
        def spy(name, sha256, image, *args, **kwargs):
            seen[tag][name] = np.array(image)
            return real(name, sha256, image, *args, **kwargs)
        return spy

    def returned(name, sha256, *args, **kwargs):
        result = real_reconstruct(name, sha256, *args, **kwargs)
        seen["reconstruct"][name] = np.array(result["original"])
        return result

    real_reconstruct = inference.reconstruct
    monkeypatch.setattr(inference, "feature_maps", given(inference.feature_maps, "feature_maps"))
    monkeypatch.setattr(inference, "equivariance_pair", given(inference.equivariance_pair, "equivariance_pair"))
    monkeypatch.setattr(inference, "reconstruct", returned)
    return seen


def test_feature_maps_and_the_equivariance_lab_see_the_reconstruct_pages_cutout(app, spies):
    """Regression (issue 25, item 1): a ring filling 60 px of a 512-px frame reached Feature maps and the
    Equivariance lab as the whole frame (a dot on the grid); Reconstruct saw its cutout."""
    frame = ring_in_wide_frame()
    at = open_page(with_image(app, frame), "pages/reconstruct.py")
    cut = spies["reconstruct"]["disks-ae-equivariant"]
    assert cut.shape == (33, 33)
    recon_caption = next(c.value for c in at.caption if c.value.startswith("Cutout: "))
    assert "Source found at" in recon_caption
    for page, tag in (("pages/feature_maps.py", "feature_maps"), ("pages/equivariance.py", "equivariance_pair")):
        at = open_page(at, page)
        for name in ("disks-ae-equivariant", "disks-ae-cnn"):
            np.testing.assert_array_equal(spies[tag][name], spies["reconstruct"][name])  # the very same input
        captions = [c.value for c in at.caption if c.value.startswith("Cutout: ")]
        assert len(captions) == 2 and all(recon_caption.startswith(c) for c in captions), page  # said the same way

    at.number_input(key="eq_box_side").set_value(61.0).run()  # a box set here holds on every disk page
    assert not at.exception
    assert all("Your box: 61 px" in c.value for c in at.caption if c.value.startswith("Cutout: "))
    in_lab = spies["equivariance_pair"]["disks-ae-equivariant"]
    at = open_page(at, "pages/reconstruct.py")
    np.testing.assert_array_equal(spies["reconstruct"]["disks-ae-equivariant"], in_lab)
    assert not np.array_equal(in_lab, cut)

    at = open_page(at, "pages/feature_maps.py")  # a lens model sees the whole image, put on its grid by ui.inference
    at.selectbox(key="fm_model_eq").set_value("lenses-classifier-equivariant").run()
    assert not at.exception
    assert spies["feature_maps"]["lenses-classifier-equivariant"].shape == frame.shape
    assert not any(c.value.startswith("Cutout: ") for c in at.caption)


def _with_curves(monkeypatch, curves: dict) -> None:
    """The index entries as listed, with `curves` ({checkpoint: rotation_curve}) in their metrics."""
    import core.checkpoints as ck

    real = ck.list_checkpoints

    def listed(*args, **kwargs):
        entries = real(*args, **kwargs)
        for e in entries:
            if e["name"] in curves:
                e["metrics"] = {**(e.get("metrics") or {}), "rotation_curve": curves[e["name"]]}
        return entries

    monkeypatch.setattr(ck, "list_checkpoints", listed)


def _promise_specs(at) -> list[dict]:
    return [s for s in plotly_specs(at) if "held-out image turned" in (s["layout"].get("title") or {}).get("text", "")]


def test_equivariance_lab_shows_each_models_cost_per_image(app):
    from core.models.registry import build_model

    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    costs = [c.value for c in at.caption if c.value.startswith("Cost per image: ")]
    assert len(costs) == 2  # the equivariant model and the CNN, each under its own error
    for name, line in zip(("disks-ae-equivariant", "disks-ae-cnn"), costs, strict=True):
        model_name, config, _ = TINY[name]
        n = sum(p.numel() for p in build_model(model_name, config).parameters())
        assert line.startswith(f"Cost per image: {n:,} learned parameters · ")
        mflop = float(line.split(" · ")[1].split()[0])
        assert mflop > 0 and " ms on this server" in line
    assert not _promise_specs(at)  # no curve recorded in the index: no plot, no empty axes
    assert not any("score against rotation angle" in h.value for h in at.subheader)


def test_equivariance_lab_plots_the_recorded_score_against_angle(app, monkeypatch):
    angles = [0.0, 15.0, 30.0, 45.0]
    _with_curves(monkeypatch, {
        "disks-ae-equivariant": {"angles_deg": angles, "score": [0.99, 0.985, 0.98, 0.97], "metric": "ms_ssim"},
        "disks-ae-cnn": {"angles_deg": angles, "score": [0.98, 0.9, 0.85, 0.8], "metric": "ms_ssim"},
    })
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    (spec,) = _promise_specs(at)
    lines = {t["name"]: (array_of(t["x"]), array_of(t["y"])) for t in spec["data"]}
    assert set(lines) == {"disks-ae-equivariant", "disks-ae-cnn"}
    np.testing.assert_allclose(lines["disks-ae-cnn"][0], angles)
    np.testing.assert_allclose(lines["disks-ae-cnn"][1], [0.98, 0.9, 0.85, 0.8])
    assert spec["layout"]["yaxis"]["title"]["text"] == "MS-SSIM"


def test_equivariance_lab_plots_only_the_curves_recorded(app, monkeypatch):
    _with_curves(monkeypatch, {"disks-ae-equivariant": {"angles_deg": [0, 45, 90], "score": [0.9, 0.8, 0.9],
                                                        "metric": "ms_ssim"},
                               "disks-ae-cnn": {"angles_deg": [0, 45], "score": [0.9]}})  # malformed: not drawn
    at = open_page(with_image(app, disk_image()), "pages/equivariance.py")
    (spec,) = _promise_specs(at)
    assert [t["name"] for t in spec["data"]] == ["disks-ae-equivariant"]
    assert any("disks-ae-cnn has no such record yet" in c.value for c in at.caption)


def test_rotation_curve_is_read_only_when_well_formed():
    from ui.model_card import rotation_curve

    def entry(curve):
        return {"name": "m", "metrics": {"rotation_curve": curve}}

    got = rotation_curve(entry({"angles_deg": [30, 0, 15], "score": [0.7, 0.9, 0.8], "metric": "macro_auc"}))
    np.testing.assert_allclose(got["angles_deg"], [0, 15, 30])
    np.testing.assert_allclose(got["score"], [0.9, 0.8, 0.7])
    assert got["metric"] == "macro_auc"
    for bad in (None, [], {"angles_deg": [0, 1], "score": [1]}, {"angles_deg": [0, 1], "score": ["a", 1]},
                {"angles_deg": [0, 1], "score": [float("nan"), 1]}, {"angles_deg": [0], "score": [1]}):
        assert rotation_curve(entry(bad)) is None
    assert rotation_curve({"name": "m"}) is None


def test_a_lens_model_in_feature_maps_and_the_lab_sees_the_image_on_its_training_grid(app, spies, monkeypatch):
    """Lens models get the image as on the Lenses page (ui.inference.grid_view): resampled from the file's
    pixel scale to the one the model was trained at, with the same note under each model."""
    import core.checkpoints as ck
    from core.data.regrid import match_grid, to_grid

    grid = {"arcsec_per_pixel": 0.1, "image_size": 33, "field_of_view_arcsec": 3.3}
    real = ck.list_checkpoints

    def listed(*args, **kwargs):
        entries = real(*args, **kwargs)
        for e in entries:
            if e["name"] == "lenses-classifier-equivariant":
                e["grid"] = grid
        return entries

    monkeypatch.setattr(ck, "list_checkpoints", listed)
    at = with_image(app, disk_image(), kind="lens", header=SKY)  # 0.036″ per pixel
    for page, tag in (("pages/feature_maps.py", "feature_maps"), ("pages/equivariance.py", "equivariance_pair")):
        at = open_page(at, page)
        got = spies[tag]["lenses-classifier-equivariant"]
        assert got.shape == (33, 33) != disk_image().shape  # 65 px at 0.036″ -> the model's 0.1″ grid
        assert any(c.value.startswith("Resampled from 0.036″ to 0.10″ per pixel") for c in at.caption), page
        image = at.session_state["current_image"]
        expected = to_grid(image["data"], match_grid(image["data"].shape, image["meta"].pixel_scale_arcsec, grid))
        np.testing.assert_array_equal(got, expected)  # what the Lenses page gives the same model
        assert spies[tag]["lenses-classifier-cnn"].shape == (150, 150)  # the tiny CNN's own record: 0.05″, 150 px
        assert any(c.value.startswith("Resampled from 0.036″ to 0.05″ per pixel") for c in at.caption), page


def test_the_latent_map_places_the_reconstruct_pages_cutout(app, spies, monkeypatch):
    """One cutout feeds every disk page (issue 25, item 1): the Latent map embeds the very image Reconstruct
    cut out of a wide frame (it made a cutout of its own before, without the shared box)."""
    from ui import reference

    embedded = []
    real = reference.embed_images
    monkeypatch.setattr(reference, "embed_images", lambda name, sha, gen, images: embedded.append(
        (name, [np.array(i) for i in images])) or real(name, sha, gen, images))
    at = open_page(with_image(app, ring_in_wide_frame()), "pages/reconstruct.py")
    cut = spies["reconstruct"]["disks-ae-equivariant"]
    at = open_page(at, "pages/latent_map.py")
    assert not at.exception
    placed = [images[0] for name, images in embedded if name == "disks-ae-equivariant"]
    assert placed, "the current image was not placed"
    np.testing.assert_array_equal(placed[-1], cut)
