"""Models: exact invariance / equivariance on odd grids, feature maps, export, registry, baselines."""

import pytest
import torch

from core.escnn_setup import enn, make_gspace
from core.models import CONFIGS, FeatureMap, build_model
from core.models.equivariant import act_on_image, group_elements, rotate_image
from core.models.export import export_for_serving
from core.models.registry import is_equivariant, model_kind

torch.set_num_threads(1)

REL_TOL = 1e-5  # relative invariance / equivariance tolerance (float32) for 90-degree elements and flips

# Tiny configs at 33 px: three stride-2 blocks 33 -> 17 -> 9 -> 5; decoder 5 -> 9 -> 17 -> 33.
TINY = {
    "equivariant_ae": {"image_size": 33, "fields": (1, 2, 2), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)},
    "equivariant_classifier": {"image_size": 33, "fields": (1, 2, 2), "hidden": 8},
    "cnn_ae": {"image_size": 33, "channels": (2, 4, 4), "latent_dim": 4, "decoder_channels": (4, 4, 4, 4)},
    "cnn_classifier": {"image_size": 33, "channels": (2, 4, 4), "hidden": 8},
}


def tiny(name, **over):
    torch.manual_seed(0)
    return build_model(name, {**TINY[name], **over}).eval()


def images(size=33, n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g)


def transforms(group):
    """The 90-degree rotations (and, for D_N, the flips) as image maps, named."""
    out = [(f"rot{90 * k}", lambda t, k=k: torch.rot90(t, k, dims=(-2, -1))) for k in (1, 2, 3)]
    if group.startswith("D"):
        out += [("flip_w", lambda t: torch.flip(t, dims=(-1,))), ("flip_h", lambda t: torch.flip(t, dims=(-2,)))]
    return out


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


# --- group action -------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["C4", "D4", "D8"])
def test_group_elements_act_like_escnn(group):
    """Our image action of each element (for 90-degree multiples) is escnn's transform of a trivial field."""
    gs = make_gspace(group)
    x = images(9, n=1)
    gx = enn.GeometricTensor(x, enn.FieldType(gs, [gs.trivial_repr]))
    checked = 0
    for g, (flip, angle) in zip(gs.fibergroup.elements, group_elements(group), strict=True):
        if angle % 90:
            continue
        assert torch.allclose(act_on_image(x, flip, angle), gx.transform(g).tensor, atol=1e-6), (g, flip, angle)
        checked += 1
    assert checked == (8 if group.startswith("D") else 4)


def test_off_grid_rotation_commutes_with_rot90():
    """Bilinear rotation by 45 degrees about the centre of an odd grid commutes with rot90 to float rounding."""
    x = images(17, n=2)
    a = rotate_image(torch.rot90(x, 1, dims=(-2, -1)), 45.0)
    b = torch.rot90(rotate_image(x, 45.0), 1, dims=(-2, -1))
    assert (a - b).abs().max() < 1e-6
    assert (rotate_image(x, 135.0) - torch.rot90(rotate_image(x, 45.0), 1, dims=(-2, -1))).abs().max() < 1e-6
    assert not torch.allclose(rotate_image(x, 45.0), x, atol=1e-2)


# --- invariance and equivariance ----------------------------------------------------------------


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_equivariant_ae_latent_is_invariant(group):
    model, x = tiny("equivariant_ae", group=group), images()
    with torch.no_grad():
        z = model.encode(x)
        for name, t in transforms(group):
            assert rel_err(model.encode(t(x)), z) < REL_TOL, name


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_equivariant_classifier_logits_and_embedding_are_invariant(group):
    model, x = tiny("equivariant_classifier", group=group), images()
    with torch.no_grad():
        logits, emb = model(x), model.embed(x)
        for name, t in transforms(group):
            assert rel_err(model(t(x)), logits) < REL_TOL, name
            assert rel_err(model.embed(t(x)), emb) < REL_TOL, name


@pytest.mark.parametrize("group,standardize", [("C4", True), ("D4", True), ("D4", False), ("D8", True)])
def test_equivariant_ae_reconstruction_follows_the_input(group, standardize):
    """recon(h.x) = h.recon(x) for 90-degree rotations and flips (D8 also mixes 45-degree copies)."""
    model, x = tiny("equivariant_ae", group=group, pose_standardize=standardize), images()
    with torch.no_grad():
        recon = model(x)
        canonical = model.decode(model.encode(x))
        assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
        for name, t in transforms(group):
            assert (model(t(x)) - t(recon)).abs().max() < REL_TOL, name
            assert (model.decode(model.encode(t(x))) - canonical).abs().max() < REL_TOL, name  # canonical: invariant


def test_sharp_pose_gives_an_oriented_reconstruction():
    """With a sharp pose softmax the reconstruction is one oriented copy of c, not a symmetrised blur,
    and it still follows the input exactly: the equivariance test above is not satisfied trivially."""
    model, x = tiny("equivariant_ae", group="C4", pose_standardize=True, pose_temperature=0.01), images()
    with torch.no_grad():
        recon = model(x)
        asym = (recon - torch.rot90(recon, 1, dims=(-2, -1))).abs().max()
        err = (model(torch.rot90(x, 1, dims=(-2, -1))) - torch.rot90(recon, 1, dims=(-2, -1))).abs().max()
    assert asym > 1e-3 and err < REL_TOL and asym > 1000 * err


def test_invariance_holds_in_train_mode_too():
    """With batch statistics (train mode) the latent of a rotated batch is still the same."""
    model, x = tiny("equivariant_ae", group="D4").train(), images(n=4)
    with torch.no_grad():
        assert rel_err(model.encode(torch.rot90(x, 1, dims=(-2, -1))), model.encode(x)) < REL_TOL


def test_even_grid_breaks_exact_invariance():
    """A deliberately broken input (32 px: even grids under stride 2) is NOT invariant: the test can fail."""
    model, x = tiny("equivariant_classifier", group="C4"), images(32)
    with torch.no_grad():
        err = rel_err(model.embed(torch.rot90(x, 1, dims=(-2, -1))), model.embed(x))
    assert err > 1e-3


def test_baseline_cnn_is_not_invariant():
    model, x = tiny("cnn_ae"), images()
    with torch.no_grad():
        assert rel_err(model.encode(torch.rot90(x, 1, dims=(-2, -1))), model.encode(x)) > 1e-3


# --- feature maps -------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_regular_feature_maps_permute_under_rotation(group):
    """Rotating the input by h rotates each map and moves field f's channel g to channel h*g (regular rep)."""
    model, x = tiny("equivariant_ae", group=group), images(n=1)
    G = make_gspace(group).fibergroup
    els = list(G.elements)
    h = next(e for e, (flip, angle) in zip(els, group_elements(group), strict=True) if not flip and angle == 90.0)
    perm = [els.index(h @ g) for g in els]  # channel g moves to perm[g]
    with torch.no_grad():
        maps = model.feature_maps(x)
        maps_r = model.feature_maps(torch.rot90(x, 1, dims=(-2, -1)))
    regular = [m for m in maps if m.group_order]
    assert {m.name for m in regular} >= {"block1", "block2", "block3", "pose_field"}
    for m, mr in zip(maps, maps_r, strict=True):
        if not m.group_order:
            continue
        B, C, H, W = m.tensor.shape
        n = m.group_order
        assert n == G.order() and C % n == 0
        old = torch.rot90(m.tensor, 1, dims=(-2, -1)).view(B, C // n, n, H, W)
        new = mr.tensor.view(B, C // n, n, H, W)
        expected = torch.empty_like(old)
        expected[:, :, perm] = old
        assert (new - expected).abs().max() <= REL_TOL * old.abs().max(), m.name
        if group == "C4":  # cyclic shift of the group axis by one
            assert torch.allclose(new, torch.roll(old, 1, dims=2), atol=1e-5)


@pytest.mark.parametrize("name", list(TINY))
def test_feature_maps_cover_every_layer(name):
    model, x = tiny(name), images(n=2)
    with torch.no_grad():
        maps = model.feature_maps(x)
    assert all(isinstance(m, FeatureMap) and m.tensor.dim() == 4 and m.tensor.shape[0] == 2 for m in maps)
    assert len({m.name for m in maps}) == len(maps)
    assert maps[0].tensor.shape[-1] == 17  # first stride-2 layer
    assert model.image_size == 33
    assert model.kind == ("autoencoder" if name.endswith("_ae") else "classifier")
    if name.startswith("equivariant"):
        assert maps[0].group_order == 16 and maps[0].tensor.shape[1] == 1 * 16  # D8 default: |G| = 16, 1 field
    else:
        assert all(m.group_order is None for m in maps)
    if model.kind == "autoencoder":
        assert maps[-1].name == "reconstruction" and maps[-1].tensor.shape == x.shape


# --- export and state -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TINY))
def test_export_gives_the_same_outputs(name):
    model, x = tiny(name, **({"group": "D4"} if name.startswith("equivariant") else {})), images()
    served = export_for_serving(model)
    assert not any(isinstance(m, enn.EquivariantModule) for m in served.modules())
    assert any(isinstance(m, enn.EquivariantModule) for m in model.modules()) == name.startswith("equivariant")
    with torch.no_grad():
        assert torch.allclose(served(x), model(x), atol=1e-5)
        if model.kind == "autoencoder":
            assert torch.allclose(served.encode(x), model.encode(x), atol=1e-5)
            z = model.encode(x)
            assert torch.allclose(served.decode(z), model.decode(z), atol=1e-5)
        else:
            assert torch.allclose(served.embed(x), model.embed(x), atol=1e-5)
        maps, maps_s = model.feature_maps(x), served.feature_maps(x)
    assert [(m.name, m.group_order) for m in maps] == [(m.name, m.group_order) for m in maps_s]
    for a, b in zip(maps, maps_s, strict=True):
        assert torch.allclose(a.tensor, b.tensor, atol=1e-5), a.name
    assert served.image_size == model.image_size and served.kind == model.kind


def test_exported_model_stays_invariant():
    served, x = export_for_serving(tiny("equivariant_classifier", group="D4")), images()
    with torch.no_grad():
        for name, t in transforms("D4"):
            assert rel_err(served(t(x)), served(x)) < REL_TOL, name


def test_state_dict_loads_across_train_and_eval_modes():
    """escnn keeps expanded filters as buffers in eval mode only; our state_dicts leave them out."""
    trained = tiny("equivariant_ae", group="C4").train()
    with torch.no_grad():  # move the weights away from their initial values
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    sd_train = trained.state_dict()
    trained.eval()
    sd_eval = trained.state_dict()
    assert set(sd_train) == set(sd_eval) and not any(k.endswith(".filter") for k in sd_eval)
    fresh = tiny("equivariant_ae", group="C4")  # eval mode, other weights
    fresh.load_state_dict(sd_train)
    x = images()
    with torch.no_grad():
        assert torch.allclose(fresh(x), trained(x), atol=1e-6)
    with pytest.raises(RuntimeError, match="missing"):
        fresh.load_state_dict({k: v for k, v in sd_train.items() if "to_latent" not in k})


# --- registry and configs -------------------------------------------------------------------------


def test_registry_rejects_unknown_names_and_settings():
    with pytest.raises(ValueError, match="Unknown model 'vae'; use one of equivariant_ae, cnn_ae"):
        build_model("vae", {})
    with pytest.raises(ValueError, match="Unknown setting\\(s\\) widht for CNNClassifierConfig"):
        build_model("cnn_classifier", {"widht": 3})
    with pytest.raises(ValueError, match="Image size 128 does not keep every one of the 4 stride-2 layers on an odd grid"):
        build_model("cnn_ae", {"image_size": 128})
    with pytest.raises(ValueError, match="Unknown group"):
        build_model("equivariant_classifier", {"group": "SO2", "image_size": 33, "fields": (1, 1, 1)})


@pytest.mark.parametrize("name", list(TINY))
def test_config_round_trips_through_plain_values(name):
    cfg = CONFIGS[name].from_dict(TINY[name])
    plain = cfg.to_dict()
    assert all(isinstance(v, (int, float, str, bool, list)) for v in plain.values())
    assert CONFIGS[name].from_dict(plain) == cfg
    model = build_model(name, plain)
    assert model.config == cfg
    assert model.kind == model_kind(name)  # the registry's kind and the model's own agree
    assert is_equivariant(name) == any(isinstance(m, enn.EquivariantModule) for m in model.modules())


def test_baselines_match_parameter_counts_at_default_configs():
    def count(name):
        return sum(p.numel() for p in build_model(name).parameters())

    for eq, cnn in [("equivariant_ae", "cnn_ae"), ("equivariant_classifier", "cnn_classifier")]:
        ratio = count(cnn) / count(eq)
        assert 0.9 <= ratio <= 1.1, (eq, cnn, ratio)


@pytest.mark.slow
def test_default_d8_models_are_exact_at_129_px():
    """Shipped defaults (D8, 129 px): invariant latent and logits, equivariant reconstruction."""
    x = images(129, n=2)
    ae = build_model("equivariant_ae").eval()
    clf = build_model("equivariant_classifier").eval()
    with torch.no_grad():
        z, recon, logits = ae.encode(x), ae(x), clf(x)
        for name, t in transforms("D8"):
            assert rel_err(ae.encode(t(x)), z) < REL_TOL, name
            assert rel_err(clf(t(x)), logits) < REL_TOL, name
            assert (ae(t(x)) - t(recon)).abs().max() < REL_TOL, name
        x_even = torch.nn.functional.interpolate(x, size=(128, 128), mode="bilinear")  # even grid: broken on purpose
        z_even = ae.encode(x_even)
        assert rel_err(ae.encode(torch.rot90(x_even, 1, dims=(-2, -1))), z_even) > 1e-3


def test_orbit_is_the_group_action_on_each_element():
    model, c = tiny("equivariant_ae", group="D8"), images(n=2)
    orbit = model.orbit(c)
    assert orbit.shape == (2, 16, 33, 33)
    for g, (flip, angle) in enumerate(group_elements("D8")):
        assert torch.equal(orbit[:, g : g + 1], act_on_image(c, flip, angle)), (flip, angle)
