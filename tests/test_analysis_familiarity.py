"""core.analysis.familiarity (honest answers), core.data.dataset_zip (labelled zips), core.analysis.pca_map,
and the per-file path of core.analysis.evaluate shared by the CLI and the Batch evaluation page."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import npy_bytes, zip_of

from core.analysis.familiarity import (
    OUTSIDE_PERCENTILE,
    FamiliarityReference,
    answer_notes,
    disagreement,
    kind_note,
)
from core.analysis.pca_map import PCAMap
from core.data.dataset_zip import unpack_dataset_zip
from core.errors import InputError
from tests.analysis_fixtures import tiny_dataset, tiny_loaded

torch.set_num_threads(1)


def test_percentile_of_a_reference_like_input_is_ordinary_and_a_far_one_is_flagged():
    rng = np.random.default_rng(0)
    z_ref = rng.normal(size=(200, 8)) * np.array([1, 1, 1, 1, 10, 10, 10, 10])  # unequal scales: standardised
    ref = FamiliarityReference.fit(z_ref)
    typical = ref.score(rng.normal(size=(200, 8)) * np.array([1, 1, 1, 1, 10, 10, 10, 10]))
    share = np.mean([f.percentile for f in typical])
    assert 30 < share < 70 and np.mean([f.familiar for f in typical]) > 0.9
    far = ref.score(np.full((1, 8), 8.0) * np.array([1, 1, 1, 1, 10, 10, 10, 10]))[0]
    assert far.percentile == 100.0 and not far.familiar
    notes = answer_notes(far)
    assert notes[0].level == "warning" and "unlike anything the model was trained on" in notes[0].text
    assert answer_notes(typical[0])[0].level == "info" or not typical[0].familiar
    assert OUTSIDE_PERCENTILE == 99.0


def test_familiarity_refuses_bad_references():
    with pytest.raises(InputError):
        FamiliarityReference.fit(np.zeros((2, 4)))
    ref = FamiliarityReference.fit(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(InputError, match="4"):
        ref.score(np.zeros((1, 3)))


def test_disagreement_needs_two_confident_different_answers():
    classes = ["no_sub", "cdm", "vortex"]
    assert disagreement([0.98, 0.01, 0.01], [0.01, 0.01, 0.98], classes, ("eq", "cnn")).level == "warning"
    assert disagreement([0.98, 0.01, 0.01], [0.97, 0.02, 0.01], classes, ("eq", "cnn")) is None  # same class
    assert disagreement([0.5, 0.4, 0.1], [0.01, 0.01, 0.98], classes, ("eq", "cnn")) is None  # one unsure


def test_kind_note_only_for_a_known_other_kind():
    assert kind_note("lens", "disks").level == "warning"
    assert kind_note("disk", "disks") is None and kind_note(None, "lenses") is None


def test_pca_map_places_the_reference_exactly_and_explains_the_variance():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 6)) * np.array([5, 2, 0.1, 0.1, 0.1, 0.1])
    pca = PCAMap(z)
    np.testing.assert_allclose(pca.place(z), pca.coords)
    assert pca.explained[0] > 0.8 and pca.explained.sum() <= 1.0
    assert np.std(pca.coords[:, 0]) == pytest.approx(np.std(z[:, 0]), rel=0.05)


def _npy() -> bytes:
    return npy_bytes(np.random.default_rng(0).random((8, 8)))


def test_zip_is_unpacked_safely_into_its_data_set_root(tmp_path):
    raw = zip_of({"set/no/0.npy": _npy(), "set/sphere/0.npy": _npy(), "../escape.npy": _npy(),
                "__MACOSX/set/._0.npy": b"x", "set/.hidden.npy": _npy(), "set/readme.txt": b"hi"})
    root = unpack_dataset_zip(raw, tmp_path / "out")
    assert root == tmp_path / "out" / "set"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == ["no/0.npy", "sphere/0.npy"]
    assert not (tmp_path / "escape.npy").exists()
    single = unpack_dataset_zip(zip_of({"cdm/0.npy": _npy(), "cdm/1.npy": _npy()}), tmp_path / "one")
    assert single == tmp_path / "one"  # a lone class folder stays a class
    with pytest.raises(InputError, match="holds no image files"):
        unpack_dataset_zip(zip_of({"a.txt": b"x"}), tmp_path / "none", "x.zip")
    with pytest.raises(InputError, match="at most 1"):
        unpack_dataset_zip(raw, tmp_path / "many", max_files=1)


def _declared(raw: bytes, sizes: dict[str, int]) -> bytes:
    """The zip with the uncompressed sizes its central directory declares replaced (a zip bomb's lie)."""
    import struct

    data = bytearray(raw)
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:  # central directory entries
        n = struct.unpack_from("<H", data, at + 28)[0]
        name = bytes(data[at + 46: at + 46 + n]).decode()
        if name in sizes:
            struct.pack_into("<I", data, at + 24, sizes[name])
        start = at + 4
    return bytes(data)


@pytest.mark.parametrize("case, match", [
    ("not a zip", "not a readable zip archive"),
    ("zip bomb", "more than the limit"),
    ("nested zip only", "holds no image files"),
    ("climbing paths only", "holds no image files"),
    ("encrypted", "password-protected"),
])
def test_one_zip_reader_refuses_bad_archives_in_one_sentence_before_writing(tmp_path, case, match):
    """core.data.dataset_zip builds on core.io.zip_images.zip_images: the same refusals for the Data page's
    zip upload and the Batch page's data set, and nothing written when the archive is refused."""
    from core.io.zip_images import zip_images

    raw = {"not a zip": b"PK\x03\x04 nothing else",
           "zip bomb": _declared(zip_of({"no/0.npy": _npy()}), {"no/0.npy": 3 * 2**30}),
           "nested zip only": zip_of({"inner.zip": zip_of({"no/0.npy": _npy()})}),
           "climbing paths only": zip_of({"../no/0.npy": _npy(), "a/../../b.npy": _npy()}),
           "encrypted": _declared(zip_of({"no/0.npy": _npy()}), {})}[case]
    if case == "encrypted":  # set the "encrypted" flag bit of the entry, as a password-protected zip has it
        data = bytearray(raw)
        at = data.find(b"PK\x01\x02")
        data[at + 8] |= 0x1
        raw = bytes(data)
    with pytest.raises(InputError, match=match) as caught:
        unpack_dataset_zip(raw, tmp_path / "out", "set.zip")
    message = str(caught.value)
    assert message.startswith("set.zip ") and message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match=match):
        zip_images(raw, "set.zip")


def test_zip_members_with_a_leading_slash_or_backslashes_are_still_read(tmp_path):
    raw = zip_of({"/set/no/0.npy": _npy(), "set\\sphere\\0.npy": _npy()})
    root = unpack_dataset_zip(raw, tmp_path / "out")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.npy")) == ["no/0.npy", "sphere/0.npy"]


def test_evaluate_dataset_rows_match_the_summary_the_cli_prints(tmp_path, capsys):
    from core.analysis.evaluate import evaluate_dataset, rows_csv
    from core.cli import main

    data = tiny_dataset(tmp_path / "data")
    loaded = tiny_loaded(tmp_path, "cnn_ae")
    ref = FamiliarityReference.fit(np.random.default_rng(0).normal(size=(20, 4)))
    result = evaluate_dataset(loaded, data, reference=ref)
    assert result.files[0] == "planets_0/000.npy" and len(result.rows) == 8
    assert np.mean([r["mse"] for r in result.rows]) == pytest.approx(result.metrics["mse"], rel=1e-5)
    assert {"latent_distance", "distance_percentile", "familiar", "label"} <= set(result.rows[0])
    worst = result.worst(3)
    assert result.rows[worst[0]]["mse"] == max(r["mse"] for r in result.rows)
    csv_path = tmp_path / "rows.csv"
    assert main(["evaluate", "--checkpoint", str(loaded.path), "--data", str(data), "--json", "--csv", str(csv_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mse"] == pytest.approx(result.metrics["mse"], rel=1e-5)
    assert csv_path.read_text().splitlines()[0] == "file,label,mse,psnr_db,ssim,ms_ssim,kind,kind_p,kind_flag"  # + kind check
    assert rows_csv(result.rows).count("\n") == 9


def test_misclassified_are_the_wrong_answers_most_confident_first(tmp_path):
    from core.analysis.evaluate import BatchEvaluation

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    result = BatchEvaluation("classifier", {}, [{}] * 4, ["a", "b", "c", "d"], ["x", "y"], np.array([0, 0, 0, 1]), probs)
    assert result.misclassified().tolist() == [1, 3, 2]
