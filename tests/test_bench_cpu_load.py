"""bench/cpu_load.py: the app benchmark's background load starts, is measured, and ends with its process group."""

from __future__ import annotations

import os

import pytest

from bench.cpu_load import READY, CpuLoad, run_train, train_command


def test_matmul_load_runs_until_stopped_and_leaves_nothing(tmp_path):
    load = CpuLoad("matmul", threads=1, folder=tmp_path / "load").start(timeout_s=120)
    pid = load.proc.pid
    assert load.alive() and (tmp_path / "load" / READY).exists()
    load.mark()
    while load.cores() == 0.0:  # /proc's CPU ticks advance every 10 ms of work
        pass
    assert load.cores() > 0.0
    load.stop()
    assert not load.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole group is gone


def test_train_load_marks_ready_at_its_first_training_batch(tmp_path):
    run_train(tmp_path, threads=1, n_images=12, size=32, once=True, model="cnn_classifier",
              model_config={"image_size": 33, "channels": [4, 4], "hidden": 8})
    from core.paths import RUNS_DIR

    assert (tmp_path / READY).exists()
    assert (tmp_path / "out" / "bench-cpu-load.pt").exists() and (tmp_path / "work" / "last.pt").exists()
    assert not (RUNS_DIR / "bench-cpu-load").exists()  # checkpoint and resume state stay under the load's folder
    assert "python -m core train" in train_command(tmp_path) and str(tmp_path) not in train_command(tmp_path)


def test_an_unknown_load_is_one_sentence():
    with pytest.raises(ValueError, match="Unknown load 'gpu'; choose one of train, matmul."):
        CpuLoad("gpu")
