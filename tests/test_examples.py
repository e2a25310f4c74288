"""examples/: the shipped files load, say what they are, and the script regenerates them exactly."""

import json

import numpy as np
import pytest

from core.io import read_image
from core.paths import EXAMPLES_DIR
from examples.make_examples import main

EXAMPLES = EXAMPLES_DIR


def test_shipped_examples_load_with_their_metadata():
    manifest = json.loads((EXAMPLES / "manifest.json").read_text())
    kinds = {}
    for entry in manifest["examples"]:
        img = read_image(EXAMPLES / entry["file"])
        kinds.setdefault(entry["kind"], []).append(entry.get("label"))
        if entry["kind"] == "disk":
            assert img.data.shape == (129, 129) and img.meta.beam is not None
            assert img.meta.pixel_scale_arcsec == pytest.approx(
                entry["params"]["pixel_scale_arcsec"], rel=1e-12
            )
        else:
            assert img.data.shape == (150, 150)
    assert sorted(kinds["lens"]) == ["cdm", "no_sub", "vortex"] and len(kinds["disk"]) == 2


def test_script_regenerates_the_shipped_files(tmp_path):
    """The shipped files are what the current simulators make; if not, regenerate them."""
    from core.data.simulator_versions import SIMULATOR_VERSION

    fix = "run `.venv/bin/python -m examples.make_examples` and commit examples/"
    shipped = json.loads((EXAMPLES / "manifest.json").read_text())["simulator_version"]
    assert shipped == SIMULATOR_VERSION, (
        f"examples/ were made by simulator {shipped}, now {SIMULATOR_VERSION}: {fix}"
    )
    assert main(["--out", str(tmp_path)]) == 0
    for path in EXAMPLES.glob("*.*"):
        if path.suffix in (".fits", ".npy"):
            message = f"{path.name} differs from what the simulators make now (changed without a version bump?): {fix}"
            np.testing.assert_array_equal(
                read_image(tmp_path / path.name).data, read_image(path).data, err_msg=message
            )
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), message
