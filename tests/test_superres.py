"""x2 super-resolution: exact equivariance, shapes, pair folders, training, `evaluate` and `superres` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from core.atomic import atomic_save_npy
from core.models.equivariant import act_on_image, group_elements
from core.models.registry import build_model, is_equivariant, model_kind

torch.set_num_threads(1)
SR_MODELS = ("equivariant_sr", "edsr_sr", "srcnn_sr")


def _params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("size", [15, 16])
@pytest.mark.parametrize("export", [False, True])
def test_equivariant_sr_is_exact_under_90_degree_turns_and_flips(size, export):
    from core.models.export import export_for_serving

    torch.manual_seed(0)
    model = build_model("equivariant_sr", {"fields": 2, "n_blocks": 1})
    for p in model.parameters():  # non-trivial weights everywhere (the last layer starts at zero)
        p.data.add_(0.05 * torch.randn_like(p))
    model.eval()  # escnn expands the filters from the weights here
    if export:
        model = export_for_serving(model)
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 1, 2 * size, 2 * size)
        residual = y - torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        assert residual.abs().max() > 1e-3  # the learned path contributes, so the test can fail
        for flip, angle in group_elements("D4"):
            turned = model(act_on_image(x, flip, angle))
            expected = act_on_image(y, flip, angle)
            assert float((turned - expected).norm() / expected.norm()) <= 1e-5, (flip, angle)


def test_baselines_are_not_equivariant_and_every_model_takes_any_size():
    torch.manual_seed(0)
    for name in SR_MODELS:
        model = build_model(name).eval()
        assert model_kind(name) == "superres" and model.kind == "superres"
        for h, w in [(9, 9), (10, 13)]:
            assert model(torch.rand(1, 1, h, w)).shape == (1, 1, 2 * h, 2 * w)
    x = torch.rand(1, 1, 12, 12)
    cnn = build_model("edsr_sr").eval()
    with torch.no_grad():
        assert torch.allclose(cnn(x), torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False))  # starts as bicubic
    for p in cnn.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    with torch.no_grad():
        err = (cnn(torch.rot90(x, 1, (-2, -1))) - torch.rot90(cnn(x), 1, (-2, -1))).norm() / cnn(x).norm()
    assert err > 1e-4 and is_equivariant("equivariant_sr") and not is_equivariant("edsr_sr")


def test_default_parameter_counts_are_equal_within_3_percent():
    counts = {name: _params(build_model(name)) for name in SR_MODELS}
    ref = counts["equivariant_sr"]
    assert all(abs(c - ref) / ref < 0.03 for c in counts.values()), counts


def test_group_pixel_shuffle_reaches_every_subpixel_and_bad_groups_are_refused():
    from core.models.superres import subpixel_of_elements

    assert sorted(subpixel_of_elements("D4")) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sorted(subpixel_of_elements("C4")) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sub-pixels"):
        build_model("equivariant_sr", {"group": "C8"})
    with pytest.raises(ValueError, match="x2"):
        build_model("edsr_sr", {"scale": 3})


# ---------------------------------------------------------------------------- pair folders


def make_pair_folder(root, n=12, lr_side=12, seed=0, scale=1.0, hr_ext="npy"):
    """Blobs seen sharp at HR and blurred, binned and noisy at LR, in class sub-folders."""
    from core.io import write_fits

    rng = np.random.default_rng(seed)
    for i in range(n):
        hr = np.zeros((2 * lr_side, 2 * lr_side))
        for _ in range(3):
            y, x = rng.uniform(4, 2 * lr_side - 4, 2)
            yy, xx = np.mgrid[: 2 * lr_side, : 2 * lr_side]
            hr += rng.uniform(0.5, 1) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * rng.uniform(0.8, 2.0) ** 2))
        lr = gaussian_filter(hr, 1.2).reshape(lr_side, 2, lr_side, 2).mean((1, 3)) + 0.01 * rng.standard_normal((lr_side, lr_side))
        cls = f"c{i % 2}"
        atomic_save_npy(root / "lr" / cls / f"{i:03d}.npy", (scale * lr).astype(np.float32))
        if hr_ext == "fits":
            (root / "hr" / cls).mkdir(parents=True, exist_ok=True)
            write_fits(root / "hr" / cls / f"{i:03d}.fits", (scale * hr).astype(np.float32))
        else:
            atomic_save_npy(root / "hr" / cls / f"{i:03d}.npy", (scale * hr).astype(np.float32))
    return root


def test_load_pairs_normalises_by_the_lr_range_and_matches_names_across_extensions(tmp_path):
    from core.data.pairs import PairAugment, load_pairs, scan_pairs
    from core.errors import InputError

    root = make_pair_folder(tmp_path / "p", n=4, scale=250.0, hr_ext="fits")
    X, Y, index = load_pairs(root)
    assert X.shape == (4, 1, 12, 12) and Y.shape == (4, 1, 24, 24)
    assert float(X.amin()) == 0.0 and float(X.amax()) == pytest.approx(1.0)
    assert [f.suffix for f in index.hr_files] == [".fits"] * 4
    # same element on both: the HR block means follow the LR
    torch.manual_seed(1)
    xa, ya = PairAugment()(X, Y)
    corr = np.corrcoef(xa.flatten().numpy(), torch.nn.functional.avg_pool2d(ya, 2).flatten().numpy())[0, 1]
    assert corr > 0.9
    (root / "lr" / "c0" / "999.npy").write_bytes((root / "lr" / "c0" / "000.npy").read_bytes())
    with pytest.raises(InputError, match="no HR image"):
        scan_pairs(root)
    with pytest.raises(InputError, match="lr/ and hr/"):
        scan_pairs(tmp_path)


@pytest.fixture
def trained(tmp_path):
    from core.train.config import TrainConfig
    from core.train.fit import fit

    make_pair_folder(tmp_path / "pairs", n=12)
    cfg = TrainConfig(data=str(tmp_path / "pairs"), model="equivariant_sr", model_config={"fields": 2, "n_blocks": 1, "image_size": 12},
                      epochs=2, batch_size=4, lr=3e-3, val_fraction=0.25, seed=0, name="tiny-sr", out=str(tmp_path / "out"),
                      work_dir=str(tmp_path / "work"), device="cpu", test_data=str(tmp_path / "pairs"))
    return fit(cfg), tmp_path


def test_trainer_fits_superres_pairs_and_reports_psnr_against_bicubic(trained):
    path, tmp_path = trained
    entry = json.loads((tmp_path / "out" / "index.json").read_text())["checkpoints"][0]
    assert entry["kind"] == "superres" and entry["model"] == "equivariant_sr"
    m = entry["metrics"]
    assert {"psnr_db", "ssim", "bicubic_psnr_db", "bicubic_ssim", "gain_db"} <= set(m) and m["n"] == 3
    assert m["test"]["n"] == 12 and "HR image's range" in m["test"]["scaling"]
    assert 5 < m["psnr_db"] < 80 and -1 <= m["ssim"] <= 1


def test_evaluate_and_superres_commands(trained, capsys):
    from astropy.io import fits

    from core.cli import main
    from core.io import write_fits

    path, tmp_path = trained
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(tmp_path / "pairs"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "superres" and result["n"] == 12
    assert result["gain_db"] == pytest.approx(result["psnr_db"] - result["bicubic_psnr_db"])
    assert "HR image's range" in result["scaling"]
    # odd sizes and another flux scale (75 -> 150 style pairs made elsewhere)
    other = make_pair_folder(tmp_path / "other", n=2, lr_side=15, scale=1e4)
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(other)]) == 0
    table = capsys.readouterr().out
    assert "bicubic_psnr_db" in table and "15x15 -> 30x30" in table

    # a FITS input with a pixel scale: the output's is halved, the reference pixel moves with it
    inp = tmp_path / "in"
    inp.mkdir()
    header = [("CDELT1", -0.1 / 3600, ""), ("CDELT2", 0.1 / 3600, ""), ("CRPIX1", 8.0, ""), ("CRPIX2", 8.0, ""),
              ("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CRVAL1", 10.0, ""), ("CRVAL2", -5.0, ""), ("BUNIT", "Jy/beam", "")]
    image = np.random.default_rng(0).random((15, 15)).astype(np.float32) * 3 + 7
    write_fits(inp / "a.fits", image, header)
    np.save(inp / "b.npy", image[:10, :12])
    assert main(["superres", "--checkpoint", str(path), "--input", str(inp), "--out", str(tmp_path / "up")]) == 0
    with fits.open(tmp_path / "up" / "a.fits") as hdul:
        data, h = hdul[0].data, hdul[0].header
    assert data.shape == (30, 30) and h["CDELT2"] == pytest.approx(0.05 / 3600) and h["CRPIX1"] == pytest.approx(15.5)
    assert h["BUNIT"] == "Jy/beam" and 5 < float(data.mean()) < 12  # back on the input's own scale
    assert main(["superres", "--checkpoint", str(path), "--input", str(inp / "b.npy"), "--out", str(tmp_path / "up"), "--format", "npy"]) == 0
    assert np.load(tmp_path / "up" / "b.npy").shape == (20, 24)
    assert main(["superres", "--checkpoint", str(path), "--input", str(tmp_path / "missing"), "--out", str(tmp_path / "up")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_equivariance_analysis_measures_the_upscaled_image():
    from core.analysis.equivariance import model_equivariance

    torch.manual_seed(0)
    model = build_model("equivariant_sr", {"fields": 1, "n_blocks": 1}).eval()
    report = model_equivariance(model, torch.rand(2, 1, 17, 17), angles=[0, 90, 45], flips=[False, True])
    up = report.curves["upscaled"]
    assert up.kind == "equivariant"
    assert np.nanmax(np.asarray(up.error)[:, :2]) < 1e-5  # 0 and 90 degrees, with and without the mirror
    assert np.asarray(up.error)[0, 2] > 1e-3  # 45 degrees is not a symmetry of the pixel grid


def test_mix_pairs_combines_folders_and_decimates(tmp_path):
    from core.data.pairs import decimate, load_pairs, mix_pairs, scan_pairs

    a = make_pair_folder(tmp_path / "a", n=4)
    b = make_pair_folder(tmp_path / "b", n=6, seed=1)
    manifest = json.loads(mix_pairs(tmp_path / "mix", [("a", a, None, False), ("b", b, 3, True)]).read_text())
    assert [(s["name"], s["n"], s["decimated_lr"]) for s in manifest["sources"]] == [("a", 4, False), ("b", 3, True)]
    assert manifest["command"].startswith("python -m core.data.pairs")
    index = scan_pairs(tmp_path / "mix")
    assert len(index) == 7
    X, Y, _ = load_pairs(index)
    assert X.shape == (7, 1, 12, 12) and Y.shape == (7, 1, 24, 24)
    hr = np.load(index.hr_files[-1])
    np.testing.assert_allclose(np.load(index.lr_files[-1]), decimate(hr), rtol=1e-6)
    assert decimate(np.arange(16.0).reshape(4, 4)).tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_a_decimated_mix_part_can_take_a_data_sets_noiseless_twins_as_hr(tmp_path):
    """configs/data/sr-mix-sky-train.toml: the real-sky simulator's twins (noiseless/<class>/<id>.npy) as HR, LR their
    block mean; ordered by id, so a limit takes both classes."""
    from core.data.pairs import decimate, mix_pairs, scan_pairs
    from core.errors import InputError

    sky = tmp_path / "sky"
    rng = np.random.default_rng(0)
    for i in range(6):
        path = sky / "noiseless" / ("lens" if i % 2 == 0 else "nonlens") / f"{i:06d}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rng.random((24, 24)).astype(np.float32))
    manifest = json.loads(mix_pairs(tmp_path / "mix", [("sky", sky, 4, True)]).read_text())
    assert [(s["name"], s["n"], s["decimated_lr"]) for s in manifest["sources"]] == [("sky", 4, True)]
    index = scan_pairs(tmp_path / "mix")
    assert sorted(p.parent.name for p in index.hr_files) == ["lens", "lens", "nonlens", "nonlens"]
    for lr, hr in zip(index.lr_files, index.hr_files, strict=True):
        np.testing.assert_allclose(np.load(lr), decimate(np.load(hr)), rtol=1e-6)
    with pytest.raises(InputError, match="neither lr/ and hr/ sub-folders nor noiseless twins"):
        mix_pairs(tmp_path / "mix2", [("empty", tmp_path / "nothing", None, True)])
