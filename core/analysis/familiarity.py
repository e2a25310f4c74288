"""Honest answers: how familiar an input is to a model, and the notes that go with every answer.

One mechanism for every model kind (autoencoders, classifiers, any future one): a model's
invariant vector (`encode` / `embed`, see core.analysis.encode.latent_fn) of the input is
compared with the same vectors of a reference set the model knows (its training kind of
data). The distance is the mean Euclidean distance to the `k` nearest reference vectors in
standardised coordinates (each latent dimension scaled by the reference set's own spread);
its **percentile** is the share of reference images whose own leave-one-out distance to
their k nearest neighbours is smaller. 50 = as typical as a reference image; above
`OUTSIDE_PERCENTILE` (99) the input lies outside what the model was trained on.

    ref = FamiliarityReference.fit(z_ref)           # once per (model, reference set)
    fam = ref.score(z)                              # list[Familiarity], one per row of z
    notes = answer_notes(fam[0], image_kind="lens", model_data="disks",
                         disagreement=disagreement(p_eq, p_cnn, classes, ("D8", "CNN")))

`answer_notes` returns `Note(level, text)` items ("warning" or "info"); the app shows each as
a visible note next to the answer, the CLI can print them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import InputError

K_NEIGHBOURS = 5  # neighbours averaged for a distance
OUTSIDE_PERCENTILE = 99.0  # above this percentile of the reference set's own distances: unfamiliar
CONFIDENT = 0.9  # a class probability at least this high counts as a confident answer
KIND_OF_DATA = {"disks": "disk", "lenses": "lens", "lensfinding": "lens", "sky": "lens"}  # training data (generator) -> image kind
DATA_WORDS = {"disks": "simulated disks", "lenses": "simulated lenses", "lensfinding": "simulated lens-finding images",
              "sky": "simulated HST / Euclid-like lenses and galaxies"}
KIND_NAMES = {"disk": "protoplanetary disk", "lens": "strong lens"}


@dataclass(frozen=True)
class Familiarity:
    """How an input's latent vector sits among the reference set's."""

    distance: float  # mean standardised distance to the k nearest reference vectors
    percentile: float  # 0..100: share of reference images whose own distance is smaller
    familiar: bool  # percentile <= OUTSIDE_PERCENTILE
    k: int
    n_reference: int

    def text(self) -> str:
        """One line: the distance and its percentile, for a caption or a table."""
        return (f"latent distance {self.distance:.3g} (mean of the {self.k} nearest of {self.n_reference} reference "
                f"images): {self.percentile:.0f}th percentile of the reference images' own distances")


@dataclass(frozen=True)
class Note:
    level: str  # "warning" | "info"
    text: str


@dataclass
class FamiliarityReference:
    """Standardised reference latents and their own leave-one-out k-NN distances."""

    z: np.ndarray  # (N, d) standardised
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    own: np.ndarray  # (N,) sorted leave-one-out distances
    k: int

    @classmethod
    def fit(cls, z_ref: np.ndarray, k: int = K_NEIGHBOURS) -> FamiliarityReference:
        z_ref = np.asarray(z_ref, dtype=np.float64)
        if z_ref.ndim != 2 or len(z_ref) < 3:
            raise InputError("A familiarity reference needs at least 3 latent vectors of one length (an (N, d) array).")
        if not np.all(np.isfinite(z_ref)):
            raise InputError("The reference latent vectors hold NaN or Inf; encode the reference set again.")
        k = max(1, min(k, len(z_ref) - 1))
        mean = z_ref.mean(axis=0)
        scale = z_ref.std(axis=0)
        scale = np.where(scale > 1e-12 * max(float(scale.max()), 1e-30), scale, 1.0)
        z = (z_ref - mean) / scale
        d = _pairwise(z, z)
        np.fill_diagonal(d, np.inf)
        own = np.sort(np.sort(d, axis=1)[:, :k].mean(axis=1))
        return cls(z=z, mean=mean, scale=scale, own=own, k=k)

    def distances(self, z: np.ndarray) -> np.ndarray:
        """(M,) mean standardised distance of each row of z (M, d) to its k nearest reference vectors."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if z.shape[1] != self.z.shape[1]:
            raise InputError(f"The latent vectors have {z.shape[1]} dimensions but the reference has "
                             f"{self.z.shape[1]}; use the same model for both.")
        d = _pairwise((z - self.mean) / self.scale, self.z)
        return np.sort(d, axis=1)[:, :self.k].mean(axis=1)

    def percentiles(self, distances: np.ndarray) -> np.ndarray:
        """0..100: share of the reference images whose own distance is below each distance."""
        return 100.0 * np.searchsorted(self.own, np.asarray(distances, dtype=np.float64), side="left") / len(self.own)

    def score(self, z: np.ndarray) -> list[Familiarity]:
        d = self.distances(z)
        p = self.percentiles(d)
        return [Familiarity(float(di), float(pi), bool(pi <= OUTSIDE_PERCENTILE), self.k, len(self.own))
                for di, pi in zip(d, p, strict=True)]


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def disagreement(probs_a: Sequence[float], probs_b: Sequence[float], classes: Sequence[str],
                 names: tuple[str, str], confident: float = CONFIDENT) -> Note | None:
    """A warning when two classifiers are both confident (max probability >= `confident`) in different classes."""
    pa, pb = np.asarray(probs_a, dtype=np.float64), np.asarray(probs_b, dtype=np.float64)
    ia, ib = int(pa.argmax()), int(pb.argmax())
    if ia == ib or pa[ia] < confident or pb[ib] < confident:
        return None
    return Note("warning", f"The models disagree although both are confident: {names[0]} says {classes[ia]} "
                           f"({pa[ia]:.2f}), {names[1]} says {classes[ib]} ({pb[ib]:.2f}). At least one is wrong "
                           "with high confidence; trust neither on this image.")


def kind_note(image_kind: str | None, model_data: str | None) -> Note | None:
    """A warning when the image's kind ("disk" | "lens") is not what the model was trained on ("disks" | "lenses")."""
    expected = KIND_OF_DATA.get(model_data or "")
    if image_kind is None or expected is None or image_kind == expected:
        return None
    return Note("warning", f"The current image is a {KIND_NAMES.get(image_kind, image_kind)}, but this model was trained on "
                           f"{DATA_WORDS.get(model_data, model_data)}; its output says little about it.")


def familiarity_note(fam: Familiarity | None) -> Note | None:
    """A warning when the input is outside what the model was trained on, else an info line with the percentile."""
    if fam is None:
        return None
    if not fam.familiar:
        return Note("warning", f"This image is unlike anything the model was trained on: its {fam.text()}. "
                               "Treat the answer as an extrapolation.")
    return Note("info", f"Familiar input: {fam.text()}.")


def answer_notes(fam: Familiarity | None = None, *, image_kind: str | None = None, model_data: str | None = None,
                 disagreement: Note | None = None) -> list[Note]:
    """Every note that goes with one model answer, warnings first."""
    notes = [n for n in (kind_note(image_kind, model_data), familiarity_note(fam), disagreement) if n is not None]
    return sorted(notes, key=lambda n: n.level != "warning")
