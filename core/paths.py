"""Where EquiScope's folders are: found from this package's location, never from the working
directory, so a command run from anywhere writes where the app looks.

Shipped with the repository:
    REPO_ROOT           the repository (the folder holding core/)
    CHECKPOINTS_DIR     checkpoints/      shipped weights + index.json
    CONFIGS_DIR         configs/          training configs
    EXAMPLES_DIR        examples/         example images of the Data page
Written at run time (git-ignored), under HOME: the repository, or EQUISCOPE_HOME when set
(read at import; tests set it to keep the repository clean):
    RUNS_DIR            runs/             user-trained checkpoints + index.json, embed results
    CACHE_DIR           cache/            latents and t-SNE maps (cache/latents), reference sets
    DATA_DIR            data/             simulated data sets
    LOGS_DIR            logs/             server logs of benchmarks and tests
    TEST_ARTIFACTS_DIR  test-artifacts/   screenshots and other test output

Only defaults come from here: a relative path a user types stays relative to their working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
CONFIGS_DIR = REPO_ROOT / "configs"
EXAMPLES_DIR = REPO_ROOT / "examples"

HOME = Path(os.environ["EQUISCOPE_HOME"]).expanduser().resolve() if os.environ.get("EQUISCOPE_HOME") else REPO_ROOT
RUNS_DIR = HOME / "runs"
CACHE_DIR = HOME / "cache"
LATENT_CACHE_DIR = CACHE_DIR / "latents"
DATA_DIR = HOME / "data"
LOGS_DIR = HOME / "logs"
TEST_ARTIFACTS_DIR = HOME / "test-artifacts"


def repo_relative(path: str | Path) -> str:
    """`path` relative to the repository (posix) when it lies inside it, else absolute: for
    files and documents that must not name a folder of the machine they were written on."""
    p = Path(path).expanduser().resolve()
    return p.relative_to(REPO_ROOT).as_posix() if p.is_relative_to(REPO_ROOT) else str(p)
