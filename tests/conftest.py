import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def realdata():
    """`realdata("disks/x.fits")`: the path of a real third-party file, or the test is skipped.

    The folder (not part of the repository) is the benchmarks' (bench/_realdata.py: $EQUISCOPE_REALDATA),
    or else `../shared/realdata` beside the repository. The skip reason, shown by `pytest -ra`,
    names the missing file and how to provide it.
    """
    from bench._realdata import ENV, SIBLING, realdata_dir

    raw = os.environ.get(ENV)
    folder = realdata_dir(default=SIBLING)

    def find(relative: str) -> Path:
        path = folder / relative
        if not path.exists():
            where = f"{ENV}={raw}" if raw else f"{ENV} is unset and ../shared/realdata beside the repository"
            pytest.skip(f"real third-party file {relative} is missing ({where} has none): "
                        f"set {ENV} to a folder holding {relative} to run this test")
        return path

    return find


@pytest.fixture
def app_script_every_run(monkeypatch):
    """Make AppTest run app.py on every run, as a real server does.

    AppTest resets `PagesManager.uses_pages_directory` before each run; with a pages/ folder beside
    app.py, Streamlit then runs a page's file directly on reruns, without app.py (no sidebar image list,
    no shared-link handling). A server sets the flag once, when app.py first calls st.navigation.
    """
    import runpy

    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.setattr(script_runner, "_mpa_v1", lambda path: runpy.run_path(path, run_name="__main__"))


def npy_bytes(array) -> bytes:
    """An array as the bytes of a .npy file (float32)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float32))
    return buf.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    """A zip archive (bytes) holding `files` ({path inside the archive: bytes})."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, raw in files.items():
            z.writestr(path, raw)
    return buf.getvalue()
