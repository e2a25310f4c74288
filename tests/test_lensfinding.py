"""Lens finding: the simulator's physics (core.data.lensfinding), its simulate hook, and DANN training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.data import lensfinding as lf

torch.set_num_threads(1)


def _flux_expected(p: lf.LensFindingParams, galaxy: lf.Galaxy) -> float:
    """Total e-/s of a galaxy of this magnitude in the domain's band (zero point = 1 e-/s)."""
    return 10 ** (-0.4 * (galaxy.magnitude - lf.band(p)["magnitude_zero_point"]))


def _compact(p: lf.LensFindingParams, theta_e: float = 0.8) -> lf.LensFindingParams:
    """The system with a small source and (if it has a mass) a given Einstein radius, so all its light is in the field."""
    mass = None if p.mass is None else {**p.mass, "theta_E": theta_e}
    sources = [replace(s, r_sersic=0.15, n_sersic=1.0) for s in p.sources]
    if p.kind == "lens":
        sources = [replace(s, x=0.3 * theta_e * s.x / max(np.hypot(s.x, s.y), 1e-9), y=0.3 * theta_e * s.y / max(np.hypot(s.x, s.y), 1e-9))
                   for s in sources]
    return replace(p, mass=mass, sources=sources)


@pytest.mark.parametrize("domain", lf.DOMAINS)
@pytest.mark.parametrize("seed", range(4))
def test_a_lens_has_two_or_more_images_and_its_source_is_magnified(domain, seed):
    p = lf.sample_params(domain, "lens", np.random.default_rng(seed), 64)
    x, y = lf.image_positions(p)
    assert len(x) >= 2  # the source lies inside the caustic: 2 or 4 images
    assert p.mass["theta_E"] >= lf.THETA_E_RANGE[0]
    q = _compact(p)
    flux = lf.components(q)["sources"].sum()
    assert flux > 2.0 * _flux_expected(q, q.sources[0])  # SIS: total magnification 2 theta_E / beta > 2


@pytest.mark.parametrize("seed", range(6))
def test_non_lenses_have_no_multiple_images(seed):
    for kind in ("outside", "blend"):
        p = lf.sample_params("easy", kind, np.random.default_rng(seed), 64)
        for i in range(len(p.sources)):
            x, y = lf.image_positions(p, i)
            assert len(x) <= 1, (kind, len(x))  # outside the caustics: one image (the solver may miss it)
            if p.mass is not None and len(x):
                from lenstronomy.LensModel.lens_model import LensModel

                models, kwargs = lf.lens_model(p)
                assert abs(LensModel(models).magnification(x, y, kwargs)[0]) < 2.5  # weakly magnified, no arc
    field = _compact(lf.sample_params("hard", "field", np.random.default_rng(seed), 64))
    assert field.mass is None and field.deflector is None and lf.lens_model(field) == ([], [])
    x, y = lf.image_positions(field)
    assert (x.tolist(), y.tolist()) == ([field.sources[0].x], [field.sources[0].y])  # the unlensed position
    # the source light is the unlensed profile: its flux is exactly the magnitude's, nothing magnified
    assert lf.components(field)["sources"].sum() == pytest.approx(_flux_expected(field, field.sources[0]), rel=0.02)


@pytest.mark.parametrize("domain", lf.DOMAINS)
def test_the_lens_galaxy_is_the_same_in_a_lens_and_its_no_source_twin(domain):
    lens = lf.sample_params(domain, "lens", np.random.default_rng(7), 32)
    twin = lf.sample_params(domain, "no_source", np.random.default_rng(7), 32)
    assert twin.deflector == lens.deflector and twin.sources == [] and twin.mass is None and twin.label == "nonlens"
    a, b = lf.components(lens), lf.components(twin)
    np.testing.assert_array_equal(a["deflector"], b["deflector"])
    assert a["sources"].sum() > 0 and b["sources"].sum() == 0
    noiseless = lf.render(lens, None, noise=False)
    np.testing.assert_allclose(noiseless - lf.render(twin, None, noise=False), lf.bin_to_grid(a["sources"], 32), atol=1e-5)


def test_the_domains_differ_in_resolution_and_noise_on_the_same_grid():
    easy = lf.sample_params("easy", "no_source", np.random.default_rng(3), 32)
    hard = replace(easy, domain="hard", seeing=0.18)
    e, h = lf.render(easy, np.random.default_rng(0)), lf.render(hard, np.random.default_rng(0))
    assert e.shape == h.shape == (32, 32)
    assert lf.native_pixels(easy) == 64 and lf.native_pixels(hard) == 32
    snr = [im.max() / im[:6, :6].std() for im in (e, h)]  # peak over sky noise
    assert snr[0] > 2 * snr[1]
    sharpness = [im.max() / im.sum() for im in (lf.render(easy, None, noise=False), lf.render(hard, None, noise=False))]
    assert sharpness[0] > 1.2 * sharpness[1]  # the easy PSF (0.09") against the hard one (0.18")


def test_simulate_writes_class_folders_and_a_manifest_and_needs_a_domain(tmp_path):
    from core.data.dataset_writer import simulate_dataset

    manifest = json.loads(simulate_dataset("lensfinding", 4, 24, seed=1, out=tmp_path / "lf", progress=False, preset="hard").read_text())
    assert manifest["generator"] == "lensfinding" and manifest["preset"] == "hard" and manifest["classes"] == ["lens", "nonlens"]
    assert [e["file"] for e in manifest["images"]] == ["lens/000000.npy", "nonlens/000001.npy", "lens/000002.npy", "nonlens/000003.npy"]
    assert manifest["images"][1]["params"]["kind"] in lf.NONLENS_KINDS
    assert np.load(tmp_path / "lf" / "lens" / "000000.npy").shape == (24, 24)
    with pytest.raises(ValueError, match="domain"):
        simulate_dataset("lensfinding", 2, 24, out=tmp_path / "x", progress=False)


def test_gradient_reversal_flips_and_scales_the_gradient():
    from core.train.domain import GradientReversal

    x = torch.ones(3, requires_grad=True)
    GradientReversal.apply(x, 0.5).sum().backward()
    assert x.grad.tolist() == [-0.5, -0.5, -0.5]


@pytest.fixture(scope="module")
def finding_sets(tmp_path_factory):
    from core.data.dataset_writer import simulate_dataset

    root = tmp_path_factory.mktemp("lf")
    for domain in lf.DOMAINS:
        simulate_dataset("lensfinding", 24, 24, seed=2, out=root / domain, progress=False, preset=domain)
    return root


def test_dann_trains_logs_the_domain_loss_and_stores_both_rocs(tmp_path, finding_sets, capsys):
    from core.checkpoints import read_checkpoint
    from core.train.config import TrainConfig
    from core.train.fit import fit

    cfg = TrainConfig(data=str(finding_sets / "easy"), model="equivariant_classifier", epochs=2, batch_size=8,
                      model_config={"image_size": 25, "fields": [2, 2, 2], "group": "C4", "hidden": 8},
                      domain_adaptation="dann", target_data=str(finding_sets / "hard"), test_data=str(finding_sets / "easy"),
                      target_test_data=str(finding_sets / "hard"), val_fraction=0.25, out=str(tmp_path), work_dir=str(tmp_path / "w"),
                      name="tiny-finder", threads=1)
    path = fit(cfg)
    log = capsys.readouterr().err
    assert " domain 0." in log and "lambda" in log  # the domain loss of each epoch is in the log
    payload = read_checkpoint(path)
    assert len(payload["history"]["train_domain"]) == 2 and 0.0 < payload["history"]["train_domain"][-1] < 2.0
    assert not any("domain_head" in k for k in payload["members"][0])  # only the classifier is saved
    for key in ("test", "test_target"):
        m = payload["metrics"][key]
        assert m["positive_class"] == "lens" and 0.0 <= m["auroc"] <= 1.0
        assert len(m["roc"]["fpr"]) == len(m["roc"]["tpr"]) and m["roc"]["tpr"][-1] == 1.0


def test_adabn_recalibrates_batch_norm_on_target_images_only():
    from torch.utils.data import TensorDataset

    from core.train import domain

    source = TensorDataset(torch.zeros(6, 1, 5, 5), torch.zeros(6, dtype=torch.int64))
    target = torch.ones(4, 1, 5, 5)
    assert domain.bn_images(source, None) is source
    assert domain.bn_images(source, target, "adabn")[:][0].eq(1).all()  # the target's images alone
    mixed = domain.bn_images(source, target, "dann")[:][0]
    assert mixed[0::2].eq(0).all() and mixed[1::2].eq(1).all() and len(mixed) == 8  # source, target, source, ...


def test_domain_adaptation_needs_target_images():
    from core.errors import InputError
    from core.train import domain
    from core.train.config import TrainConfig

    with pytest.raises(InputError, match="target_data"):
        domain.check(TrainConfig(data="x", domain_adaptation="dann"))
    with pytest.raises(InputError, match="Unknown domain_adaptation"):
        domain.check(TrainConfig(data="x", domain_adaptation="mmd"))
