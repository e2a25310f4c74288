"""Linear or figure-like (core.io.stretch) wired into what disk models see: core.analysis.reconstruct.model_cutout,
`python -m core reconstruct` and every disk page (ui.disk_input, the Reconstruct page) say which was assumed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from core.analysis.reconstruct import disk_cutout, model_cutout
from core.data import dsharp
from core.data.disks import observe
from core.io import read_image, write_fits
from core.io.stretch import brightness_input, render_figure, saw_figures
from core.paths import CHECKPOINTS_DIR, REPO_ROOT

V1 = {"name": "v1-like", "data": {"generator": "disks", "preset": None}}  # trained on linear simulated disks
V2 = {"name": "v2-like", "data": {"generator": "disks", "preset": "dsharp-figures"}}  # trained on figures too


def linear_disk(size: int = 96, seed: int = 12) -> np.ndarray:
    """A simulated DSHARP-like disk, linear brightness (noise around zero)."""
    params = dsharp.sample_dsharp_params(np.random.default_rng(seed), 2, size)
    image, _, _ = observe(params, size, np.random.default_rng(1))
    return image.astype(np.float32)


def png_bytes(image: np.ndarray) -> bytes:
    """`image` as an 8-bit PNG figure: clipped to [0, its peak], asinh-stretched (softening 0.02), quantised."""
    shown = render_figure(image, "asinh", 0.02, 0.0, float(image.max()), bits=8)
    buffer = io.BytesIO()
    Image.fromarray(np.round(shown * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def jy_beam_fits(path, image: np.ndarray) -> None:
    write_fits(path, image, [("BUNIT", "Jy/beam", ""), ("BMAJ", 1.1e-5, ""), ("BMIN", 1e-5, ""), ("BPA", 10.0, "")])


def test_saw_figures_reads_an_index_entry_or_its_data_record():
    assert saw_figures(V2) and saw_figures(V2["data"])
    assert not saw_figures(V1) and not saw_figures(V1["data"]) and not saw_figures(None) and not saw_figures({})
    entries = {e["name"]: e for e in json.loads((CHECKPOINTS_DIR / "index.json").read_text())["checkpoints"]}
    assert saw_figures(entries["disks-ae-equivariant-v5"]) and saw_figures(entries["disks-ae-cnn-v3"])
    assert not saw_figures(entries["disks-ae-equivariant"]) and not saw_figures(entries["disks-ae-cnn"])


def test_a_linear_jy_per_beam_fits_is_said_linear_and_reaches_the_model_unchanged(tmp_path):
    jy_beam_fits(tmp_path / "disk.fits", 0.003 * linear_disk())
    loaded = read_image(tmp_path / "disk.fits")
    for entry in (V1, V2):
        given, sentence = brightness_input(loaded.data, loaded.meta, saw_figures(entry))
        assert given is loaded.data  # the very array: byte-identical model input
        assert sentence.startswith("Assumed a linear physical image (a FITS in Jy/beam); its brightness was used as it is")
        cut, said = model_cutout(loaded.data, 65, meta=loaded.meta, model_saw_figures=saw_figures(entry))
        before = disk_cutout(loaded.data, 65)  # the cutout as every page cut it before this step existed
        assert said == sentence and cut.box == before.box and cut.image.tobytes() == before.image.tobytes()


def test_a_png_figure_has_its_stretch_undone_for_a_v1_model_and_is_used_as_shown_for_a_figures_model():
    linear = linear_disk()
    png = read_image(png_bytes(linear), "disk_asinh.png")
    truth = disk_cutout(linear, 65)
    shown, said_v2 = model_cutout(png.data, 65, meta=png.meta, model_saw_figures=saw_figures(V2))
    undone, said_v1 = model_cutout(png.data, 65, meta=png.meta, model_saw_figures=saw_figures(V1))
    assert said_v2.startswith("Assumed a figure-like image (a PNG picture") and "it was used as shown, since the model's " \
        "training disks include renderings" in said_v2
    assert said_v1.startswith("Assumed a figure-like image (a PNG picture") and "asinh stretch" in said_v1
    assert "undone approximately" in said_v1
    assert np.array_equal(shown.image, disk_cutout(png.data, 65).image)  # as shown: the figure's own cutout
    assert not np.allclose(undone.image, shown.image, atol=0.05)  # the v1 model gets something else
    assert truth.box == shown.box == undone.box
    # ... closer to the linear disk the figure was made from (measured: MSE 0.0014 against 0.039 as shown)
    assert np.mean((undone.image - truth.image) ** 2) < 0.2 * np.mean((shown.image - truth.image) ** 2)


def test_the_cli_prints_the_sentence_for_each_input(tmp_path, capsys):
    from core.cli import main

    src = tmp_path / "in"
    src.mkdir()
    linear = linear_disk(64, seed=3)
    (src / "figure.png").write_bytes(png_bytes(linear))
    jy_beam_fits(src / "linear.fits", 0.003 * linear)
    out = tmp_path / "out"
    assert main(["reconstruct", "--checkpoint", "disks-ae-cnn", "--input", str(src), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = [line.strip() for line in lines if line.strip().startswith("Assumed a ")]
    assert len(said) == 2
    assert said[0].startswith("Assumed a figure-like image (a PNG picture") and "undone approximately" in said[0]
    assert said[1].startswith("Assumed a linear physical image (a FITS in Jy/beam)")
    summary = json.loads((out / "reconstruct.json").read_text())["images"]
    assert [e["brightness_note"] for e in summary] == said and all(e["notes"][0] == s for e, s in zip(summary, said, strict=True))
    assert main(["reconstruct", "--checkpoint", "disks-ae-cnn-v3", "--input", str(src / "figure.png"),
                 "--out", str(tmp_path / "out2")]) == 0
    assert "it was used as shown, since the model's training disks include renderings" in capsys.readouterr().out


# ---------------------------------------------------------------------------- the pages (AppTest)


@pytest.fixture
def app(tmp_path_factory, tmp_path, monkeypatch):
    """AppTest of app.py with two tiny disk autoencoders (v1-like: no preset) as test_pages builds them."""
    import torch

    import core.analysis.reference_sets as reference
    import core.checkpoints as ck
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    tiny = {"disks-ae-equivariant": ("equivariant_ae", {"group": "C4", "image_size": 33, "fields": (1, 2, 2),
                                                        "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)}),
            "disks-ae-cnn": ("cnn_ae", {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4,
                                        "decoder_channels": (4, 4, 4, 4)})}
    for i, (name, (model_name, config)) in enumerate(tiny.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config).eval()
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config, state_dict=model.state_dict(),
                               metrics={}, data_manifest={"generator": "disks", "n": 12}, command="test", history={})
        register(path, name)
    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", folder)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(reference, "CACHE", tmp_path / "page_cache")
    monkeypatch.setattr(reference, "REFERENCE_N", {"disks": 12, "lenses": 12})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {"disks": 33, "lenses": 33})
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)


def _shown(at, page: str) -> list[str]:
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return [c.value.replace("\\", "") for c in at.caption]  # md_escape's backslashes off


def test_the_disk_pages_say_a_png_figure_was_taken_as_figure_like(app):
    loaded = read_image(png_bytes(linear_disk(64, seed=3)), "disk_asinh.png")
    app.session_state["current_image"] = {"data": loaded.data, "meta": loaded.meta, "name": "disk_asinh.png",
                                          "kind": "disk"}
    on_reconstruct = [c for c in _shown(app, "pages/reconstruct.py") if c.startswith("Cutout: ")]
    assert len(on_reconstruct) == 2  # one per model
    assert all("\nAssumed a figure-like image (a PNG picture" in c and "undone approximately" in c for c in on_reconstruct)
    on_features = [c for c in _shown(app, "pages/feature_maps.py") if c.startswith("Cutout: ")]
    assert on_features and all(c in on_reconstruct for c in on_features)  # said the same way on every disk page
    sentence = on_reconstruct[0].split("\n", 1)[1]
    assert sentence in _shown(app, "pages/latent_map.py")  # the map places the same input and says so too
