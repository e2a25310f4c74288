"""`python -m core reproduce`: every shipped model has an honest chain (static check), a broken chain is named in
one sentence, and a chain runs its steps in order and skips those whose output exists (fake runner: nothing trains)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from core import paths
from core.cli import reproduce

TINY_AE = 'model = "cnn_ae"\n[model_config]\nimage_size = 33\n'


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tiny_repo(root: Path, final_init: str = "runs/tiny-stage1.pt") -> Path:
    """configs/ with one data set and a two-stage model `tiny` (stage 1 from scratch, `tiny` fine-tunes it)."""
    configs = root / "configs"
    _write(configs, "data/tiny-train.toml", 'kind = "disks"\nn = 8\nsize = 33\nseed = 0\n')
    _write(configs, "tiny-stage1.toml", f'name = "tiny-stage1"\ndata = "data/tiny-train"\nepochs = 1\n{TINY_AE}')
    _write(configs, "tiny.toml", f'name = "tiny"\ndata = "data/tiny-train"\nout = "checkpoints"\ninit_from = "{final_init}"\n{TINY_AE}')
    _write(root, "checkpoints/index.json", json.dumps({"checkpoints": [
        {"name": "tiny", "model": "cnn_ae", "config": {"image_size": 33},
         "data": {"generator": "disks", "version": "2.1", "seed": 0, "size": 33, "n": 8}}]}))
    return configs


def _check(root: Path):
    return reproduce.check(configs_dir=root / "configs", index_path=root / "checkpoints" / "index.json")


def test_every_shipped_checkpoint_has_an_honest_chain_at_head():
    chains, problems, _ = reproduce.check()
    assert problems == []
    shipped = [e["name"] for e in json.loads((paths.CHECKPOINTS_DIR / "index.json").read_text())["checkpoints"]]
    assert shipped and set(shipped) <= set(chains)
    for name in shipped:
        steps = chains[name]
        assert steps[-1].name == name and steps[0].kind in ("simulate", "pairs-mix")
        made = {s.output for s in steps}
        for i, step in enumerate(steps):  # every input is made by an earlier step of the same chain
            assert all(ref in {s.output for s in steps[:i]} for ref in step.inputs), (name, step.name)
        assert f"runs/{name}.pt" in made


def test_the_known_multi_stage_chains():
    assert [s.name for s in reproduce.chain("disks-ae-equivariant-ensemble") if s.kind == "train"] == [
        "disks-ae-equivariant-wide", "disks-ae-equivariant", "disks-ae-equivariant-ensemble"]
    assert [s.name for s in reproduce.chain("disks-ae-cnn") if s.kind == "train"] == ["disks-ae-cnn-stage1", "disks-ae-cnn"]
    assert [s.kind for s in reproduce.chain("lenses-ssl-equivariant")][-1] == "pretrain"
    mix = [s for s in reproduce.chain("lenses-sr-equivariant") if s.kind == "pairs-mix"]
    assert len(mix) == 1 and reproduce.expected_manifest(mix[0], paths.CONFIGS_DIR)["n"] == 5300


def test_a_tiny_two_stage_chain_passes(tmp_path):
    _tiny_repo(tmp_path)
    chains, problems, notes = _check(tmp_path)
    assert problems == [] and notes == []
    assert reproduce.describe(chains["tiny"]) == "data/tiny-train -> tiny-stage1 -> tiny"


@pytest.mark.parametrize("init, words", [
    ("tiny", "initialises from itself"),
    ("runs/tiny.pt", "initialises from itself"),
    ("checkpoints/tiny.pt", "initialises from itself"),
    ("tiny-stage1", "resolves to whatever is shipped"),  # a checkpoint name: the shipped one, not the chain's
    ("runs/nothing.pt", "no config produces"),
])
def test_the_check_names_a_broken_chain_in_one_sentence(tmp_path, init, words):
    _tiny_repo(tmp_path, final_init=init)
    chains, problems, _ = _check(tmp_path)
    assert "tiny" not in chains and len(problems) == 1
    assert words in problems[0] and problems[0].count(". ") == 0 and problems[0].endswith(".")


def test_the_check_finds_missing_data_configs_loops_and_mismatched_models(tmp_path):
    configs = _tiny_repo(tmp_path)
    _write(configs, "tiny-stage1.toml", f'name = "tiny-stage1"\ndata = "data/other"\n{TINY_AE}')
    assert "no configs/data/other.toml simulates it" in _check(tmp_path)[1][0]
    _write(configs, "tiny-stage1.toml", f'name = "tiny-stage1"\ndata = "data/tiny-train"\ninit_from = "runs/tiny.pt"\n{TINY_AE}')
    assert "loops" in _check(tmp_path)[1][0]
    _write(configs, "tiny-stage1.toml", 'name = "tiny-stage1"\ndata = "data/tiny-train"\nmodel = "cnn_ae"\n[model_config]\nimage_size = 65\n')
    assert "another model or model_config" in _check(tmp_path)[1][0]
    _write(configs, "tiny-stage1.toml", 'name = "tiny-stage1"\ndata = "data/tiny-train"\nepoch = 3\n')
    assert "not a valid training config" in _check(tmp_path)[1][0]


def test_the_check_compares_the_chain_with_the_index_entry(tmp_path):
    configs = _tiny_repo(tmp_path)
    _write(configs, "data/tiny-train.toml", 'kind = "disks"\nn = 9\nsize = 33\nseed = 0\n')
    assert "n 8" in _check(tmp_path)[1][0]
    _write(configs, "data/tiny-train.toml", 'kind = "disks"\nn = 8\nsize = 33\nseed = 0\n')
    index = tmp_path / "checkpoints" / "index.json"
    index.write_text(index.read_text().replace('"2.1"', '"1.0"'))
    chains, problems, notes = _check(tmp_path)
    assert problems == [] and "comparable, not identical" in notes[0]  # old generator: a note, not a failure
    (configs / "tiny.toml").unlink()
    assert "nothing in the repository rebuilds it" in _check(tmp_path)[1][0]


def test_check_command_exits_non_zero_with_one_line_per_broken_chain(tmp_path, monkeypatch, capsys):
    _tiny_repo(tmp_path, final_init="tiny")
    monkeypatch.setattr(paths, "CONFIGS_DIR", tmp_path / "configs")
    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    assert reproduce.run(argparse.Namespace(check=True, name=None)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("broken: configs/tiny.toml initialises from itself")
    assert reproduce.run(argparse.Namespace(check=True, name="tiny-stage1")) == 0


def test_reproduce_runs_steps_in_order_and_skips_what_exists(tmp_path, monkeypatch):
    _tiny_repo(tmp_path)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    ran = []

    def fake_runner(step):
        ran.append((step.name, reproduce.step_argv(step)))
        if step.kind == "simulate":  # what `python -m core simulate` would write
            _write(tmp_path, f"{step.output}/manifest.json", json.dumps({
                "generator": "disks", "version": reproduce.expected_manifest(step, tmp_path / "configs")["version"],
                "seed": 0, "size": 33, "images": [{}] * 8}))
        else:
            _write(tmp_path, step.output, "weights")

    outputs = reproduce.reproduce("tiny", tmp_path / "configs", runner=fake_runner)
    assert outputs[-1] == tmp_path / "runs" / "tiny.pt"
    assert ran == [
        ("tiny-train", ["simulate", "disks", "--n", "8", "--seed", "0", "--size", "33", "--out", "data/tiny-train"]),
        ("tiny-stage1", ["train", "--config", "configs/tiny-stage1.toml", "--out", "runs"]),
        # the final model goes to runs/ (never over checkpoints/) and fine-tunes the chain's own stage 1
        ("tiny", ["train", "--config", "configs/tiny.toml", "--out", "runs", "--init-from", "runs/tiny-stage1.pt"]),
    ]
    ran.clear()
    reproduce.reproduce("tiny", tmp_path / "configs", runner=fake_runner)
    assert ran == []  # resumable: every output exists
    (tmp_path / "runs" / "tiny.pt").unlink()
    reproduce.reproduce("tiny", tmp_path / "configs", runner=fake_runner)
    assert [name for name, _ in ran] == ["tiny"]


def test_data_made_by_another_recipe_is_not_silently_reused(tmp_path, monkeypatch):
    _tiny_repo(tmp_path)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    _write(tmp_path, "data/tiny-train/manifest.json", json.dumps(
        {"generator": "disks", "version": "2.0", "seed": 0, "size": 33, "images": [{}] * 8}))
    with pytest.raises(reproduce.ChainError, match="exists but holds other data"):
        reproduce.reproduce("tiny", tmp_path / "configs", runner=lambda step: None)


def test_a_registered_command_without_its_module_is_an_error(monkeypatch):
    from core import cli

    monkeypatch.setattr(cli, "COMMANDS", {"ghost": "core.no_such_command_module"})
    with pytest.raises(RuntimeError, match="'ghost' is registered in core.cli.COMMANDS but its module"):
        cli.build_parser()
