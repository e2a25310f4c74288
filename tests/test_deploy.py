"""Deploy as hosts deploy: one `pip install -r requirements.txt` in a fresh virtual environment, then the app.

Streamlit Community Cloud and Hugging Face Spaces run exactly `pip install -r requirements.txt`.
This test does the same in an empty venv, with every Fortran compiler hidden from PATH (the
install must need none: escnn's py3nj is an empty local stand-in), and checks that the result
serves: py3nj is not importable (nothing was compiled), escnn builds an equivariant convolution,
a shipped D8 checkpoint classifies an image, and app.py renders in AppTest.

It takes minutes (every package downloaded or copied), so it runs when CI=true (`.ci/run`) or
EQUISCOPE_DEPLOY_TEST=1, and skips with the reason when the package index cannot be reached.
The pip log goes to test-artifacts/deploy-pip.log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from core.paths import TEST_ARTIFACTS_DIR

TRUE = {"1", "true", "yes", "on"}
INSTALL_TIMEOUT_S = 2400

pytestmark = pytest.mark.deploy

CHECK = textwrap.dedent('''
    import importlib.util
    import escnn, torch
    from core.escnn_setup import enn, make_gspace
    assert importlib.util.find_spec("py3nj") is None, "py3nj was compiled"
    gs = make_gspace("C4")
    field = enn.FieldType(gs, [gs.regular_repr])
    conv = enn.R2Conv(enn.FieldType(gs, [gs.trivial_repr]), field, kernel_size=3)
    x = enn.GeometricTensor(torch.randn(1, 1, 9, 9), conv.in_type)
    assert conv(x).tensor.shape == (1, 4, 7, 7)
    from core.checkpoints import load_model
    served = load_model("lenses-classifier-equivariant")
    assert served.model(torch.rand(1, 1, served.image_size, served.image_size)).shape == (1, 3)
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("app.py", default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    print("app:", [t.value for t in at.title], "escnn", escnn.__version__ if hasattr(escnn, "__version__") else "")
''')


def _path_without_fortran(shim: os.PathLike) -> str:
    """A PATH of one folder linking every program on PATH but Fortran compilers."""
    os.makedirs(shim, exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = os.path.join(shim, name)
            if "fortran" in name or name in ("f77", "f90", "f95") or os.path.lexists(target):
                continue
            os.symlink(os.path.join(folder, name), target)
    assert shutil.which("gfortran", path=str(shim)) is None
    return str(shim)


def _enabled() -> bool:
    return any(os.environ.get(name, "").strip().lower() in TRUE for name in ("CI", "EQUISCOPE_DEPLOY_TEST"))


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 600)
def test_one_pip_install_of_requirements_serves_the_app(tmp_path):
    if not _enabled():
        pytest.skip("the fresh-venv install takes minutes: runs under CI=true (.ci/run) or EQUISCOPE_DEPLOY_TEST=1")
    index = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "escnn"], capture_output=True,
                           text=True, timeout=120)
    if index.returncode != 0:
        pytest.skip(f"the package index cannot be reached (no network?): {index.stderr.strip()[-300:]}")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    log_path = TEST_ARTIFACTS_DIR / "deploy-pip.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    no_fortran = {**os.environ, "PATH": _path_without_fortran(tmp_path / "bin"), "FC": ""}
    with open(log_path, "w") as log:  # the exact command a host runs, from the repository root
        install = subprocess.run([python, "-m", "pip", "install", "-r", "requirements.txt"], cwd=ROOT, env=no_fortran,
                                 stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S)
    tail = log_path.read_text()[-3000:]
    assert install.returncode == 0, f"pip install -r requirements.txt failed:\n{tail}"
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, f"pip check: {check.stdout}{check.stderr}"

    env = {**os.environ, "OMP_NUM_THREADS": "1", "EQUISCOPE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    env.pop("EQUISCOPE_HOSTED", None)
    run = subprocess.run([python, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"the fresh install does not serve the app:\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
    assert "app: ['Data']" in run.stdout
