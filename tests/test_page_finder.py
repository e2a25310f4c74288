"""The lens finder on the Lenses page (AppTest): the lens probability of the current image and the stored ROC curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pages import APP, TINY, disk_image, open_page, plotly_specs, with_image

torch.set_num_threads(1)

FINDER_CFG = {"group": "C4", "image_size": 33, "fields": (1, 2, 2), "hidden": 8, "n_classes": 2}


def _metrics(auc_easy: float, auc_hard: float, adaptation: str) -> dict:
    grid = np.linspace(0, 1, 11)
    roc = lambda auc: {"fpr": grid.tolist(), "tpr": np.minimum(1, grid ** (1 / auc - 0.99)).tolist()}  # noqa: E731
    return {"macro_auc": auc_easy, "domain_adaptation": adaptation,
            "test": {"auroc": auc_easy, "roc": roc(auc_easy), "positive_class": "lens"},
            "test_target": {"auroc": auc_hard, "roc": roc(auc_hard), "positive_class": "lens"}}


@pytest.fixture(scope="module")
def finder_index(tmp_path_factory):
    """Tiny substructure classifiers (the page needs one) and two tiny lens finders, with stored ROC points."""
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    folder = tmp_path_factory.mktemp("finder_checkpoints")
    models = {name: TINY[name] for name in ("lenses-classifier-equivariant", "lenses-classifier-cnn")}
    models["lenses-finder-equivariant"] = ("equivariant_classifier", FINDER_CFG, "lensfinding")
    models["lenses-finder-equivariant-adapted"] = ("equivariant_classifier", FINDER_CFG, "lensfinding")
    for i, (name, (model_name, config, generator)) in enumerate(models.items()):
        torch.manual_seed(i)
        model = build_model(model_name, config).eval()
        finder = generator == "lensfinding"
        metrics = _metrics(0.97, 0.8 + 0.05 * ("adapted" in name), "dann" if "adapted" in name else "none") if finder else {"micro_auc": 0.5}
        data = {"generator": generator, "n": 12, "size": 64 if finder else 33, "preset": "easy" if finder else "project"}
        path = save_checkpoint(folder / f"{name}.pt", model_name=model_name, config=config, state_dict=model.state_dict(),
                               metrics=metrics, data_manifest=data, command="test", history={},
                               classes=["lens", "nonlens"] if finder else ["no_sub", "cdm", "vortex"])
        register(path, name)
    return folder


@pytest.fixture
def finder_app(finder_index, tmp_path, monkeypatch):
    import core.analysis.reference_sets as reference
    import core.checkpoints as ck

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", finder_index)
    monkeypatch.setattr(ck, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(reference, "CACHE", tmp_path.parent / "finder_page_cache")
    monkeypatch.setattr(reference, "REFERENCE_N", {"disks": 12, "lenses": 12, "lensfinding": 8})
    monkeypatch.setattr(reference, "REFERENCE_SIZE", {"disks": 33, "lenses": 33, "lensfinding": 32})
    monkeypatch.delenv("EQUISCOPE_HOSTED", raising=False)
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=180)


def _lens_image() -> np.ndarray:
    from core.data import lensfinding as lf

    rng = np.random.default_rng(0)
    return lf.render(lf.sample_params("easy", "lens", rng, 64), rng)


def test_lenses_page_shows_the_lens_probability_and_the_finder_roc(finder_app):
    at = open_page(with_image(finder_app, _lens_image(), kind="lens"), "pages/lenses.py")
    # the substructure pickers do not offer the finders
    assert "lenses-finder-equivariant" not in at.selectbox(key="lens_model_eq").options
    assert at.selectbox(key="lens_finder").value == "lenses-finder-equivariant"  # the unadapted finder first
    line = next(m.value for m in at.markdown if "Lens probability" in m.value)
    p = float(line.split("Lens probability ")[1].split("**")[0])
    assert 0.0 <= p <= 1.0 and "(lenses-finder-equivariant:" in line
    roc = next(s for s in plotly_specs(at) if "Lens finder ROC" in str(s["layout"].get("title")))
    names = [t["name"] for t in roc["data"]]
    assert names[0] == "chance" and len(names) == 5  # two finders x (easy, hard)
    assert "lenses-finder-equivariant-adapted, hard test (AUC 0.850)" in names
    notes = [c.value for c in at.caption] + [w.value for w in at.warning]
    assert any("percentile" in n or "outside" in n for n in notes)  # the familiarity note of the finder's answer
    at.selectbox(key="lens_finder").set_value("lenses-finder-equivariant-adapted").run()
    assert not at.exception
    assert any("Lens probability" in m.value and "(lenses-finder-equivariant-adapted:" in m.value for m in at.markdown)


def test_lenses_page_without_finders_says_how_to_train_one(finder_app, monkeypatch):
    import ui.finder as finder

    monkeypatch.setattr(finder, "finder_entries", lambda: [])
    at = open_page(with_image(finder_app, disk_image(), kind="lens"), "pages/lenses.py")
    assert any("lenses-finder-equivariant.toml" in c.value for c in at.caption)
