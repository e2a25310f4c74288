"""Ring means of group-pooled fields (`radial_blocks`, issue 26 item 3): an invariant that keeps the radius.

The latent stays exactly invariant under the grid's turns and flips, the rings average where
they should, a ring system at another radius gives another latent, and portable checkpoints and
the plain-torch export keep the option.
"""

from __future__ import annotations

import math

import pytest
import torch

from core import checkpoints as ck
from core.models import build_model
from core.models.equivariant import ring_weights
from core.models.export import export_for_serving

torch.set_num_threads(1)
TINY = {"image_size": 33, "group": "D4", "fields": (1, 2, 2), "latent_dim": 8, "decoder_channels": (8, 8, 8, 4),
        "radial_blocks": (1, 2)}


def tiny(**extra):
    torch.manual_seed(0)
    return build_model("equivariant_ae", {**TINY, **extra}).eval()


def ring_image(radius: float, size: int = 33, width: float = 1.5) -> torch.Tensor:
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    return torch.exp(-0.5 * ((torch.hypot(yy, xx) - radius) / width) ** 2)[None, None]


def test_ring_weights_average_each_integer_radius():
    w = ring_weights(9)
    assert w.shape == (5, 81) and torch.allclose(w.sum(1), torch.ones(5))
    assert w[0, 40] == 1.0  # the centre pixel alone is radius 0
    assert w[:, 0].sum() == 0  # corners outside the inscribed disc are left out
    profile = w @ ring_image(3.0, 9, 0.3).flatten()
    assert int(profile.argmax()) == 3


def test_latent_with_ring_means_is_exactly_invariant():
    model = tiny()
    assert model.encoder.out_dim == 2 * 2 + 2 * 1 * 9 + 2 * 2 * 5  # spatial means + rings of 17 px and 9 px grids
    x = torch.rand(3, 1, 33, 33, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z = model.encode(x)
        for t in (lambda a: torch.rot90(a, 1, dims=(-2, -1)), lambda a: torch.rot90(a, 2, dims=(-2, -1)),
                  lambda a: torch.flip(a, dims=(-1,)), lambda a: torch.flip(a, dims=(-2,))):
            assert float((model.encode(t(x)) - z).abs().max()) <= 1e-5 * float(z.abs().max())


def test_ring_means_tell_radii_apart_where_spatial_means_blur_them():
    """Two ring systems of the same total light at different radii: their latents differ more,
    relative to the latent's size, with the ring means than without."""
    a, b = ring_image(5.0), ring_image(10.0)
    b = b * a.sum() / b.sum()

    def gap(model):
        with torch.no_grad():
            inv_a, inv_b = model.encoder(a)[0], model.encoder(b)[0]
        return float((inv_a - inv_b).norm() / inv_a.norm())

    plain = tiny(radial_blocks=())
    radial = tiny()
    assert radial.encoder(a)[0].shape[1] > plain.encoder(a)[0].shape[1]
    assert gap(radial) > gap(plain)


def test_ring_means_size_with_the_early_pool():
    """Block 1's ring means are taken on its own grid, before the early pool halves it again."""
    model = tiny(image_size=65, early_pool=True, radial_blocks=(1, 2))
    assert model.encoder.out_dim == 2 * 2 + 2 * 1 * 17 + 2 * 2 * 5  # 65 -> 33 (17 radii) -> pool 17 -> 9 (5 radii)
    with torch.no_grad():
        assert model.encode(torch.rand(1, 1, 65, 65)).shape == (1, 8)


def test_radial_blocks_are_checked():
    with pytest.raises(ValueError, match="blocks between 1 and 3"):
        tiny(radial_blocks=(4,))


def test_portable_checkpoint_and_export_keep_the_ring_means(tmp_path):
    model = tiny()
    path = ck.save_checkpoint(tmp_path / "m.pt", model_name="equivariant_ae", config={**TINY},
                              state_dict=model.state_dict(), metrics={}, data_manifest={}, command="test", history={})
    x = torch.rand(2, 1, 33, 33, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = model(x)
        for export in (False, True):
            got = ck.load_model(path, export=export).model(x)
            assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max()), export
        served = export_for_serving(model)
        assert torch.allclose(served.encode(x), model.encode(x), atol=1e-6)


def test_profile_render_draws_rings_on_ellipses():
    """A profile peaked at radius 6 drawn face-on is a ring of radius 6; at cos(i) = 0.5 with the major axis
    along the width, the ring reaches 6 px along the width and 3 px along the height."""
    from core.models.decoder import ProfileRender

    render = ProfileRender(4, 33)
    n = render.radii
    with torch.no_grad():
        render.fc.weight.zero_()
        bias = torch.zeros(n + 3)
        bias[6] = 1.0
        bias[n + 1] = 1.0  # doubled angle 0: the major axis along the width
        bias[n] = 20.0  # cos(i) -> 1
        render.fc.bias.copy_(bias)
        face_on = render(torch.zeros(1, 4))[0, 0]
        bias[n] = math.log(0.35 / 0.5)  # sigmoid -> 0.35 / 0.85: cos(i) = 0.5
        render.fc.bias.copy_(bias)
        inclined = render(torch.zeros(1, 4))[0, 0]
    c = 16
    assert face_on[c, c + 6] == pytest.approx(1.0, abs=1e-3) and face_on[c + 6, c] == pytest.approx(1.0, abs=1e-3)
    assert face_on[c, c] == 0 and face_on[0, 0] == 0  # the centre and outside the last radius
    assert inclined[c, c + 6] == pytest.approx(1.0, abs=1e-3) and inclined[c + 3, c] == pytest.approx(1.0, abs=1e-3)
    assert inclined[c + 6, c] == 0 and inclined[c, c + 3] == 0


def test_profile_decoder_keeps_the_autoencoder_equivariant():
    model = tiny(profile_decoder=True)
    x = torch.rand(2, 1, 33, 33, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = model(x)
        y_rot = model(torch.rot90(x, 1, dims=(-2, -1)))
        names = [m.name for m in model.feature_maps(x)]
    assert float((y_rot - torch.rot90(y, 1, dims=(-2, -1))).abs().max()) <= 1e-5
    assert "decoder_profile" in names
