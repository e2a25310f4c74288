"""app.py freezes the objects of imported libraries after a run that imported them (ui.resources.freeze_after_imports),
so Streamlit's full garbage collection after every script run does not walk torch, escnn and plotly each time."""

from __future__ import annotations

import gc
import importlib
import sys

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ui import resources


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    resources._MODULES_SEEN[0] = 0
    yield
    gc.unfreeze()


def test_freezes_only_after_new_imports(unfrozen, tmp_path, monkeypatch):
    assert resources.freeze_after_imports()
    assert gc.get_freeze_count() > 0
    assert not resources.freeze_after_imports()  # nothing imported since: the frozen set stays as it was
    (tmp_path / "eq_gc_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("eq_gc_probe_module")
    try:
        assert resources.freeze_after_imports()
    finally:
        sys.modules.pop("eq_gc_probe_module", None)


def test_an_app_run_freezes_what_it_imported(unfrozen):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert gc.get_freeze_count() > 0
