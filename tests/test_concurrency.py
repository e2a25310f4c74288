"""One loaded model and one fitted map shared by 8 threads give exactly the single-threaded results.

The app serves every browser session from one `st.cache_resource` model and map, so encode,
reconstruct, place-on-map and nearest-neighbour calls run concurrently on shared objects.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from analysis_fixtures import disk_like, tiny_loaded

from core.analysis.encode import encode_images, reconstruct
from core.analysis.tsne_map import TSNESettings, fit_map

torch.set_num_threads(1)
N_THREADS = 8
ATOL = 1e-6


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    loaded = tiny_loaded(tmp_path_factory.mktemp("ckpt"), "equivariant_ae", group="C4")
    rng = np.random.default_rng(0)
    reference = [disk_like(40, rng, r) for r in rng.uniform(4, 14, size=30)]
    lmap = fit_map(encode_images(loaded, reference), seed=0,
                   settings=TSNESettings(early_exaggeration_iter=100, n_iter=150))
    queries = [disk_like(40, rng, r) for r in rng.uniform(4, 14, size=N_THREADS)]
    return loaded, lmap, queries


def work(loaded, lmap, image):
    z = encode_images(loaded, [image])  # (1, d)
    recon = reconstruct(loaded, [image])  # (1, S, S)
    placed = lmap.place(z)  # (1, 2)
    idx, dist = lmap.nearest(z, k=3)
    return z, recon, placed, idx, dist


def test_eight_threads_match_single_threaded(shared):
    loaded, lmap, queries = shared
    expected = [work(loaded, lmap, im) for im in queries]
    barrier = threading.Barrier(N_THREADS)

    def job(i):
        barrier.wait()  # all threads start together to maximise overlap
        return [work(loaded, lmap, queries[i]) for _ in range(3)]

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(job, range(N_THREADS)))
    for i, runs in enumerate(results):
        for got in runs:
            for g, e in zip(got, expected[i], strict=True):
                assert g.shape == e.shape
                np.testing.assert_allclose(g, e, rtol=0, atol=ATOL)
    # the images differ, so equal results are not trivially equal
    assert len({tuple(np.round(e[2][0], 6)) for e in expected}) == N_THREADS
    # the shared map did not move
    assert np.array_equal(lmap.place(expected[0][0]), expected[0][2])
