"""A K-fold ensemble is offered wherever an autoencoder is chosen, and the Reconstruct page shows its average."""

from __future__ import annotations

import io

import numpy as np
import torch
from astropy.io import fits

from tests.test_pages import TINY, app, disk_image, downloads, open_page, tiny_index, with_image  # noqa: F401

ENSEMBLE = "disks-ae-ensemble"


def add_ensemble(folder) -> list[torch.nn.Module]:
    """A 2-member ensemble of the tiny equivariant AE registered in `folder` (the runs/ the app lists)."""
    from core.checkpoints import register, save_checkpoint
    from core.models.registry import build_model

    model_name, config, _ = TINY["disks-ae-equivariant"]
    members = []
    for seed in (10, 11):
        torch.manual_seed(seed)
        members.append(build_model(model_name, config).eval())
    path = save_checkpoint(folder / f"{ENSEMBLE}.pt", model_name=model_name, config=config,
                           state_dict=[m.state_dict() for m in members], metrics={},
                           data_manifest={"generator": "disks", "n": 12}, command="test", history={})
    register(path, ENSEMBLE)
    return members


def fits_data(downloads, at, index: int) -> np.ndarray:
    with fits.open(io.BytesIO(downloads[at.get("download_button")[index].proto.url])) as hdul:
        return np.asarray(hdul[0].data, dtype=np.float32)


def test_the_reconstruct_page_offers_the_ensemble_and_shows_the_mean_of_its_members(app, downloads, tmp_path):
    from core.data.cutout import cutout

    members = add_ensemble(tmp_path / "runs")
    at = open_page(with_image(app, disk_image()), "pages/reconstruct.py")
    picker = at.selectbox(key="recon_model_eq")
    assert ENSEMBLE in picker.options and picker.value == "disks-ae-equivariant"  # offered; the single model stays the default
    at.selectbox(key="recon_model_eq").set_value(ENSEMBLE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == ENSEMBLE
    assert any("ensemble of 2" in c.value for c in at.caption)
    x = torch.from_numpy(cutout(disk_image(), 33).image)[None, None]
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(0).clamp(0, 1)[0, 0].numpy()
        first = members[0](x).clamp(0, 1)[0, 0].numpy()
    shown = fits_data(downloads, at, 0)
    np.testing.assert_allclose(shown, expected, atol=1e-5)
    assert np.abs(shown - first).max() > 1e-3


def test_every_autoencoder_picker_lists_the_ensemble(app, tmp_path):
    add_ensemble(tmp_path / "runs")
    for page in ("pages/feature_maps.py", "pages/equivariance.py", "pages/latent_map.py"):
        at = open_page(with_image(app, disk_image()), page)
        boxes = [b for b in at.selectbox if "disks-ae-equivariant" in b.options]
        assert boxes, page
        assert all(ENSEMBLE in b.options for b in boxes), page
