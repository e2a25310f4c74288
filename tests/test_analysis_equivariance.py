"""Equivariance measures: exact zero where the symmetry is exact, large where it is broken.

Tolerances: float32 models on odd grids are exact to rounding for 90-degree rotations and
flips, so relative errors there must be <= 1e-5 (observed ~5e-7).
"""

import numpy as np
import pytest
import torch
from analysis_fixtures import disk_like, tiny_loaded

from core.analysis.equivariance import (
    disc_mask,
    equivariance_curve,
    equivariance_error,
    group_permutation,
    model_equivariance,
    parse_angles,
    per_image,
    relative_error,
)
from core.analysis.orbit import image_orbit
from core.data.preprocess import prepare_batch
from core.errors import InputError
from core.escnn_setup import enn, make_gspace

torch.set_num_threads(1)
EXACT = 1e-5
RIGHT = [0.0, 90.0, 180.0, 270.0]


def images(n=3, size=33):
    rng = np.random.default_rng(0)
    return prepare_batch([disk_like(40, rng, r) for r in np.linspace(6, 12, n)], size)  # (n, 1, S, S)


def test_identity_is_equivariant_at_every_angle():
    curve = equivariance_curve(lambda t: t, images(), [0, 17, 45, 90, 133], flips=[False, True], kind="equivariant")
    assert curve.error.shape == (2, 5)
    assert curve.error.max() < 1e-12


def test_a_fixed_weight_breaks_equivariance():
    ramp = torch.linspace(0.1, 1, 33)
    weight = (ramp.view(33, 1) * ramp.view(1, 33) ** 2).view(1, 1, 33, 33)  # no rotation or mirror symmetry
    curve = equivariance_curve(lambda t: t * weight, images(), RIGHT, flips=[False, True], kind="equivariant")
    assert curve.error[0, 0] < 1e-12  # the identity element
    assert curve.error[0, 1:].min() > 0.3 and curve.error[1].min() > 0.3


def test_invariant_kind_compares_with_the_untransformed_output():
    mean = equivariance_curve(lambda t: t.mean((2, 3)), images(), RIGHT, flips=[False, True])
    assert mean.error.max() < 1e-6  # the image mean is invariant to exact rotations and flips
    first_row = equivariance_curve(lambda t: t[:, :, 10], images(), RIGHT)
    assert first_row.error[0, 1:].min() > 0.1


@pytest.mark.parametrize("group", ["C4", "D4", "C8"])
def test_regular_field_permutation_matches_escnn(group):
    """An escnn R2Conv's regular-field output passes with the permutation and fails without it."""
    gs = make_gspace(group)
    order = gs.fibergroup.order()
    t_in, t_out = enn.FieldType(gs, [gs.trivial_repr]), enn.FieldType(gs, 2 * [gs.regular_repr])
    torch.manual_seed(0)
    conv = enn.R2Conv(t_in, t_out, kernel_size=5, padding=2).eval()

    def fn(x):
        return conv(enn.GeometricTensor(x, t_in)).tensor

    flips = [False, True] if group.startswith("D") else [False]
    good = equivariance_curve(fn, images(), RIGHT, flips, "equivariant", group=group, group_order=order)
    assert good.error.max() < EXACT and not good.pooled.any()
    plain = equivariance_curve(fn, images(), RIGHT, flips, "equivariant")  # treated as plain channels
    assert plain.error[0, 1:].min() > 0.05


def test_permutations_exist_only_for_group_elements():
    assert group_permutation("C8", 45, False).shape == (8, 8)
    assert group_permutation("C8", 30, False) is None
    assert group_permutation("C8", 90, True) is None  # no flips in C_N
    p = group_permutation("D4", 90, True)
    assert p.shape == (8, 8) and torch.equal(p @ p.T, torch.eye(8))
    assert torch.equal(group_permutation("D4", 0, False), torch.eye(8))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("eqv")
    return {
        "eq_ae": tiny_loaded(root, "equivariant_ae", group="D4"),
        "cnn_ae": tiny_loaded(root, "cnn_ae"),
        "eq_clf": tiny_loaded(root, "equivariant_classifier", group="C8"),
    }


def test_equivariant_ae_is_exact_at_right_angles_and_flips(models):
    rep = model_equivariance(models["eq_ae"], images(), [0, 45, 90, 180, 270], flips=[False, True])
    assert rep.group == "D4"
    assert {"latent", "reconstruction", "map:block1", "map:block3", "map:pose_field", "map:group_max"} <= set(rep.curves)
    assert not any(name.startswith("map:decoder") for name in rep.curves)
    right = [0, 2, 3, 4]
    for name, curve in rep.curves.items():
        assert curve.error[:, right].max() < EXACT, name
    assert rep.curves["map:block1"].pooled[:, 1].all()  # 45 degrees is not in D4
    assert rep.curves["latent"].error[:, 1].min() > 1e-4  # and is only approximate


def test_cnn_ae_is_not_equivariant(models):
    rep = model_equivariance(models["cnn_ae"], images(), RIGHT, flips=[False, True])
    assert rep.group is None
    assert rep.curves["latent"].error[0, 1:].min() > 1e-3
    assert rep.curves["map:block1"].error[0, 1:].min() > 0.1
    assert rep.feature_map_mean()[0, 1:].min() > 0.1


def test_c8_classifier_permutes_at_45_degrees_but_not_under_flips(models):
    rep = model_equivariance(models["eq_clf"], images(), [45.0, 90.0], flips=[False, True])
    assert set(rep.curves) >= {"latent", "logits", "map:block1"}
    assert not rep.curves["map:block1"].pooled[0].any()  # 45 deg is in C8: permutation used
    assert rep.curves["map:block1"].pooled[1].all()  # flips are not in C8
    assert rep.curves["logits"].error[0, 1] < EXACT
    assert rep.curves["logits"].error[1].min() > 1e-4


def test_orbit_collapses_for_equivariant_model_only(models):
    image = disk_like(40, np.random.default_rng(3), 9.0)
    eq = image_orbit(models["eq_ae"], image, step_deg=90, flips=True)
    cnn = image_orbit(models["cnn_ae"], image, step_deg=90, flips=True)
    assert len(eq.angles) == 8 and eq.flips == [False] * 4 + [True] * 4
    assert eq.latent_spread <= 1e-5
    assert cnn.latent_spread > 1e-4
    assert eq.map_spread is None and eq.coords is None


def test_orbit_on_a_map(models):
    from core.analysis.encode import encode_images
    from core.analysis.tsne_map import TSNESettings, fit_map

    rng = np.random.default_rng(0)
    ref = [disk_like(40, rng, r) for r in rng.uniform(4, 14, 20)]
    lmap = fit_map(encode_images(models["cnn_ae"], ref), settings=TSNESettings(early_exaggeration_iter=50, n_iter=100))
    orbit = image_orbit(models["cnn_ae"], ref[0], lmap=lmap, step_deg=45, flips=False)
    assert orbit.coords.shape == (8, 2) and orbit.map_spread > 0.01 and orbit.data_spread > 0.01
    assert np.allclose(orbit.coords, lmap.place(orbit.z))


def test_equivariance_error_of_one_element_is_the_reconstruction_curve(models):
    """The pages' and the super-resolution benchmark's measure gives the curves' number for the same element."""
    from core.data.transforms import apply_group_element

    x = images() * disc_mask(33).to(torch.float32)
    for name in ("eq_ae", "cnn_ae"):
        pair = equivariance_error(models[name].model, lambda t: apply_group_element(t, 90.0, True), x, disc_mask(33, 0.8))
        assert pair.gx.shape == pair.f_gx.shape == pair.g_fx.shape == x.shape and pair.error.shape == (3,)
        assert torch.equal(pair.gx, apply_group_element(x, 90.0, True))
        curve = model_equivariance(models[name], images(), [90.0], flips=[True], include_maps=False).curves["reconstruction"]
        if name == "eq_ae":
            assert pair.error.max() < EXACT and curve.error_max[0, 0] < EXACT
        else:
            assert pair.error.mean() == pytest.approx(curve.error[0, 0], rel=1e-4) and pair.error.min() > 0.01


def test_equivariance_error_of_a_per_image_function():
    x = torch.arange(20.0).reshape(1, 1, 4, 5)  # not square: an upscaler's LR need not be

    def g(t):
        return torch.rot90(t, 1, dims=(-2, -1))

    doubled = equivariance_error(per_image(lambda a: np.kron(a, np.ones((2, 2), np.float32))), g, x)
    assert doubled.f_gx.shape == (1, 1, 10, 8) and doubled.error[0] == 0.0  # x2 nearest upscaling commutes with rot90
    shifted = per_image(lambda a: np.roll(a, 1, axis=1))  # not equivariant
    pair = equivariance_error(shifted, g, x)
    f_gx, g_fx = shifted(g(x)), g(shifted(x))
    assert pair.error[0] == pytest.approx(float((f_gx - g_fx).norm() / g_fx.norm())) and pair.error[0] > 0.1


def test_disc_mask_and_relative_error():
    m = disc_mask(5, 1.0)
    assert m.sum() == 13 and m[2, 0] and not m[0, 0]  # radius 2 about the centre pixel
    assert disc_mask(33, 0.5).sum() < disc_mask(33, 1.0).sum()
    a, b = torch.ones(2, 3), torch.full((2, 3), 2.0)
    assert relative_error(a, b).tolist() == pytest.approx([0.5, 0.5])


def test_parse_angles():
    assert parse_angles("0:360:90") == [0.0, 90.0, 180.0, 270.0]
    assert parse_angles("0:10:2.5") == [0.0, 2.5, 5.0, 7.5]
    with pytest.raises(InputError, match=r"^Angles '0:360' are not START:STOP:STEP in degrees with STOP > START and STEP > 0, e\.g\. 0:360:15\.$"):
        parse_angles("0:360")
    with pytest.raises(InputError):
        parse_angles("0:360:-5")


def test_c8_permutation_at_45_degrees_is_the_right_one():
    """45 degrees is only approximate on the pixel grid, but escnn's permutation must fit far better
    than the inverse element's: the convention (direction of rotation) is tested off the right angles too."""
    from core.analysis.equivariance import act_on_map
    from core.data.transforms import apply_group_element

    gs = make_gspace("C8")
    t_in, t_out = enn.FieldType(gs, [gs.trivial_repr]), enn.FieldType(gs, 2 * [gs.regular_repr])
    torch.manual_seed(0)
    conv = enn.R2Conv(t_in, t_out, kernel_size=5, padding=2).eval()
    x = images() * disc_mask(33).to(torch.float32)
    with torch.no_grad():
        y = conv(enn.GeometricTensor(x, t_in)).tensor
        y_rot = conv(enn.GeometricTensor(apply_group_element(x, 45, False), t_in)).tensor
    mask = disc_mask(33, 0.8)
    p = group_permutation("C8", 45, False)
    right = relative_error(y_rot, act_on_map(y, 45, False, 8, p), mask).mean()
    inverse = relative_error(y_rot, act_on_map(y, 45, False, 8, p.T), mask).mean()
    assert right < 0.1 and inverse > 3 * right
