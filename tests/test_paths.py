"""core/paths.py: default locations come from the repository, not the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core import paths

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, home: Path | None) -> subprocess.CompletedProcess:
    """`python args...` in `cwd` with the repository importable and EQUISCOPE_HOME = home (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "EQUISCOPE_HOME"}
    env["PYTHONPATH"] = str(ROOT)
    if home is not None:
        env["EQUISCOPE_HOME"] = str(home)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_folders_are_found_from_the_package_wherever_python_runs(tmp_path):
    out = _run(["-c", "import json; from core import paths as p; print(json.dumps([str(p.REPO_ROOT), str(p.CHECKPOINTS_DIR), "
                "str(p.RUNS_DIR), str(p.CACHE_DIR), str(p.DATA_DIR), str(p.TEST_ARTIFACTS_DIR)]))"], tmp_path, None)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [str(ROOT), *(str(ROOT / d) for d in ("checkpoints", "runs", "cache", "data", "test-artifacts"))]


def test_cli_default_output_lands_in_the_data_folder_not_the_cwd(tmp_path):
    """`python -m core simulate` without --out, run from another folder, writes under core.paths.DATA_DIR."""
    elsewhere, home = tmp_path / "elsewhere", tmp_path / "home"
    elsewhere.mkdir()
    out = _run(["-m", "core", "simulate", "disks", "--n", "2", "--size", "33", "--no-progress"], elsewhere, home)
    assert out.returncode == 0, out.stderr
    manifest = home / "data" / "disks-n2-s33-seed0" / "manifest.json"
    assert manifest.is_file() and str(manifest) in out.stdout
    assert json.loads(manifest.read_text())["command"] == "python -m core simulate disks --n 2 --size 33 --seed 0 --workers 1"
    assert list(elsewhere.iterdir()) == []  # nothing in the working directory


def test_a_relative_out_given_by_the_user_stays_relative_to_the_cwd(tmp_path):
    home = tmp_path / "home"
    out = _run(["-m", "core", "simulate", "disks", "--n", "1", "--size", "33", "--out", "mine", "--no-progress"],
               tmp_path, home)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "mine" / "manifest.json").is_file() and not home.exists()


def test_defaults_of_train_and_embed_point_into_the_repository_folders():
    from core import checkpoints as ck
    from core.cli.embed import default_out
    from core.train.config import TrainConfig

    assert ck.RUNS_DIR == paths.RUNS_DIR and ck.CHECKPOINTS_DIR == paths.CHECKPOINTS_DIR
    assert TrainConfig().out_path == paths.RUNS_DIR and TrainConfig(out="x").out_path == Path("x")
    assert TrainConfig(name="r").work_path == paths.RUNS_DIR / "r"
    assert default_out("disks-ae-cnn", "data/disks-test").parent == paths.RUNS_DIR / "embed"


def test_repo_relative():
    assert paths.repo_relative(paths.DATA_DIR / "disks-test") == ("data/disks-test" if paths.HOME == ROOT else
                                                                  str(paths.DATA_DIR / "disks-test"))
    assert paths.repo_relative(ROOT / "checkpoints" / "index.json") == "checkpoints/index.json"
    assert paths.repo_relative("/elsewhere/x.fits") == "/elsewhere/x.fits"
