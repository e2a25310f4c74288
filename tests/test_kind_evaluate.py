"""The kind check in `python -m core evaluate` and on the Batch page (core/analysis/evaluate.py): every file gets the
kind check on the file as given, and a row it flags (out of kind, or a lens-finding finder's unconfirmed 'lens') is
never 'familiar'."""

from __future__ import annotations

import csv
import io
import json

import kind_examples as ke
import numpy as np
import pytest
import torch
from astropy.io import fits

from core.analysis.evaluate import BatchEvaluation, kind_checks, kind_columns
from core.analysis.kind import check_kind

torch.set_num_threads(1)

FINDER_CFG = {"image_size": 33, "channels": (2, 4, 4), "hidden": 8, "n_classes": 2}


def _fits(path, image: np.ndarray, **cards) -> None:
    hdu = fits.PrimaryHDU(np.asarray(image, np.float32))
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.writeto(path)


def _wcs_cards(scale_arcsec: float, shape) -> dict:
    return {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": shape[1] / 2, "CRPIX2": shape[0] / 2,
            "CRVAL1": 150.0, "CRVAL2": 2.0, "CDELT1": -scale_arcsec / 3600, "CDELT2": scale_arcsec / 3600,
            "CUNIT1": "deg", "CUNIT2": "deg"}


@pytest.fixture(scope="module")
def sky_set(tmp_path_factory):
    """A tiny sky-trained finder and a labelled folder: sky lenses and non-lenses, a velocity map filed as a lens, and
    a galaxy with a WCS (resampled by evaluate) whose header says km/s (a velocity map, read from the file as given)."""
    from core.checkpoints import save_checkpoint
    from core.models.registry import build_model

    root = tmp_path_factory.mktemp("kind_evaluate")
    torch.manual_seed(0)
    model = build_model("cnn_classifier", FINDER_CFG).eval()
    ckpt = save_checkpoint(root / "finder-sky.pt", model_name="cnn_classifier", config=FINDER_CFG,
                           state_dict=model.state_dict(), metrics={}, data_manifest={"generator": "sky", "size": 64},
                           command="test", history={}, classes=["lens", "nonlens"])
    data = root / "data"
    for label in ("lens", "nonlens"):
        (data / label).mkdir(parents=True)
        for i in range(2):
            np.save(data / label / f"sky{i}.npy", ke.sky(i, label).astype(np.float32))
    np.save(data / "lens" / "velocity.npy", ke.velocity(1).astype(np.float32))
    galaxy = np.kron(ke.galaxy(0, "spiral")[:64, :64], np.ones((2, 2), np.float32))  # 0.05″ pixels: resampled
    _fits(data / "nonlens" / "moment1.fits", galaxy, BUNIT="km/s", **_wcs_cards(0.05, galaxy.shape))
    return {"checkpoint": ckpt, "data": data, "root": root}


def test_evaluate_gives_every_file_its_kind_and_never_calls_a_flagged_row_familiar(sky_set, capsys, tmp_path):
    from core.cli import main

    out = tmp_path / "rows.csv"
    assert main(["evaluate", "--checkpoint", str(sky_set["checkpoint"]), "--data", str(sky_set["data"]),
                 "--reference", str(sky_set["data"]), "--csv", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind_flagged"] == 2
    assert "2 of 6 files flagged by the kind check (out of kind: 2): never counted familiar" in result["notes"]
    assert any("put on the model's grid" in n for n in result["notes"])  # the FITS was resampled...
    rows = {r["file"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    moment1 = rows["nonlens/moment1.fits"]
    assert moment1["kind"] == "velocity" and float(moment1["kind_p"]) == 1.0  # ...but judged on the file as given
    for name in ("nonlens/moment1.fits", "lens/velocity.npy"):
        assert rows[name]["kind_flag"] == "out of kind" and rows[name]["familiar"] == "False"
    for name in ("lens/sky0.npy", "lens/sky1.npy", "nonlens/sky0.npy", "nonlens/sky1.npy"):
        assert rows[name]["kind"] in ("galaxy", "lens") and rows[name]["kind_flag"] == ""
        assert rows[name]["familiar"] == "True"  # in its own reference set: only the kind check could say otherwise


def test_without_per_file_rows_evaluate_skips_the_kind_check(sky_set, capsys):
    from core.cli import main

    assert main(["evaluate", "--checkpoint", str(sky_set["checkpoint"]), "--data", str(sky_set["data"]), "--json"]) == 0
    assert "kind_flagged" not in json.loads(capsys.readouterr().out)


def test_a_finders_answer_is_judged_as_on_the_pages():
    """A lens-finding finder's 'lens' on a galaxy is not confirmed; a sky finder's stands; a lens-only classifier's
    answer on a galaxy is out of kind."""
    galaxy = check_kind(ke.galaxy(0, "elliptical"))
    assert galaxy.kind == "galaxy"

    def rows_for(data: str, predicted: str):
        rows = [{"file": "a.npy", "predicted": predicted, "familiar": True}]
        result = BatchEvaluation("classifier", {}, rows, ["a.npy"], kinds=[galaxy])
        kind_columns(result, data)
        return rows[0], result.metrics

    row, metrics = rows_for("lensfinding", "lens")
    assert row["kind_flag"] == "lens not confirmed" and row["familiar"] is False and metrics["kind_flagged"] == 1
    row, metrics = rows_for("sky", "lens")
    assert row["kind_flag"] is None and row["familiar"] is True and metrics["kind_flagged"] == 0
    assert rows_for("lensfinding", "nonlens")[0]["familiar"] is True
    assert rows_for("lenses", "cdm")[0]["kind_flag"] == "out of kind"
    assert rows_for(None, "cdm")[0]["kind_flag"] is None  # a run on uploads: its own training images judge it


def test_an_unreadable_file_gets_the_check_on_its_label(tmp_path):
    (tmp_path / "cdm").mkdir()
    (tmp_path / "cdm" / "broken.npy").write_bytes(b"not an array")
    (check,) = kind_checks(tmp_path)
    assert check.kind == "lens" and check.source == "label"


def test_the_batch_page_flags_out_of_kind_rows(app, downloads):  # noqa: F811
    """A disk autoencoder on a labelled zip of lenses: every row out of kind, none familiar, one warning."""
    import pandas as pd
    from test_pages import lens_zip, open_page

    at = open_page(app, "pages/batch.py")
    raw = lens_zip({"no": "no_sub", "sphere": "cdm"}, n_per_class=2)
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    at.selectbox(key="batch_model").set_value("disks-ae-equivariant").run()
    assert not at.exception
    assert any(w.value.startswith("4 of 4 images are flagged by the kind check") for w in at.warning)
    table = pd.read_csv(io.BytesIO(downloads[at.get("download_button")[0].proto.url]))
    assert set(table["kind"]) == {"lens"} and set(table["kind_flag"]) == {"out of kind"}
    assert not table["familiar"].any()
    at.selectbox(key="batch_model").set_value("lenses-classifier-equivariant").run()  # in kind: no kind warning
    assert not any("kind check" in w.value for w in at.warning)


from test_pages import app, downloads, tiny_index  # noqa: E402, F401  (fixtures)
