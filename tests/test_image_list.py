"""The session's image list (ui/image_list.py) in AppTest: uploads, zips, the sidebar, the cap, page switches.

Guards against: several uploads all marked current, leaving the Data page forgetting the uploads,
a cap that counts every upload ever, same-named files from different folders, a long FITS header.
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


def list_buttons(at: AppTest) -> list:
    return [b for b in at.sidebar.button if b.key.startswith("imglist-use-")]


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
    primary = [b for b in list_buttons(app) if b.proto.type == "primary"]
    assert [b.label for b in primary] == ["a\\.fits"]
    assert len(app.file_uploader[0].value or []) == 0  # the uploader is emptied: the list holds the files


def test_one_click_in_the_sidebar_makes_an_image_current_and_remove_frees_it(app):
    upload_files(app, A, B)
    second = next(b for b in list_buttons(app) if b.label == "b\\.fits")
    second.click().run()
    assert current_name(app) == "b.fits" and "**b\\.fits**" in "\n".join(m.value for m in app.markdown)
    app.sidebar.button(key=second.key.replace("-use-", "-remove-")).click().run()
    assert [e.name for e in entries(app)] == ["a.fits"] and current_name(app) == "a.fits"


def test_the_list_survives_leaving_the_data_page(app):
    """Regression: leaving the Data page and coming back emptied the uploader and lost the images."""
    upload_files(app, A, B)
    app.switch_page("pages/train.py").run()
    assert not app.exception
    assert [b.label for b in list_buttons(app)] == ["a\\.fits", "b\\.fits"]  # the sidebar on another page
    next(b for b in list_buttons(app) if b.label == "b\\.fits").click().run()
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
    at.sidebar.button(key=f"imglist-remove-{entries(at)[0].id}").click().run()
    upload_files(at, C)
    assert not at.error, [e.value for e in at.error]
    assert [e.name for e in entries(at)] == ["b.fits", "c.fits"] and current_name(at) == "c.fits"


def test_use_this_image_refused_when_the_list_is_full_keeps_the_current_image(small_cap):
    at = new_app()
    upload_files(at, A, B)
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
    assert [b.label for b in list_buttons(app)] == ["000\\.npy"] * 3  # the file name, then where it lies:
    captions = [c.value.replace("\\", "") for c in app.sidebar.caption if not c.value.startswith("Share this view")]
    assert [c.split(" · ")[0] for c in captions] == ["✓ current", "in deeplense.zip/lenses/sphere", "in deeplense.zip/lenses/vort"]
    assert captions[0].startswith("✓ current · in deeplense.zip/lenses/no · lens · class no_sub")


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
