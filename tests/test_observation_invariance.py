"""Observation-invariant directions: latents where the object and the observation move along known directions.

Synthetic latents (8-D, mixed by a random rotation so no direction is an axis): what tells objects
apart lies along two directions, what the observation changes (say the inclination) along a third with
a much larger spread, and small noise everywhere. The method must keep the two object directions and
drop the observation's, without being told which is which.
"""

from __future__ import annotations

import numpy as np

from core.analysis.observation_invariance import observation_invariant_directions, project

D, N_OBJECTS, VIEWS = 8, 150, 3


def _latents(seed: int = 0):
    """(z (N, D), object index (N,), object basis (D, 2), nuisance direction (D,)) of N_OBJECTS x VIEWS observations."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(D, D)))  # orthonormal columns
    objects, nuisance = basis[:, :2], basis[:, 2]
    identity = rng.normal(size=(N_OBJECTS, 2)) * [3.0, 2.0]  # each object's own coordinates
    z, obj = [], []
    for i in range(N_OBJECTS):
        for _ in range(VIEWS):
            z.append(objects @ identity[i] + nuisance * rng.normal(scale=10.0) + rng.normal(scale=0.1, size=D) + 1.0)
            obj.append(i)
    return np.array(z), np.array(obj), objects, nuisance


def _within_over_between(p: np.ndarray, obj: np.ndarray) -> float:
    """Spread of re-observations of one object over the spread between objects' means."""
    centres = np.stack([p[obj == i].mean(0) for i in np.unique(obj)])
    within = p - centres[obj]
    return float((within ** 2).sum(1).mean() / ((centres - centres.mean(0)) ** 2).sum(1).mean())


def test_the_observation_direction_is_removed_and_the_object_directions_kept():
    z, obj, objects, nuisance = _latents()
    assert _within_over_between((z - z.mean(0)) / z.std(0), obj) > 1  # raw: the observation dominates

    mean, scale, directions = observation_invariant_directions(z, obj)
    assert directions.shape == (D, 2)  # the two object directions, nothing else has ratio > 1
    p = project(z, mean, scale, directions)
    assert p.shape == (len(z), 2)
    assert _within_over_between(p, obj) < 0.01  # re-observations of one object now (almost) coincide

    # moving a latent along the nuisance direction barely moves its projection; along an object direction it does
    step = project(z[:1] + 10.0 * nuisance, mean, scale, directions) - project(z[:1], mean, scale, directions)
    along = project(z[:1] + 5.0 * objects[:, 0], mean, scale, directions) - project(z[:1], mean, scale, directions)
    assert np.linalg.norm(step) < 0.05 * np.linalg.norm(along)


def test_pure_observation_noise_gives_no_direction():
    rng = np.random.default_rng(1)
    obj = np.repeat(np.arange(N_OBJECTS), VIEWS)
    z = rng.normal(size=(len(obj), D))  # nothing about the object: every direction varies as much within as between
    _, _, directions = observation_invariant_directions(z, obj)
    assert directions.shape[1] == 0


def test_object_labels_need_not_be_sorted_or_contiguous():
    z, obj, _, _ = _latents(seed=2)
    order = np.random.default_rng(3).permutation(len(z))
    mean, scale, directions = observation_invariant_directions(z[order], 10 * obj[order] + 7)
    p = project(z[order], mean, scale, directions)
    assert directions.shape[1] == 2 and _within_over_between(p, obj[order]) < 0.01
