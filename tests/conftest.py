import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
from core import paths  # noqa: E402 - importable once ROOT is on sys.path

REALDATA = paths.REAL_DATA_DIR
