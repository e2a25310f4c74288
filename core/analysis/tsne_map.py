"""A t-SNE map of latent vectors (openTSNE) on which new images are placed without refitting.

Fit settings (`TSNESettings`, all seeded, so the same latents and seed give the same map):
- perplexity 30 (clipped to (N - 1) / 3 for tiny sets), exact k-nearest neighbours
  (`PerplexityBasedNN(method="exact")`, deterministic; ~0.2 s for 5000 latents of d = 16);
- PCA initialisation (openTSNE's, rescaled to std 1e-4);
- 250 iterations of early exaggeration 12 with momentum 0.5, then 500 iterations without
  exaggeration with momentum 0.8; learning rate "auto" (N / exaggeration);
- gradient: Barnes-Hut below 10 000 points, FFT interpolation above ("auto"); n_jobs 1.

Placement (`LatentMap.place`) uses openTSNE's `TSNEEmbedding.transform`: each new point is
put at the median of its 25 nearest reference points, then optimised against the frozen
reference map (perplexity 5, 250 iterations). The reference map never moves.

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

    def _embedding(self):
        from openTSNE import TSNEEmbedding

        s = self.settings
        return TSNEEmbedding(
            self.coords, self._affinities, negative_gradient_method=s.negative_gradient_method,
            random_state=s.seed, n_jobs=s.n_jobs, learning_rate="auto", max_step_norm=5,
        )

    def place(self, z_new) -> np.ndarray:
        """Map positions (M, 2) of new latents (M, d) in this map, the reference fixed."""
        z_new = _check_latents(np.atleast_2d(z_new), "new latent vectors")
        if z_new.shape[1] != self.z_ref.shape[1]:
            raise InputError(
                f"The new latents have {z_new.shape[1]} dimensions but the map was built from {self.z_ref.shape[1]}; "
                "use the same model for both."
            )
        s = self.settings
        k = min(s.place_k, len(self.z_ref))
        perplexity = min(s.place_perplexity, max(1.0, (len(self.z_ref) - 1) / 3))
        placed = self._embedding().transform(z_new, perplexity=perplexity, k=k, n_iter=s.place_n_iter)
        return np.asarray(placed, dtype=np.float64)

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
