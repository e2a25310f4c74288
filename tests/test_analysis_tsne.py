"""The t-SNE map: deterministic, places known points where they were fitted, survives a reload."""

import numpy as np
import pytest

from core.analysis.tsne_map import LatentMap, TSNESettings, fit_map, load_or_fit_map
from core.errors import InputError

FAST = TSNESettings(early_exaggeration_iter=100, n_iter=150)


def blobs(seed=0, n=30, d=8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, d))
    return np.concatenate([c + rng.normal(size=(n, d)) for c in centres]).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    z = blobs()
    return z, fit_map(z, seed=0, settings=FAST)


def map_radius(coords):
    return float(np.sqrt(((coords - coords.mean(0)) ** 2).sum(1).mean()))


def test_fit_is_deterministic_and_seed_matters(fitted):
    z, m = fitted
    again = fit_map(z, seed=0, settings=FAST)
    assert np.array_equal(again.coords, m.coords)
    other = fit_map(z, seed=1, settings=FAST)
    assert not np.allclose(other.coords, m.coords)


def test_blobs_stay_apart_on_the_map(fitted):
    _, m = fitted
    centres = np.stack([m.coords[i * 30:(i + 1) * 30].mean(0) for i in range(3)])
    spread = max(m.coords[i * 30:(i + 1) * 30].std(0).max() for i in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 3 * spread


def test_place_puts_a_training_point_next_to_its_own_position(fitted):
    z, m = fitted
    placed = m.place(z[[0, 31, 62]])
    dist = np.linalg.norm(placed - m.coords[[0, 31, 62]], axis=1)
    assert dist.max() < 0.05 * map_radius(m.coords), dist
    assert np.array_equal(m.place(z[[0, 31, 62]]), placed)  # the reference map did not move


def test_saved_map_places_identically_without_refit(fitted, tmp_path):
    z, m = fitted
    m.save(tmp_path / "map.npz")
    loaded = LatentMap.load(tmp_path / "map.npz")
    assert np.array_equal(loaded.coords, m.coords) and loaded.settings == m.settings
    new = z[:5] + 0.3
    assert np.allclose(loaded.place(new), m.place(new), atol=1e-9)


def test_nearest_in_latent_space(fitted):
    z, m = fitted
    idx, dist = m.nearest(z[[7]] + 1e-3, k=3)
    assert idx[0, 0] == 7 and dist[0, 0] < 1e-2
    assert idx.shape == (1, 3) and np.all(np.diff(dist[0]) >= 0)


def test_map_cache_is_reused_and_checked(fitted, tmp_path):
    from types import SimpleNamespace

    z, _ = fitted
    lat = SimpleNamespace(z=z, cache_folder=tmp_path)
    m1, notes1 = load_or_fit_map(lat, seed=0, settings=FAST)
    files = list(tmp_path.glob("map_*.npz"))
    assert len(files) == 1 and notes1 == []
    m2, notes2 = load_or_fit_map(lat, seed=0, settings=FAST)
    assert np.array_equal(m2.coords, m1.coords) and notes2 == []
    files[0].write_bytes(b"not a map")
    m3, notes3 = load_or_fit_map(lat, seed=0, settings=FAST)
    assert notes3 == [f"The cached map {files[0].name} was unreadable; refitted."]
    assert np.array_equal(m3.coords, m1.coords)
    other = SimpleNamespace(z=z + 1, cache_folder=tmp_path)
    _, notes4 = load_or_fit_map(other, seed=0, settings=FAST)
    assert notes4 == [f"The cached map {files[0].name} did not match the latents; refitted."]


def test_wrong_dimension_is_one_sentence(fitted):
    _, m = fitted
    with pytest.raises(InputError, match="^The new latents have 3 dimensions but the map was built from 8; use the same model for both.$"):
        m.place(np.zeros((1, 3)))
    with pytest.raises(InputError, match="^A map needs at least 5 images; got 4.$"):
        fit_map(np.zeros((4, 2)))
