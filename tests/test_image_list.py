"""The session's image list (ui/image_list.py) in AppTest: uploads, zips, the sidebar, the cap, page switches.

Guards against: several uploads all marked current, leaving the Data page forgetting the uploads,
a cap that counts every upload ever, same-named files from different folders, a long FITS header,
a list of 120 px per image with no filter or sort, an upload message that gave the upload's count as
the list's.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from conftest import ROOT, npy_bytes, zip_of
from streamlit.testing.v1 import AppTest

from core.errors import InputError
from core.io.zip_images import zip_images
from core.settings import settings

TIMEOUT = 120
RNG = np.random.default_rng(14)


def fits_bytes(data: np.ndarray, **cards) -> bytes:
    hdu = fits.PrimaryHDU(np.asarray(data, dtype=np.float32))
    for key, value in cards.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def upload(name: str, raw: bytes) -> tuple[str, bytes, str]:
    return (name, raw, "application/octet-stream")


def new_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(autouse=True)
def _app_py_every_run(app_script_every_run):
    """The sidebar list is drawn by app.py: run it on every AppTest run (conftest.app_script_every_run)."""


@pytest.fixture
def app() -> AppTest:
    return new_app()


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setenv("EQUISCOPE_MAX_FILES", "2")
    settings.cache_clear()
    yield 2
    monkeypatch.delenv("EQUISCOPE_MAX_FILES")
    settings.cache_clear()


def entries(at: AppTest) -> list:
    return list(at.session_state["image_list"]) if "image_list" in at.session_state else []


def current_name(at: AppTest) -> str | None:
    return at.session_state["current_image"]["name"] if "current_image" in at.session_state else None


def list_table(at: AppTest):
    """The sidebar's image table (a DataFrame: "" current mark, image, name, label[, prediction, ✓], kind)."""
    (table,) = [d for d in at.sidebar.dataframe if (d.key or "").startswith("imglist-table-")]
    return table


def shown_names(at: AppTest) -> list[str]:
    return list(list_table(at).value["name"])


def open_row(at: AppTest, name: str) -> AppTest:
    """One click on the name of the row showing `name` (the browser sends the table's cell selection, then the
    app reruns)."""
    table = list_table(at)
    row = shown_names(at).index(name)
    at.session_state[table.key] = {"selection": {"rows": [], "columns": [], "cells": [[row, "name"]]}}
    return at.run()


def marked(at: AppTest) -> list[str]:
    """The names of the rows marked current (●)."""
    frame = list_table(at).value
    return list(frame["name"][frame[""] == "●"])


def current_buttons(at: AppTest) -> list:
    return [b for b in at.button if b.label == "Current image ✓"]


def upload_files(at: AppTest, *files) -> AppTest:
    return at.file_uploader[0].set_value(list(files)).run()


A, B, C = (upload(f"{n}.fits", fits_bytes(RNG.normal(size=(16, 18)) + k)) for k, n in enumerate("abc"))


def test_three_uploads_at_once_make_one_current_image(app):
    """Regression: uploading 3 files at once marked every panel "Current image ✓"."""
    upload_files(app, A, B, C)
    assert not app.exception and not app.error
    assert [e.name for e in entries(app)] == ["a.fits", "b.fits", "c.fits"]
    assert current_name(app) == "a.fits"
    assert len(current_buttons(app)) == 1
    assert shown_names(app) == ["a.fits", "b.fits", "c.fits"] and marked(app) == ["a.fits"]
    assert len(app.file_uploader[0].value or []) == 0  # the uploader is emptied: the list holds the files


def test_one_click_in_the_list_makes_an_image_current_and_remove_frees_it(app):
    upload_files(app, A, B)
    open_row(app, "b.fits")
    assert current_name(app) == "b.fits" and "**b\\.fits**" in "\n".join(m.value for m in app.markdown)
    assert marked(app) == ["b.fits"]
    open_row(app, "a.fits")  # every click opens its row (the table's selection is cleared after each)
    open_row(app, "b.fits")
    assert current_name(app) == "b.fits"
    app.sidebar.button(key="imglist-remove").click().run()
    assert [e.name for e in entries(app)] == ["a.fits"] and current_name(app) == "a.fits"


def test_the_list_survives_leaving_the_data_page(app):
    """Regression: leaving the Data page and coming back emptied the uploader and lost the images."""
    upload_files(app, A, B)
    app.switch_page("pages/train.py").run()
    assert not app.exception
    assert shown_names(app) == ["a.fits", "b.fits"]  # the sidebar on another page
    open_row(app, "b.fits")
    assert current_name(app) == "b.fits"
    app.switch_page("pages/data.py").run()
    assert not app.exception
    assert "**b\\.fits**" in "\n".join(m.value for m in app.markdown)  # shown again, no re-upload
    assert len(entries(app)) == 2 and current_name(app) == "b.fits"


def test_the_cap_counts_what_is_in_the_list(small_cap):
    """Regression: the cap counted every upload ever made; removing files did not free it."""
    at = new_app()
    upload_files(at, A, B, C)
    assert [e.value for e in at.error] == [
        "c\\.fits not added: the image list holds 2 images, the limit of this session; remove some "
        "(✕ in the sidebar) to make room, then upload again."
    ]
    assert [e.name for e in entries(at)] == ["a.fits", "b.fits"] and current_name(at) == "a.fits"
    at.sidebar.button(key="imglist-remove").click().run()  # a, the current image
    upload_files(at, C)
    assert not at.error, [e.value for e in at.error]
    assert [e.name for e in entries(at)] == ["b.fits", "c.fits"] and current_name(at) == "c.fits"


def test_use_this_image_refused_when_the_list_is_full_keeps_the_current_image(small_cap):
    at = new_app()
    upload_files(at, A, B)
    at.session_state["data_tab"] = "Simulate"
    at.run()
    at.button(key="sim-disk-use").click().run()
    assert any("not added: the image list holds 2 images" in e.value.replace("\\", "") for e in at.error)
    assert current_name(at) == "a.fits" and len(entries(at)) == 2


def test_same_names_from_different_zip_folders_are_told_apart_and_labelled(app):
    """Regression: `no_sub/000.npy` and `cdm/000.npy` were indistinguishable."""
    archive = zip_of({
        "lenses/no/000.npy": npy_bytes(RNG.normal(size=(12, 12))),
        "lenses/sphere/000.npy": npy_bytes(RNG.normal(size=(12, 12))),
        "lenses/vort/000.npy": npy_bytes(RNG.normal(size=(12, 12))),
        "lenses/README.txt": b"three classes",
        "__MACOSX/lenses/no/._000.npy": b"resource fork",
    })  # fmt: skip
    upload_files(app, upload("deeplense.zip", archive))
    assert not app.exception and not app.error, [e.value for e in app.error]
    got = [(e.name, e.label, e.kind) for e in entries(app)]
    assert got == [
        ("deeplense.zip/lenses/no/000.npy", "no_sub", "lens"),
        ("deeplense.zip/lenses/sphere/000.npy", "cdm", "lens"),
        ("deeplense.zip/lenses/vort/000.npy", "vortex", "lens"),
    ]
    frame = list_table(app).value  # the file with its class folder, kind and label; the first one current
    assert list(frame["name"]) == ["no/000.npy", "sphere/000.npy", "vort/000.npy"]
    assert list(frame["label"]) == ["no_sub", "cdm", "vortex"] and set(frame["kind"]) == {"lens"}
    assert list(frame[""]) == ["●", "", ""]
    assert all(url.startswith("data:image/png;base64,") for url in frame["image"])


def test_files_of_a_folder_upload_keep_their_folder_and_label(app):
    """A folder upload (accept_multiple_files="directory") names each file by its path in the folder."""
    assert app.file_uploader[1].proto.multiple_files and "folder" in app.expander[0].label
    upload_files(app, upload("lenses/cdm/000.npy", npy_bytes(RNG.normal(size=(8, 8)))),
                 upload("lenses/vortex/000.npy", npy_bytes(RNG.normal(size=(8, 8)))))
    assert [(e.name, e.label) for e in entries(app)] == [("lenses/cdm/000.npy", "cdm"), ("lenses/vortex/000.npy", "vortex")]


def test_same_file_name_uploaded_twice_with_other_pixels_gets_a_distinct_name(app):
    upload_files(app, upload("000.npy", npy_bytes(RNG.normal(size=(8, 8)))))
    upload_files(app, upload("000.npy", npy_bytes(RNG.normal(size=(8, 8)))))
    assert [e.name for e in entries(app)] == ["000.npy", "000 (2).npy"]
    upload_files(app, upload("000.npy", entries(app)[0].raw or npy_bytes(entries(app)[0].loaded.data)))
    assert len(entries(app)) == 2  # the very same file again: found, not added twice


def test_long_header_is_collapsed_and_searchable(app):
    """Regression: a 274-card header was a 12 000-px table with no search."""
    cards = {f"KEY{k:04d}": k for k in range(270)}
    upload_files(app, upload("long.fits", fits_bytes(RNG.normal(size=(10, 10)), BMAJ=1e-5, **cards)))
    key = f"up-{entries(app)[0].id}-header-q"

    def header():
        (expander,) = [e for e in app.expander if e.label.startswith("FITS header") and key in
                       [t.key for t in e.text_input]]
        return expander

    expander = header()
    n = int(expander.label.split("(")[1].split()[0])
    assert n >= 274 and not expander.proto.expanded
    expander.text_input(key=key).set_value("bmaj").run()
    expander = header()
    table = "\n".join(m.value for m in expander.markdown)
    assert "BMAJ" in table and "KEY0001" not in table
    assert any(f"1 of {n} cards match" in c.value for c in expander.caption)


def test_zip_reader_refuses_clearly():
    with pytest.raises(InputError, match="not a readable zip archive"):
        zip_images(b"not a zip", "x.zip")
    with pytest.raises(InputError, match="holds no image files"):
        zip_images(zip_of({"notes.txt": b"hi"}), "x.zip")
    with pytest.raises(InputError, match="more than the limit"):
        zip_images(zip_of({"a.npy": npy_bytes(np.zeros((64, 64)))}), "x.zip", max_bytes=1000)


def upload_bytes_held(root) -> int:
    """Bytes of uploaded files reachable from `root`: bytes, bytearrays and file objects (an UploadedFile
    is a BytesIO), following containers, objects and bound methods but not modules, classes or functions."""
    import gc
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, types.FrameType)
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        if isinstance(obj, (bytes, bytearray)):
            total += len(obj)
        elif isinstance(obj, io.BytesIO):
            total += obj.getbuffer().nbytes
        else:
            stack.extend(gc.get_referents(obj))
    return total


def test_a_burst_of_uploads_leaves_no_upload_bytes_beyond_the_list(monkeypatch):
    """Regression: ten 33.5 MB uploads held +417 MB for a 128 MB list until the session ended: Streamlit's
    file store kept every uploaded file although the list had read it (and refused some).

    AppTest gives each run its own file store (a server keeps one per session for the session's life):
    after each run, the store must hold nothing, and the session only the bytes its list counts."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    from ui import image_list

    stores = []
    init = MemoryUploadedFileManager.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        stores.append(self)

    monkeypatch.setattr(MemoryUploadedFileManager, "__init__", recording)
    budget = 600_000  # bytes of pixels (and of re-readable files) the list may keep
    monkeypatch.setattr(image_list, "MAX_LIST_BYTES", budget)
    at = new_app()
    sent = 0
    for burst in range(4):
        members = {f"lenses/cdm/{k}.npy": npy_bytes(RNG.normal(size=(64, 64))) for k in range(3)}
        files = [upload(f"b{burst}_{k}.npy", npy_bytes(RNG.normal(size=(128, 128)))) for k in range(5)]
        files += [upload(f"cube{burst}.fits", fits_bytes(RNG.normal(size=(3, 64, 64)))),  # the list keeps its file
                  upload(f"z{burst}.zip", zip_of(members))]
        sent += sum(len(raw) for _, raw, _ in files)
        upload_files(at, *files)
        assert not at.exception
        assert [s._total_bytes for s in stores] == [0] * len(stores), "uploaded bytes left in Streamlit's file store"
    kept = entries(at)
    assert any("would hold more than" in e.value for e in at.error)  # the budget refused some: their bytes went too
    raw = sum(len(e.raw) for e in kept if e.raw)
    assert raw > 0 and sum(e.nbytes for e in kept) <= budget < sent
    held = upload_bytes_held(at.session_state._state)
    assert raw <= held <= raw + 4096, (held, raw)  # the files the list counts, nothing more


# ------------------------------------------------------------------ a compact, filterable list (issue 25, item 6)


def lens_zip_upload(n_per_class: int = 2) -> tuple[str, bytes, str]:
    """A zip of DeepLense class folders; class k's images have mean k (a fake classifier reads it back)."""
    members = {f"set/{folder}/{i}.npy": npy_bytes(k + 0.1 * RNG.normal(size=(12, 12)))
               for k, folder in enumerate(("no", "sphere", "vort")) for i in range(n_per_class)}
    return upload("set.zip", zip_of(members))


def test_after_an_upload_the_page_counts_the_whole_list(app):
    """Regression: with one image in the list, uploading four said "4 images in the list" while it held 5."""
    app.session_state["data_tab"] = "Simulate"
    app.run()
    app.button(key="sim-disk-use").click().run()
    assert len(entries(app)) == 1
    app.session_state["data_tab"] = "Upload"
    app.run()
    upload_files(app, *(upload(f"u{k}.npy", npy_bytes(RNG.normal(size=(10, 10)))) for k in range(4)))
    assert len(entries(app)) == 5
    said = [c.value for c in app.caption if "added" in c.value]
    assert said and said[0].startswith("4 images added; the list holds 5 images."), said
    assert "**Images** (5 of" in app.sidebar.markdown[0].value and len(shown_names(app)) == 5
    upload_files(app, upload("u0.npy", entries(app)[1].raw or npy_bytes(entries(app)[1].loaded.data)),
                 upload("u9.npy", npy_bytes(RNG.normal(size=(10, 10)))))
    said = [c.value for c in app.caption if "added" in c.value]
    assert said[0].startswith("1 image added, 1 already in the list; the list holds 6 images."), said


def test_the_list_filters_and_sorts_and_a_filtered_row_opens_its_image(app):
    upload_files(app, A, lens_zip_upload())
    assert len(entries(app)) == 7 and len(shown_names(app)) == 7
    app.sidebar.multiselect(key="imglist-labels").set_value(["cdm"]).run()
    assert shown_names(app) == ["sphere/0.npy", "sphere/1.npy"]  # only the filtered entries
    assert "2 of 7 images match." in [c.value for c in app.sidebar.caption]
    open_row(app, "sphere/1.npy")  # a row of the filtered table opens that very image
    assert current_name(app) == "set.zip/set/sphere/1.npy" and marked(app) == ["sphere/1.npy"]
    app.sidebar.multiselect(key="imglist-labels").set_value(["no label"]).run()
    assert shown_names(app) == ["a.fits"]
    app.sidebar.multiselect(key="imglist-labels").set_value([]).run()
    app.sidebar.multiselect(key="imglist-kinds").set_value(["lens"]).run()
    app.sidebar.text_input(key="imglist-find").set_value("/0.npy").run()
    assert shown_names(app) == ["no/0.npy", "sphere/0.npy", "vort/0.npy"]
    app.sidebar.selectbox(key="imglist-sort").set_value("label").run()
    assert list(list_table(app).value["label"]) == ["cdm", "no_sub", "vortex"]


def test_the_list_filters_by_a_classifiers_prediction_and_by_right_or_wrong(app, monkeypatch):
    """A classifier answers for the list's lenses once; the table shows each answer and whether it matches the
    label, and filters on both. A stand-in answers (the image's mean as the class index) so that which answer
    is wrong is known: the last vortex image has the mean of a cdm one."""
    import ui.inference as inference

    calls = []

    def answer(name, sha256, image):
        calls.append(name)
        probs = np.full(3, 0.1)
        probs[int(np.clip(round(float(np.mean(image))), 0, 2))] = 0.8
        return probs

    members = {f"set/{folder}/{i}.npy": npy_bytes(k + 0.1 * RNG.normal(size=(12, 12)))
               for k, folder in enumerate(("no", "sphere", "vort")) for i in range(2)}
    members["set/vort/1.npy"] = npy_bytes(1 + 0.1 * RNG.normal(size=(12, 12)))
    upload_files(app, upload("set.zip", zip_of(members)))
    monkeypatch.setattr(inference, "class_probabilities", answer)  # a lens model is given the image itself
    app.sidebar.selectbox(key="imglist-predict").set_value("lenses-classifier-cnn").run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(calls) == 6
    frame = list_table(app).value
    assert list(frame["prediction"]) == ["no_sub 0.80"] * 2 + ["cdm 0.80"] * 2 + ["vortex 0.80", "cdm 0.80"]
    assert list(frame["✓"]) == ["✓"] * 5 + ["✗"]
    app.sidebar.pills(key="imglist-verdict").set_value(["wrong"]).run()
    assert shown_names(app) == ["vort/1.npy"]
    app.sidebar.pills(key="imglist-verdict").set_value([]).run()
    app.sidebar.multiselect(key="imglist-preds").set_value(["cdm"]).run()
    assert shown_names(app) == ["sphere/0.npy", "sphere/1.npy", "vort/1.npy"]
    app.sidebar.selectbox(key="imglist-sort").set_value("wrong first").run()
    assert shown_names(app) == ["vort/1.npy", "sphere/0.npy", "sphere/1.npy"]
    assert len(calls) == 6  # answered once: filtering and sorting only redraw
