"""Deploy as hosts deploy: one `pip install -r requirements.txt` in a fresh virtual environment, then the app.

Streamlit Community Cloud and Hugging Face Spaces install `packages.txt` with apt (gfortran, which
builds escnn's py3nj) and then run exactly `pip install -r requirements.txt`. This test does the
same in an empty venv and checks that the result imports and serves the app: escnn with py3nj,
an equivariant convolution, and app.py rendered by AppTest.

It takes minutes (every package downloaded or copied, py3nj compiled), so it runs when CI=true
(`.ci/run`, after installing packages.txt) or EQUISCOPE_DEPLOY_TEST=1, and skips with the reason
when the package index cannot be reached or no Fortran compiler is installed. The pip log goes to
test-artifacts/deploy-pip.log.
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
    import math, sys
    import escnn, py3nj, torch
    from core.escnn_setup import enn, make_gspace
    assert abs(py3nj.wigner3j(2, 2, 0, 0, 0, 0) + 1 / math.sqrt(3)) < 1e-9  # (1 1 0; 0 0 0) = -1/sqrt(3)
    gs = make_gspace("C4")
    field = enn.FieldType(gs, [gs.regular_repr])
    conv = enn.R2Conv(enn.FieldType(gs, [gs.trivial_repr]), field, kernel_size=3)
    x = enn.GeometricTensor(torch.randn(1, 1, 9, 9), conv.in_type)
    assert conv(x).tensor.shape == (1, 4, 7, 7)
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("app.py", default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    print("app:", [t.value for t in at.title], "escnn", escnn.__version__ if hasattr(escnn, "__version__") else "")
''')


def _enabled() -> bool:
    return any(os.environ.get(name, "").strip().lower() in TRUE for name in ("CI", "EQUISCOPE_DEPLOY_TEST"))


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 600)
def test_one_pip_install_of_requirements_serves_the_app(tmp_path):
    if not _enabled():
        pytest.skip("the fresh-venv install takes minutes: runs under CI=true (.ci/run) or EQUISCOPE_DEPLOY_TEST=1")
    if shutil.which("gfortran") is None:
        pytest.skip("no Fortran compiler to build escnn's py3nj: apt-get install gfortran (packages.txt)")
    index = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "py3nj"], capture_output=True,
                           text=True, timeout=120)
    if index.returncode != 0:
        pytest.skip(f"the package index cannot be reached (no network?): {index.stderr.strip()[-300:]}")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    log_path = TEST_ARTIFACTS_DIR / "deploy-pip.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:  # the exact command a host runs, from the repository root
        install = subprocess.run([python, "-m", "pip", "install", "-r", "requirements.txt"], cwd=ROOT,
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
