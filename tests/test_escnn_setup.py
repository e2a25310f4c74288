"""escnn works with the pinned stack, including on a cold kernel-basis cache."""

import subprocess
import sys
import textwrap

import pytest

from core.escnn_setup import make_gspace


def test_d8_conv_builds_on_cold_cache(tmp_path):
    # escnn caches bases with joblib.Memory at a path fixed at import; point it at an
    # empty folder in a fresh interpreter so the cold path (the SVD) really runs.
    code = textwrap.dedent(
        f"""
        import joblib
        _Memory = joblib.Memory
        joblib.Memory = lambda location=None, *a, **k: _Memory({str(tmp_path)!r}, *a, **k)
        import torch
        from core.escnn_setup import enn, make_gspace
        gs = make_gspace("D8")
        t_in = enn.FieldType(gs, [gs.trivial_repr])
        t_out = enn.FieldType(gs, 2 * [gs.regular_repr])
        conv = enn.R2Conv(t_in, t_out, kernel_size=5)
        y = conv(enn.GeometricTensor(torch.randn(1, 1, 9, 9), t_in))
        assert y.tensor.shape == (1, 32, 5, 5), y.tensor.shape
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
    assert any(tmp_path.rglob("*")), "escnn did not write its basis cache to the cold folder"


@pytest.mark.parametrize("name,order", [("C4", 4), ("c8", 8), ("D4", 8), ("D8", 16)])
def test_make_gspace_orders(name, order):
    assert make_gspace(name).fibergroup.order() == order


@pytest.mark.parametrize("bad", ["", "E8", "C", "Dx", "C0", "O2"])
def test_make_gspace_rejects_unknown(bad):
    with pytest.raises(ValueError, match="Unknown group"):
        make_gspace(bad)
