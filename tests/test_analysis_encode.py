"""Latents of a data set: cached by checkpoint sha256 + data fingerprint, never stale, verified on read."""

import numpy as np
import pytest
import torch
from analysis_fixtures import disk_like, tiny_checkpoint, tiny_dataset, tiny_loaded

from core.analysis.encode import encode_dataset, encode_images, reconstruct
from core.checkpoints import load_model
from core.data.datasets import scan_dataset
from core.errors import InputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    data = tiny_dataset(root / "data", n_per_class=3)
    return load_model(tiny_checkpoint(root, "equivariant_ae", group="C4")), scan_dataset(data), root


def test_cache_miss_then_hit_with_identical_latents(setup, tmp_path):
    loaded, index, _ = setup
    calls = []
    first = encode_dataset(loaded, index, batch_size=4, cache_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert not first.from_cache and first.notes == []
    assert first.z.shape == (6, 4) and first.z.dtype == np.float32
    assert first.labels == ["planets_0"] * 3 + ["planets_1"] * 3
    assert calls[-1][:2] == (6, 6) and len(calls) == 2  # one call per batch of 4
    second = encode_dataset(loaded, index, cache_dir=tmp_path)
    assert second.from_cache and np.array_equal(second.z, first.z)
    # the cache holds what the model computes now, image by image
    direct = encode_images(loaded, [np.load(f) for f in index.files])
    np.testing.assert_allclose(first.z, direct, atol=1e-6)


def test_changed_checkpoint_is_recomputed(setup, tmp_path):
    loaded, index, root = setup
    a = encode_dataset(loaded, index, cache_dir=tmp_path)
    other = load_model(tiny_checkpoint(root, "equivariant_ae", seed=1, group="C4"))  # retrained: new weights
    assert other.sha256 != loaded.sha256
    b = encode_dataset(other, index, cache_dir=tmp_path)
    assert not b.from_cache and not np.allclose(a.z, b.z)
    assert len(list(tmp_path.iterdir())) == 2
    assert encode_dataset(loaded, index, cache_dir=tmp_path).from_cache


def test_changed_dataset_is_recomputed(setup, tmp_path):
    loaded, _, root = setup
    data = tiny_dataset(tmp_path / "data", n_per_class=2, seed=5)
    first = encode_dataset(loaded, scan_dataset(data), cache_dir=tmp_path / "cache")
    np.save(data / "planets_1" / "000.npy", disk_like(40, np.random.default_rng(9), 3.0))  # an image edited in place
    second = encode_dataset(loaded, scan_dataset(data), cache_dir=tmp_path / "cache")
    assert not second.from_cache and not np.allclose(first.z, second.z)


def test_corrupt_cache_is_recomputed_with_a_note(setup, tmp_path):
    loaded, index, _ = setup
    first = encode_dataset(loaded, index, cache_dir=tmp_path)
    z_file = first.cache_folder / "latents.npy"
    raw = bytearray(z_file.read_bytes())
    raw[-1] ^= 0xFF  # flip bits of the last latent value
    z_file.write_bytes(bytes(raw))
    again = encode_dataset(loaded, index, cache_dir=tmp_path)
    assert not again.from_cache and np.array_equal(again.z, first.z)
    assert again.notes == [f"The latent cache in {first.cache_folder} was corrupt (sha256 mismatch); recomputed."]
    assert encode_dataset(loaded, index, cache_dir=tmp_path).from_cache  # rewritten


def test_classifier_latent_is_embed_and_has_no_reconstruction(tmp_path):
    loaded = tiny_loaded(tmp_path, "cnn_classifier")
    image = disk_like(40, np.random.default_rng(0), 8.0)
    z = encode_images(loaded, [image])
    assert z.shape == (1, 8)
    with pytest.raises(InputError, match=r"^Model '.*' is a classifier and has no reconstruction; choose an autoencoder checkpoint\.$"):
        reconstruct(loaded, [image])


def test_reconstruction_is_on_the_model_grid(setup):
    loaded, _, _ = setup
    rec = reconstruct(loaded, [disk_like(40, np.random.default_rng(0), 8.0), disk_like(50, np.random.default_rng(1), 9.0)])
    assert rec.shape == (2, 33, 33) and rec.dtype == np.float32
    assert 0.0 <= rec.min() and rec.max() <= 1.0


def test_cache_hit_does_not_depend_on_how_the_folder_is_named(setup, tmp_path, monkeypatch):
    loaded, index, _ = setup
    first = encode_dataset(loaded, scan_dataset(index.root.resolve()), cache_dir=tmp_path)
    monkeypatch.chdir(index.root.parent)
    again = encode_dataset(loaded, scan_dataset(index.root.name), cache_dir=tmp_path)  # relative path
    assert again.from_cache and again.notes == [] and np.array_equal(again.z, first.z)
