"""A t-SNE map of latent vectors (openTSNE) on which new images are placed without refitting.

Fit settings (`TSNESettings`, all seeded, so the same latents and seed give the same map):
- perplexity 30 (clipped to (N - 1) / 3 for tiny sets), exact k-nearest neighbours
  (`PerplexityBasedNN(method="exact")`, deterministic; ~0.2 s for 5000 latents of d = 16);
- PCA initialisation (openTSNE's, rescaled to std 1e-4);
- 250 iterations of early exaggeration 12 with momentum 0.5, then 500 iterations without
  exaggeration with momentum 0.8; learning rate "auto" (N / exaggeration);
- gradient: Barnes-Hut below 10 000 points, FFT interpolation above ("auto"); n_jobs 1.

Placement (`LatentMap.placement`, `LatentMap.place`) uses openTSNE's `TSNEEmbedding.transform`:
each new point is put at the median of its 25 nearest reference points, then optimised against
the frozen reference map (perplexity 5, 250 iterations). The reference map never moves.

The placement is then checked against the point's PLACE_NEIGHBOURS nearest reference latents
(the neighbours the Latent map page lists). Distances on the map are counted in *spacings* (the
median distance from a reference point to its nearest map neighbour); a neighbour is *near* a
position within `radius` spacings, the larger of MIN_RADIUS and the RADIUS_PERCENTILE-th
percentile of the distance at which a reference point has most of its own neighbours (3 of 5)
near it. So 95 % of the reference images pass the check at their own positions. A new point is
- kept where t-SNE put it when most of its neighbours are near that position;
- *moved* when they are not but most of them are near one another: the point is shown at the
  centre of that group (weighted by 1 / latent distance) and t-SNE's position is kept for display;
- kept but flagged *scattered* when no spot holds most of its neighbours (t-SNE cannot keep
  every neighbourhood of a d-dimensional latent in two dimensions).
openTSNE's own options do not remove these misplacements (disks-ae-equivariant, 240
references, d = 32: the "weighted" initialisation, perplexity 15 or 30, 100 to 750 iterations
and exaggeration 1 to 4 all leave 13-40 spacings between the worst out-of-distribution
placements and their neighbours' centre). The check's constants are module constants, not
TSNESettings, so cached maps keep their file names.

Persistence without pickle: `save` writes the reference latents, the map coordinates and the
settings with `np.savez`; `load` rebuilds the openTSNE objects through its public API
(`affinity.PerplexityBasedNN(z_ref, ...)` + `TSNEEmbedding(coords, affinities, ...)`), which is
all `transform` needs. The exact neighbour search makes the rebuilt object identical to the
fitted one, so placements agree.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_bytes
from core.errors import InputError

MAP_FORMAT = 1
PLACE_NEIGHBOURS = 5  # nearest reference latents a placement is checked against (the page lists them)
RADIUS_PERCENTILE = 95.0  # share of the reference points that have most of their own neighbours within the radius
MIN_RADIUS = 3.0  # spacings: the radius is never smaller


@dataclass(frozen=True)
class TSNESettings:
    perplexity: float = 30.0  # effective number of neighbours each point attends to
    early_exaggeration: float = 12.0  # attraction multiplier in the first phase (forms clusters)
    early_exaggeration_iter: int = 250  # iterations of the exaggerated phase
    n_iter: int = 500  # iterations of the normal phase
    initial_momentum: float = 0.5  # gradient-descent momentum in the exaggerated phase
    final_momentum: float = 0.8  # momentum in the normal phase
    negative_gradient_method: str = "auto"  # "bh" (< 10k points), "fft" above
    n_jobs: int = 1  # threads openTSNE may use (the machine is shared)
    seed: int = 0  # seeds the PCA initialisation and the optimiser
    # placement of new points (openTSNE `transform` defaults)
    place_perplexity: float = 5.0  # neighbourhood size when placing a new point
    place_k: int = 25  # neighbours whose median is the starting position
    place_n_iter: int = 250  # optimisation iterations per placement


@dataclass(frozen=True)
class Placement:
    """New points on a map, checked against their nearest reference latents (arrays have M rows)."""

    coords: np.ndarray  # (M, 2) where the points are shown: `tsne`, or `centre` where `moved`
    tsne: np.ndarray  # (M, 2) openTSNE's transform
    centre: np.ndarray  # (M, 2) the centre of the largest group of neighbours on the map
    neighbours: np.ndarray  # (M, k) reference indices, nearest first (latent space)
    distances: np.ndarray  # (M, k) their latent distances
    near_tsne: np.ndarray  # (M,) neighbours within `radius` of the t-SNE position
    near_centre: np.ndarray  # (M,) neighbours within `radius` of the centre
    offset: np.ndarray  # (M,) |tsne - centre| in spacings
    moved: np.ndarray  # (M,) bool: shown at the centre (most neighbours there, not at t-SNE's position)
    scattered: np.ndarray  # (M,) bool: no spot holds most of the neighbours; t-SNE's position kept
    spacing: float  # map units between a reference point and its nearest map neighbour (median)
    radius: float  # spacings within which a neighbour counts as near

    def note(self, i: int) -> str | None:
        """One sentence when point i was moved or its neighbours are scattered, else None."""
        k = self.neighbours.shape[1]
        if self.moved[i]:
            return (f"Placed among its nearest neighbours: t-SNE put it {self.offset[i]:.0f} map spacings away "
                    f"(the hollow star), near only {self.near_tsne[i]} of the {k}.")
        if self.scattered[i]:
            return (f"Its {k} nearest neighbours lie apart on this map (no spot holds {k // 2 + 1} of them), so the star "
                    "stays where t-SNE put it: t-SNE cannot keep every neighbourhood of the latent space in two dimensions.")
        return None


def _near(points: np.ndarray, at: np.ndarray, radius: float) -> np.ndarray:
    """(M,) how many of each row's points (M, k, 2) lie within `radius` of `at` (M, 2)."""
    return (np.linalg.norm(points - at[:, None], axis=2) <= radius).sum(axis=1)


def neighbour_group(points: np.ndarray, distances: np.ndarray, radius: float) -> np.ndarray:
    """(M, 2) centre of the largest group of each row's neighbour positions `points` (M, k, 2): the neighbours
    within `radius` of the neighbour with the most others near it (ties: the nearer in latent space),
    weighted by 1 / latent distance."""
    d = np.asarray(distances, dtype=np.float64)
    close = np.linalg.norm(points[:, :, None] - points[:, None], axis=3) <= radius  # (M, k, k)
    best = close.sum(axis=2).argmax(axis=1)  # the first maximum: neighbours are sorted nearest first
    w = close[np.arange(len(points)), best] / (d + 1e-6 * d.mean(axis=1, keepdims=True) + 1e-300)
    return (points * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)


def _perplexity(settings: TSNESettings, n: int) -> float:
    return float(min(settings.perplexity, max(1.0, (n - 1) / 3)))


def _affinities(z_ref: np.ndarray, settings: TSNESettings):
    from openTSNE import affinity

    return affinity.PerplexityBasedNN(
        z_ref, perplexity=_perplexity(settings, len(z_ref)), method="exact",
        n_jobs=settings.n_jobs, random_state=settings.seed,
    )


def _check_latents(z, what: str = "latent vectors") -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise InputError(f"The {what} must be a finite (N, d) array; got shape {z.shape}.")
    return z


class LatentMap:
    """A fitted 2-D t-SNE map of reference latents; `place` adds new points without refitting.

    Safe to share between threads: `place` works on its own copy of the openTSNE embedding
    (openTSNE's `transform` re-centres the embedding it is called on in place).
    """

    def __init__(self, z_ref: np.ndarray, coords: np.ndarray, settings: TSNESettings, affinities=None):
        self.z_ref = _check_latents(z_ref, "reference latents")  # (N, d)
        self.coords = np.ascontiguousarray(coords, dtype=np.float64)  # (N, 2) map units
        if self.coords.shape != (len(self.z_ref), 2):
            raise InputError("The map coordinates must be (N, 2) for N reference latents.")
        self.settings = settings
        self._affinities = affinities if affinities is not None else _affinities(self.z_ref, settings)
        self._nn = None
        self._scale = None  # (spacing, radius), see scale()

    def _embedding(self):
        from openTSNE import TSNEEmbedding

        s = self.settings
        return TSNEEmbedding(
            self.coords, self._affinities, negative_gradient_method=s.negative_gradient_method,
            random_state=s.seed, n_jobs=s.n_jobs, learning_rate="auto", max_step_norm=5,
        )

    def place(self, z_new) -> np.ndarray:
        """Map positions (M, 2) of new latents (M, d) in this map, the reference fixed (`placement().coords`)."""
        return self.placement(z_new).coords

    def placement(self, z_new) -> Placement:
        """New latents (M, d) placed by t-SNE and checked against their nearest reference latents."""
        z_new = _check_latents(np.atleast_2d(z_new), "new latent vectors")
        if z_new.shape[1] != self.z_ref.shape[1]:
            raise InputError(
                f"The new latents have {z_new.shape[1]} dimensions but the map was built from {self.z_ref.shape[1]}; "
                "use the same model for both."
            )
        s = self.settings
        k = min(s.place_k, len(self.z_ref))
        perplexity = min(s.place_perplexity, max(1.0, (len(self.z_ref) - 1) / 3))
        tsne = np.asarray(self._embedding().transform(z_new, perplexity=perplexity, k=k, n_iter=s.place_n_iter),
                          dtype=np.float64)
        idx, dist = self.nearest(z_new, k=PLACE_NEIGHBOURS)
        spacing, radius = self.scale()
        points = self.coords[idx]  # (M, k, 2)
        centre = neighbour_group(points, dist, radius * spacing)
        near_tsne, near_centre = _near(points, tsne, radius * spacing), _near(points, centre, radius * spacing)
        most = idx.shape[1] // 2 + 1
        moved = (near_tsne < most) & (near_centre >= most)
        scattered = (near_tsne < most) & (near_centre < most)
        coords = np.where(moved[:, None], centre, tsne)
        offset = np.linalg.norm(tsne - centre, axis=1) / spacing
        return Placement(coords, tsne, centre, idx, dist, near_tsne, near_centre, offset, moved, scattered,
                         spacing, radius)

    def scale(self) -> tuple[float, float]:
        """(spacing in map units, radius in spacings) of this map, computed once.

        spacing: median distance from a reference point to its nearest map neighbour.
        radius: max(MIN_RADIUS, the RADIUS_PERCENTILE-th percentile over the reference points of
        the map distance within which most (3 of 5) of their own nearest other latents lie)."""
        if self._scale is None:
            from scipy.spatial import cKDTree

            n = len(self.coords)
            gap = cKDTree(self.coords).query(self.coords, k=min(2, n))[0]
            spacing = float(np.median(gap[:, -1])) if n > 1 else 1.0
            spacing = spacing if spacing > 0 else max(float(np.ptp(self.coords)), 1.0) / max(n, 1)
            idx, _ = self.nearest(self.z_ref, k=PLACE_NEIGHBOURS + 1)
            own = np.sort(np.linalg.norm(self.coords[idx[:, 1:]] - self.coords[:, None], axis=2), axis=1)
            most = own[:, min(PLACE_NEIGHBOURS // 2, own.shape[1] - 1)]  # (N,) distance holding 3 of 5
            self._scale = (spacing, max(MIN_RADIUS, float(np.percentile(most / spacing, RADIUS_PERCENTILE))))
        return self._scale

    def nearest(self, z, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Indices (M, k) of the k nearest reference points in latent space and their distances."""
        from sklearn.neighbors import NearestNeighbors

        z = _check_latents(np.atleast_2d(z))
        if self._nn is None:
            self._nn = NearestNeighbors().fit(self.z_ref)
        dist, idx = self._nn.kneighbors(z, n_neighbors=min(k, len(self.z_ref)))
        return idx, dist

    def save(self, path: str | Path) -> None:
        """Write z_ref, coords and settings with np.savez (atomic, no pickle)."""
        buf = io.BytesIO()
        np.savez(
            buf, z_ref=self.z_ref, coords=self.coords,
            settings=np.array(json.dumps(asdict(self.settings))), format=np.array(MAP_FORMAT),
        )
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> LatentMap:
        """Rebuild a saved map (no refit); raises InputError if the file is not a saved map."""
        try:
            with np.load(path, allow_pickle=False) as f:
                if int(f["format"]) != MAP_FORMAT:
                    raise InputError(f"The map file {path} has an unknown format; delete it to refit.")
                settings = TSNESettings(**json.loads(str(f["settings"])))
                z_ref, coords = f["z_ref"], f["coords"]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"The map file {path} is unreadable or incomplete; delete it to refit.") from exc
        return cls(z_ref, coords, settings)


def _with_seed(settings: TSNESettings | None, seed: int | None) -> TSNESettings:
    """`settings` (default TSNESettings()) with `seed` put in, unless seed is None."""
    settings = settings or TSNESettings()
    return settings if seed is None else TSNESettings(**{**asdict(settings), "seed": int(seed)})


def fit_map(
    z,
    seed: int | None = None,
    settings: TSNESettings | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> LatentMap:
    """Fit a t-SNE map of latents z (N, d); deterministic for a given seed (default: settings.seed, 0)."""
    from openTSNE import TSNE

    z = _check_latents(z)
    if len(z) < 5:
        raise InputError(f"A map needs at least 5 images; got {len(z)}.")
    settings = _with_seed(settings, seed)
    total = settings.early_exaggeration_iter + settings.n_iter
    state = {"done": 0}

    def callback(iteration, error, embedding):
        state["done"] += 50
        if progress:
            progress(min(state["done"], total), total, f"t-SNE iteration {min(state['done'], total)}/{total}")

    affinities = _affinities(z, settings)
    tsne = TSNE(
        perplexity=_perplexity(settings, len(z)),
        early_exaggeration=settings.early_exaggeration,
        early_exaggeration_iter=settings.early_exaggeration_iter,
        n_iter=settings.n_iter,
        initial_momentum=settings.initial_momentum,
        final_momentum=settings.final_momentum,
        initialization="pca",
        negative_gradient_method=settings.negative_gradient_method,
        n_jobs=settings.n_jobs,
        random_state=settings.seed,
        callbacks=callback if progress else None,
        callbacks_every_iters=50,
    )
    embedding = tsne.fit(z, affinities=affinities)
    coords = np.asarray(embedding, dtype=np.float64)  # (N, 2)
    # centre as openTSNE's transform would, so stored coords and placements share one frame
    coords = coords - (coords.max(axis=0) + coords.min(axis=0)) / 2
    if progress:
        progress(total, total, "t-SNE done")
    return LatentMap(z, coords, settings, affinities=affinities)


def settings_tag(settings: TSNESettings) -> str:
    """Short stable hash of the settings, used in the cached map's file name."""
    import hashlib

    return hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:12]


def load_or_fit_map(
    latents,
    seed: int | None = None,
    settings: TSNESettings | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[LatentMap, list[str]]:
    """The map of `latents` (`core.analysis.encode.Latents`) from its cache folder, else fitted and saved.

    A cached map is used only if its reference latents equal `latents.z` exactly; otherwise
    (or if the file is unreadable) the map is refitted and the note says so.
    """
    settings = _with_seed(settings, seed)
    notes: list[str] = []
    folder = getattr(latents, "cache_folder", None)
    path = Path(folder) / f"map_{settings_tag(settings)}.npz" if folder is not None else None
    if path is not None and path.exists():
        try:
            cached = LatentMap.load(path)
            if cached.settings == settings and np.array_equal(cached.z_ref, np.asarray(latents.z, dtype=np.float64)):
                if progress:
                    progress(1, 1, "map loaded from cache")
                return cached, notes
            notes.append(f"The cached map {path.name} did not match the latents; refitted.")
        except InputError:
            notes.append(f"The cached map {path.name} was unreadable; refitted.")
    lmap = fit_map(latents.z, settings=settings, progress=progress)
    if path is not None:
        lmap.save(path)
    return lmap, notes
