"""Super-resolution that generalises (issue 26 item 5): training pairs drawn from a family of degradations,
the per-image min-max score convention, pair folders in others' layouts and the scorer over them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.data import observe as ob
from core.data.pairs import PairAugment, degrade_pairs, load_pairs, pair_folders
from core.models.equivariant import act_on_image, group_elements
from tests.test_superres import make_pair_folder

torch.set_num_threads(1)


def blobs(n: int, side: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, 1, side, side) smooth positive skies (three Gaussian blobs each, FWHM about 1.6 px and wider)."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    out = np.zeros((n, 1, side, side))
    for i in range(n):
        for _ in range(3):
            y, x = g.uniform(6, side - 6, 2)
            out[i, 0] += g.uniform(0.3, 1) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * g.uniform(0.7, 2.5) ** 2))
    return torch.from_numpy(out).float()


# ---------------------------------------------------------------------------- the degradation family


def test_family_pairs_stay_aligned_whatever_the_offset_and_are_normalised_as_load_pairs():
    hr = blobs(6)
    x, y = ob.block_mean(hr, 2), hr
    torch.manual_seed(0)
    plain = ob.Degradation(sharp=1.0, clean=1.0)  # block mean only, but with the sub-pixel offsets
    xd, yd = degrade_pairs(x, y, 1.0, plain)
    assert not torch.allclose(yd, y, atol=1e-3)  # the sky moved ...
    torch.testing.assert_close(xd, ob.block_mean(yd, 2), atol=1e-5, rtol=0)  # ... under both grids alike
    assert torch.allclose(xd.amin(dim=(1, 2, 3)), torch.zeros(6)) and torch.allclose(xd.amax(dim=(1, 2, 3)), torch.ones(6))
    torch.manual_seed(0)
    xf, yf = degrade_pairs(x, y, 1.0)  # the whole family: wider PSFs and noise make the LR no block mean
    assert float((xf - ob.block_mean(yf, 2)).abs().max()) > 0.02
    assert xf.shape == x.shape and yf.shape == y.shape and bool(torch.isfinite(xf).all())


def test_family_keeps_a_sky_that_goes_on_beyond_the_frame_and_refuses_tiny_frames():
    from core.data.pairs import degradation_family
    from core.errors import InputError

    sky = torch.full((4, 1, 32, 32), 2.0) + 0.05 * torch.linspace(0, 1, 32)  # a gentle gradient to the edge
    torch.manual_seed(1)
    lr, hr = ob.degradation_pairs(sky, 1.6, ob.Degradation(clean=1.0, padding="reflect"))
    torch.testing.assert_close(lr, ob.block_mean(hr, 2), atol=1e-2, rtol=0)  # no dark rim at the edges
    torch.testing.assert_close(hr, sky, atol=5e-3, rtol=0)  # moved by under a pixel of a gentle gradient
    torch.manual_seed(1)
    lr0, _ = ob.degradation_pairs(sky, 1.6, ob.Degradation(clean=1.0))  # empty sky beyond the frame: a dark rim
    assert float(lr0[..., 0, :].mean()) < 1.9
    assert degradation_family().padding == "reflect"
    with pytest.raises(InputError, match="at least 24 px"):
        degrade_pairs(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 16, 16), 0.5)


def test_family_is_d4_symmetric_so_the_task_keeps_the_models_symmetry():
    hr = blobs(2, seed=1).double()
    for kind in ("gaussian", "airy"):
        k = ob.psf_kernels([kind], torch.tensor([3.3]))[0]
        for g in (torch.rot90(k, 1), k.flip(-1), k.t()):
            torch.testing.assert_close(g, k, atol=1e-7, rtol=0)
        args = (torch.tensor([1.6, 1.6]), [kind, kind], torch.tensor([2.5, 2.5]), torch.zeros(2), torch.zeros(2), torch.zeros(2))
        for flip, angle in group_elements("D4")[1:]:
            act = lambda t: act_on_image(t, flip=flip, angle_deg=angle)  # noqa: B023, E731
            torch.testing.assert_close(ob.degrade(act(hr), *args), act(ob.degrade(hr, *args)), atol=1e-6, rtol=0)


def test_cached_kernels_match_the_exact_ones_to_the_rounding():
    fwhm = torch.tensor([2.0, 3.37, 4.1], dtype=torch.float64)
    kinds = ["gaussian", "airy", "airy"]
    cached = ob.cached_psf_kernels(kinds, fwhm, 0.02)
    exact = ob.psf_kernels(kinds, torch.round(fwhm / 0.02) * 0.02)
    torch.testing.assert_close(cached, exact, atol=1e-7, rtol=0)
    delta = ob.cached_psf_kernels(["gaussian", "airy"], torch.tensor([0.0016, 0.0016]), 0.02)  # widen 1: rounds to 0
    assert torch.equal(delta, torch.nn.functional.pad(torch.ones(2, 1, 1), (2, 2, 2, 2)))


def test_share_zero_draws_nothing_and_draws_follow_the_seed():
    hr = blobs(40, seed=2)
    x, y = ob.block_mean(hr, 2), hr
    torch.manual_seed(5)
    a = PairAugment()(x, y)
    torch.manual_seed(5)
    b = PairAugment(degrade=0.0)(x, y)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))  # the shipped recipe, draw for draw
    outs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        outs.append(PairAugment(degrade=0.5)(x, y))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert not torch.equal(outs[0][0], outs[2][0])
    torch.manual_seed(3)
    xd, _ = degrade_pairs(x, y, 0.5)
    changed = int((xd != x).flatten(1).any(1).sum())
    assert 8 <= changed <= 32  # about half of 40


def test_training_option_validation():
    from core.errors import InputError
    from core.train.config import TrainConfig
    from core.train.fold import make_augment

    with pytest.raises(InputError, match="sr_degrade_fraction"):
        TrainConfig(sr_degrade_fraction=1.5)
    with pytest.raises(InputError, match="augment = true"):
        TrainConfig(sr_degrade_fraction=0.5, augment=False)
    with pytest.raises(InputError, match="super-resolution"):
        make_augment(TrainConfig(model="cnn_classifier", sr_degrade_fraction=0.5), "classifier")
    assert make_augment(TrainConfig(model="equivariant_sr", sr_degrade_fraction=0.5), "superres").degrade == 0.5
    assert TrainConfig().sr_degrade_fraction == 0.0  # off by default: shipped configs train as before


# ---------------------------------------------------------------------------- training on the family


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory):
    """A tiny equivariant SR model trained twice on the family with the same seed (two work folders)."""
    from core.train.config import TrainConfig
    from core.train.fit import fit

    tmp = tmp_path_factory.mktemp("family")
    make_pair_folder(tmp / "pairs", n=12)
    paths = []
    for run in ("a", "b"):
        cfg = TrainConfig(data=str(tmp / "pairs"), model="equivariant_sr", model_config={"fields": 2, "n_blocks": 1, "image_size": 12},
                          epochs=2, batch_size=4, lr=3e-3, val_fraction=0.25, seed=0, name=f"family-{run}", out=str(tmp / run),
                          work_dir=str(tmp / f"work-{run}"), device="cpu", sr_degrade_fraction=1.0)
        paths.append(fit(cfg))
    return paths, tmp


def test_training_on_the_family_is_seeded_and_keeps_exact_d4_equivariance(family_runs):
    from core.checkpoints import load_model, read_checkpoint

    (a, b), tmp = family_runs
    sa, sb = read_checkpoint(a)["members"][0], read_checkpoint(b)["members"][0]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    entry = json.loads((tmp / "a" / "index.json").read_text())["checkpoints"][0]
    assert entry["kind"] == "superres"
    model = load_model(a).model
    x = torch.rand(2, 1, 13, 13)
    with torch.no_grad():
        fx = model(x)
        for flip, angle in group_elements("D4")[1:]:
            act = lambda t: act_on_image(t, flip=flip, angle_deg=angle)  # noqa: B023, E731
            err = float((model(act(x)) - act(fx)).norm() / act(fx).norm())
            assert err < 1e-5


# ---------------------------------------------------------------------------- the min-max convention


class Bicubic(torch.nn.Module):
    def forward(self, x):
        from core.models.superres import bicubic_up

        return bicubic_up(x)


def test_minmax_convention_ignores_a_flux_scale_between_lr_and_hr(tmp_path):
    from core.analysis.superres import evaluate_pairs
    from core.errors import InputError

    make_pair_folder(tmp_path / "avg", n=4)
    make_pair_folder(tmp_path / "sum", n=4)
    make_pair_folder(tmp_path / "apart", n=4)
    for f in (tmp_path / "sum" / "lr").rglob("*.npy"):  # summed pixels: the LR 4x brighter than the HR
        np.save(f, np.load(f) * 4)
    for f in (tmp_path / "apart").rglob("*.npy"):  # LR and HR each min-max scaled on its own, as DeepLense stores them
        a = np.load(f)
        np.save(f, (a - a.min()) / np.ptp(a))
    scores = {(name, scaling): evaluate_pairs(Bicubic(), tmp_path / name, scaling=scaling)
              for name in ("avg", "sum", "apart") for scaling in ("physical", "minmax")}
    assert scores["apart", "minmax"]["bicubic_psnr_db"] == pytest.approx(scores["avg", "minmax"]["bicubic_psnr_db"], abs=1e-3)
    assert scores["sum", "physical"]["bicubic_psnr_db"] < scores["avg", "physical"]["bicubic_psnr_db"] - 6
    assert "--scaling minmax" in scores["sum", "physical"]["notes"][0] and "notes" not in scores["avg", "physical"]
    assert "notes" not in scores["sum", "minmax"]
    assert scores["sum", "minmax"]["bicubic_psnr_db"] == pytest.approx(scores["avg", "minmax"]["bicubic_psnr_db"], abs=1e-3)
    assert scores["sum", "minmax"]["psnr_db"] == pytest.approx(scores["sum", "minmax"]["bicubic_psnr_db"], abs=1e-6)
    assert scores["avg", "physical"]["scaling"].startswith("physical") and scores["avg", "minmax"]["scaling"].startswith("minmax")
    with pytest.raises(InputError, match="scaling"):
        evaluate_pairs(Bicubic(), tmp_path / "avg", scaling="zscore")


def test_evaluate_and_superres_commands_offer_the_minmax_convention(family_runs, capsys):
    from core.cli import main

    (path, _), tmp = family_runs
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(tmp / "pairs"), "--json", "--scaling", "minmax"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scaling"].startswith("minmax") and result["n"] == 12
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(tmp / "pairs")]) == 0
    assert "scaling      physical" in capsys.readouterr().out
    inp = tmp / "in"
    inp.mkdir(exist_ok=True)
    image = np.random.default_rng(0).random((10, 12)).astype(np.float32) * 50 + 3
    np.save(inp / "a.npy", image)
    assert main(["superres", "--checkpoint", str(path), "--input", str(inp), "--out", str(tmp / "up"), "--format", "npy"]) == 0
    assert "scaling physical" in capsys.readouterr().out
    physical = np.load(tmp / "up" / "a.npy")
    assert main(["superres", "--checkpoint", str(path), "--input", str(inp), "--out", str(tmp / "up"), "--format", "npy",
                 "--scaling", "minmax"]) == 0
    assert "scaling minmax" in capsys.readouterr().out
    up = np.load(tmp / "up" / "a.npy")  # the convention: cut at the input's minimum, then its own min-max
    cut = np.maximum(physical, image.min())
    np.testing.assert_allclose(up, (cut - cut.min()) / (cut.max() - cut.min()), atol=1e-5)
    assert up.shape == (20, 24) and float(up.min()) == 0.0 and float(up.max()) == pytest.approx(1.0)


# ---------------------------------------------------------------------------- others' layouts and the scorer


def deeplense_style(root, n=3, lr_side=8):
    """LR/ and HR/ in capitals, (1, H, W) arrays, each image min-max scaled (the DeepLense SR sets' layout)."""
    (root / "LR").mkdir(parents=True)
    (root / "HR").mkdir(parents=True)
    hr = blobs(n, 2 * lr_side, seed=4).numpy()
    for i in range(n):
        lr = hr[i, 0].reshape(lr_side, 2, lr_side, 2).mean((1, 3))
        np.save(root / "LR" / f"sample{i + 1}.npy", ((lr - lr.min()) / np.ptp(lr))[None].astype(np.float32))
        np.save(root / "HR" / f"sample{i + 1}.npy", ((hr[i, 0] - hr[i, 0].min()) / np.ptp(hr[i, 0]))[None].astype(np.float32))
    return root


def test_pair_folders_in_any_letter_case_and_depth(tmp_path):
    deeplense_style(tmp_path / "others" / "deeplense" / "Dataset")
    make_pair_folder(tmp_path / "others" / "group-b", n=2)
    (tmp_path / "others" / "notes").mkdir()
    found = pair_folders(tmp_path / "others")
    assert found == [tmp_path / "others" / "deeplense" / "Dataset", tmp_path / "others" / "group-b"]
    X, Y, index = load_pairs(found[0])
    assert X.shape == (3, 1, 8, 8) and Y.shape == (3, 1, 16, 16) and index.lr_files[0].parent.name == "LR"


def test_scorer_over_other_groups_sets(tmp_path, capsys):
    from bench import superres_others as bench

    deeplense_style(tmp_path / "sets" / "dl-like")
    make_pair_folder(tmp_path / "sets" / "flux", n=3, lr_side=9, scale=300.0)
    sets = bench.find_sets([tmp_path / "sets"])
    assert sorted(sets) == ["dl-like", "flux"]
    models = {"bicubic-net": type("Loaded", (), {"model": Bicubic()})()}
    rows, gains = bench.score_sets(models, sets, limit=2)
    assert len(rows) == 2 * 2 * 2 and {r[3] for r in rows} == {"physical", "minmax"}
    assert all(abs(g) < 1e-6 for values in gains.values() for g in values)  # the model is bicubic itself
    assert all(abs(float(r[7])) < 1e-6 for r in bench.summary_rows(gains, 2))
    assert bench.main(["--sets", str(tmp_path / "nowhere")]) == 1
    assert "No pair folders" in capsys.readouterr().out
