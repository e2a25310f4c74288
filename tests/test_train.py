"""Training: the engine lowers the loss, fit writes a loadable checkpoint, resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from core.atomic import atomic_save_npy
from core.paths import CONFIGS_DIR
from core.train.config import TrainConfig, load_config
from core.train.engine import evaluate, train_one_epoch
from core.train.losses import classifier_loss_fn

torch.set_num_threads(1)


def _blobs(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) + 2.0 * y[:, None].float()  # (n, 4): two Gaussian blobs
    return TensorDataset(x, y)


def test_engine_lowers_the_loss_of_a_plain_torch_model():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    loader = DataLoader(_blobs(), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    loss_fn = classifier_loss_fn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = evaluate(model, loader, loss_fn, torch.device("cpu"))
    calls = []
    for _ in range(5):
        train_one_epoch(model, loader, opt, loss_fn, torch.device("cpu"), progress=lambda d, t, m: calls.append((d, t)))
    after = evaluate(model, loader, loss_fn, torch.device("cpu"))
    assert after["loss"] < 0.5 * before["loss"] and after["acc"] > 0.9
    assert calls[-1] == (8, 8)  # progress after every batch, total = batches per epoch


def test_engine_rejects_a_diverging_loss():
    model = nn.Linear(4, 2)
    loader = DataLoader(_blobs(16), batch_size=8)

    def nan_loss(m, x, y):
        return m(x).sum() * float("nan"), {}

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train_one_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), nan_loss, torch.device("cpu"))


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('data = "d"\nmodel = "cnn_ae"\nepochs = 3\n[model_config]\nlatent_dim = 8\n[loss]\nms_ssim = 0.5\n')
    cfg = load_config(path, {"epochs": 5, "model_config": {"image_size": 33}})
    assert (cfg.epochs, cfg.model_config, cfg.loss) == (5, {"latent_dim": 8, "image_size": 33}, {"ms_ssim": 0.5})
    with pytest.raises(ValueError, match="Unknown training option"):
        load_config(None, {"epoch": 3})


def test_folders_in_a_config_file_mean_the_same_folder_from_any_working_directory(tmp_path, monkeypatch):
    from core.paths import REPO_ROOT

    monkeypatch.chdir(tmp_path)
    shipped = load_config(CONFIGS_DIR / "disks-ae-equivariant.toml")
    assert Path(shipped.data) == REPO_ROOT / "data" / "disks-train"
    assert shipped.out_path == REPO_ROOT / "checkpoints"  # where the app lists shipped weights
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "c.toml").write_text('data = "imgs"\nout = "/abs/out"\n')
    mine = load_config(tmp_path / "mine" / "c.toml", {"test_data": "typed"})
    assert (Path(mine.data), mine.out, mine.test_data) == (tmp_path / "mine" / "imgs", "/abs/out", "typed")


def test_every_shipped_config_parses():
    paths = sorted(CONFIGS_DIR.glob("*.toml"))
    assert paths
    for path in paths:
        cfg = load_config(path)
        assert cfg.data and cfg.name == path.stem, path  # name defaults to "run": each config must set its own


# ---------------------------------------------------------------------------- fit (needs core.data)

TINY_AE = {"image_size": 33, "channels": [4, 4, 4, 4], "latent_dim": 8, "decoder_channels": [8, 8, 8, 8, 8]}


def make_disk_folder(root: Path, n: int = 24, size: int = 33, seed: int = 0, noise: float = 0.05) -> Path:
    """A tiny class-folder dataset of smooth ring images (two 'classes' by ring radius); `noise` = 0 writes
    the noise-free twins of the same seed's images (the same draws, the noise scaled to nothing)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    for i in range(n):
        label = f"planets_{i % 2}"
        radius = (6 if i % 2 else 10) + rng.uniform(-1, 1)
        image = np.exp(-((r - radius) ** 2) / 4.0) + noise * rng.standard_normal((size, size))
        (root / label).mkdir(parents=True, exist_ok=True)
        atomic_save_npy(root / label / f"{i:04d}.npy", image.astype(np.float32))
    return root


def _cfg(tmp_path, **kw) -> TrainConfig:
    values = dict(data=str(tmp_path / "data"), model="cnn_ae", model_config=TINY_AE, epochs=4, batch_size=4, lr=1e-2,
                  val_fraction=0.25, seed=3, name="tiny", out=str(tmp_path / "out"), work_dir=str(tmp_path / "work"),
                  loss={"ms_ssim": 0.1, "covariance": 0.0, "variance": 0.0}, device="cpu")
    values.update(kw)
    return TrainConfig(**values)


@pytest.fixture
def disk_folder(tmp_path):
    return make_disk_folder(tmp_path / "data")


def test_fit_lowers_the_loss_and_writes_an_indexed_checkpoint(tmp_path, disk_folder):
    from core.checkpoints import load_model
    from core.train.fit import fit

    epochs_seen = []
    path = fit(_cfg(tmp_path), on_epoch=lambda h: epochs_seen.append(len(h["epoch"])))
    raw = torch.load(path, weights_only=True)
    hist = raw["history"]
    assert epochs_seen == [1, 2, 3, 4] and len(hist["train_loss"]) == 4
    assert hist["val_loss"][-1] < 0.7 * hist["val_loss"][0]
    index = json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"]
    assert [e["name"] for e in index] == ["tiny"] and index[0]["metrics"]["n"] == 6  # 25 % of 24 held out
    assert {"mse", "psnr_db", "ssim", "ms_ssim"} <= set(index[0]["metrics"])
    loaded = load_model("tiny", folders=[tmp_path / "out"])
    assert loaded.image_size == 33 and (tmp_path / "work" / "last.pt").is_file()


def test_resume_continues_from_last_pt_and_matches_an_uninterrupted_run(tmp_path, disk_folder):
    from core.train.fit import fit

    full = torch.load(fit(_cfg(tmp_path, epochs=3, augment=True)), weights_only=True)

    class Crash(Exception):
        pass

    def crash_after_first_epoch(history):
        if len(history["epoch"]) == 1:
            raise Crash

    cfg = _cfg(tmp_path, epochs=3, augment=True, work_dir=str(tmp_path / "work2"), out=str(tmp_path / "out2"))
    with pytest.raises(Crash):
        fit(cfg, on_epoch=crash_after_first_epoch)
    assert torch.load(tmp_path / "work2" / "last.pt", weights_only=True)["epoch"] == 1
    resumed = torch.load(fit(cfg), weights_only=True)
    assert resumed["history"]["epoch"] == [1, 2, 3]  # the first epoch is not repeated
    for name, tensor in full["members"][0].items():
        torch.testing.assert_close(resumed["members"][0][name], tensor, atol=1e-6, rtol=1e-5, msg=name)
    # the same config on re-simulated images must not resume (the data fingerprint changed)
    make_disk_folder(tmp_path / "data", seed=1)
    again = torch.load(fit(cfg), weights_only=True)
    assert again["history"]["epoch"] == [1, 2, 3] and again["data_manifest"]["fingerprint"] != resumed["data_manifest"]["fingerprint"]
    assert any(not torch.equal(again["members"][0][k], v) for k, v in resumed["members"][0].items())


def test_kfold_ensemble_and_user_stop(tmp_path, disk_folder):
    from core.checkpoints import load_model
    from core.train.fit import fit

    path = fit(_cfg(tmp_path, folds=2, epochs=2))
    raw = torch.load(path, weights_only=True)
    assert len(raw["members"]) == 2 and raw["metrics"]["n"] == 24  # out-of-fold: every image held out once
    assert load_model(path).entry["members"] == 2
    stop = fit(_cfg(tmp_path, name="stopped", epochs=50, work_dir=str(tmp_path / "w3")), should_stop=lambda: True)
    raw = torch.load(stop, weights_only=True)
    assert raw["metrics"]["stopped_by_user"] and raw["history"]["epoch"] == [1]


def test_time_budget_replans_epochs_and_the_cosine_still_reaches_its_floor():
    from core.train.budget import epochs_within_budget

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)
    opt.step()
    sched.step()  # one epoch of 388 s done; 1500 s budget: 1 + 2 more epochs fit
    n = epochs_within_budget(6, 6, done=1, done_here=1, seconds=388.0, budget=1500.0)
    assert n == 3
    sched.T_max = n  # as fit does with the plan rank 0 broadcasts
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01, abs=1e-9)  # annealed to the floor at epoch 3
    assert epochs_within_budget(3, 6, done=1, done_here=1, seconds=10.0, budget=1500.0) == 6
    assert epochs_within_budget(3, 6, done=3, done_here=3, seconds=30.0, budget=1500.0) == 3


def test_train_cli_records_the_command_that_reproduces_the_run(tmp_path, disk_folder):
    from core.cli import main

    toml = tmp_path / "tiny.toml"
    toml.write_text(f'data = "{disk_folder}"\nmodel = "cnn_ae"\nname = "cli"\nout = "{tmp_path / "out"}"\n'
                    f'work_dir = "{tmp_path / "w"}"\nepochs = 1\nbatch_size = 4\ndevice = "cpu"\n'
                    '[model_config]\nimage_size = 33\nchannels = [4, 4, 4, 4]\nlatent_dim = 8\n')
    assert main(["train", "--config", str(toml), "--lr", "0.005", "--set", "loss.covariance=0.0"]) == 0
    raw = torch.load(tmp_path / "out" / "cli.pt", weights_only=True)
    assert raw["command"] == f"python -m core train --config {toml} --lr 0.005 --set loss.covariance=0.0"
    assert raw["train_config"]["lr"] == 0.005 and raw["train_config"]["loss"] == {"covariance": 0.0}
    assert main(["train", "--config", str(toml), "--set", "nope=1"]) == 2  # one-sentence error, no traceback


def test_precise_batch_norm_sets_running_stats_to_the_training_images_exact_statistics():
    from torch.utils.data import TensorDataset

    from core.train.fit import recalibrate_batch_norm

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    model[1].running_mean.fill_(5.0)  # stale running statistics, as after an epoch of moving weights
    X = torch.rand(100, 1, 8, 8) * 2 + 1
    recalibrate_batch_norm(model.eval(), TensorDataset(X, torch.zeros(100)), "cpu", n=100, batch_size=25)
    with torch.no_grad():
        features = model[0](X)
    torch.testing.assert_close(model[1].running_mean, features.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    assert not model.training and model[1].momentum == 0.1  # mode and momentum restored


def test_init_from_fine_tunes_a_trained_checkpoint_and_refuses_another_model(tmp_path, disk_folder):
    from core.errors import InputError
    from core.train.fit import fit

    first = fit(_cfg(tmp_path, epochs=2))
    base = torch.load(first, weights_only=True)["history"]["val_loss"][-1]
    tuned = fit(_cfg(tmp_path, epochs=1, lr=1e-4, name="tuned", work_dir=str(tmp_path / "work2"), init_from=str(first)))
    history = torch.load(tuned, weights_only=True)["history"]
    assert history["val_loss"][0] < 1.2 * base  # starts where the first run ended, not from scratch
    scratch = fit(_cfg(tmp_path, epochs=1, lr=1e-4, name="scratch", work_dir=str(tmp_path / "work3")))
    assert history["val_loss"][0] < torch.load(scratch, weights_only=True)["history"]["val_loss"][0]
    index = first.parent / "index.json"  # an entry written before an option existed: the option takes its default
    entries = json.loads(index.read_text())
    entry = next(e for e in entries["checkpoints"] if e["name"] == first.stem)
    entry["config"] = {k: v for k, v in entry["config"].items() if k in TINY_AE}
    index.write_text(json.dumps(entries))
    fit(_cfg(tmp_path, epochs=1, lr=1e-4, name="tuned-old", work_dir=str(tmp_path / "work5"), init_from=str(first)))
    other = dict(TINY_AE, latent_dim=TINY_AE.get("latent_dim", 8) + 1)
    with pytest.raises(InputError, match="fine-tune only from the same"):
        fit(_cfg(tmp_path, model_config=other, name="bad", work_dir=str(tmp_path / "work4"), init_from=str(first)))


def test_denoising_autoencoder_learns_the_noise_free_twins(tmp_path, disk_folder):
    from core.checkpoints import load_model
    from core.data.datasets import load_tensors
    from core.errors import InputError
    from core.train.fit import fit

    clean = make_disk_folder(tmp_path / "clean", noise=0.0)
    noisy_x, _, _ = load_tensors(disk_folder, 33)
    clean_x, _, _ = load_tensors(clean, 33)
    assert 0.9 < np.corrcoef(noisy_x.ravel(), clean_x.ravel())[0, 1] < 0.999  # twins: the same rings, without the noise
    denoised = fit(_cfg(tmp_path, epochs=12, clean_data=str(clean), clean_input_fraction=0.5))
    plain = fit(_cfg(tmp_path, epochs=12, name="plain", work_dir=str(tmp_path / "w1")))
    entries = {e["name"]: e for e in json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"]}
    assert "noise-free" in entries["tiny"]["metrics"]["split"] and "noise-free" not in entries["plain"]["metrics"]["split"]
    with torch.no_grad():
        error = {p: float(((load_model(str(p)).model.eval()(noisy_x) - clean_x) ** 2).mean()) for p in (denoised, plain)}
    assert error[denoised] < 0.7 * error[plain]  # it learned to remove the noise, not to copy it
    other = make_disk_folder(tmp_path / "other", n=20)
    with pytest.raises(InputError, match="same files"):
        fit(_cfg(tmp_path, clean_data=str(other), name="bad", work_dir=str(tmp_path / "w2")))


def test_pair_augment_turns_input_and_target_alike_and_swaps_in_clean_inputs():
    from core.data.pairs import PairAugment

    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 9, 9), torch.rand(8, 1, 9, 9)
    ax, ay = PairAugment()(x, y)
    for i in range(8):  # the same D4 element for both
        assert any(torch.equal(ax[i], torch.rot90(x[i].flip(-1) if f else x[i], k, dims=(-2, -1)))
                   and torch.equal(ay[i], torch.rot90(y[i].flip(-1) if f else y[i], k, dims=(-2, -1)))
                   for k in range(4) for f in (False, True))
    sx, sy = PairAugment(clean_input_fraction=1.0)(x, y)
    assert torch.equal(sx, sy)
    half, _ = PairAugment(clean_input_fraction=0.5)(torch.zeros(400, 1, 3, 3), torch.ones(400, 1, 3, 3))
    assert 150 < int(half[:, 0, 0, 0].sum()) < 250
