"""Simulated images of each kind at the sizes the app uses, for the kind-check tests (seeds apart from the fit's)."""

from __future__ import annotations

import numpy as np

SEED = 7  # core.analysis.kind_fit fits on seed 1 and measures on seed 2
COMMON_GALAXIES = ("elliptical", "spiral", "edge_on", "irregular", "merger", "compact", "companions")


def disk(i: int, size: int = 129) -> np.ndarray:
    from core.data.dataset_writer import render

    return render("disks", i, size, SEED)[0]


def lens(i: int, preset: str = "project") -> np.ndarray:
    from core.data.dataset_writer import render
    from core.data.simulator_versions import default_size

    return render("lenses", i, default_size("lenses", preset), SEED, preset)[0]


def finding(i: int, label: str, domain: str = "easy") -> np.ndarray:
    """A lens-finding image (64 px): `label` "lens" or "nonlens"."""
    from core.data.dataset_writer import render

    return render("lensfinding", 2 * i + (label == "nonlens"), 64, SEED, domain)[0]


def sky(i: int, label: str) -> np.ndarray:
    """A sky-simulator cutout (HST / Euclid-like, on the finders' 64 px, 0.1″ grid): `label` "lens" or "nonlens"."""
    from core.data.dataset_writer import render

    return render("sky", 2 * i + (label == "nonlens"), 64, SEED)[0]


def galaxy(i: int, kind: str) -> np.ndarray:
    """A core.data.galaxies morphology as the kind check's fit observes it (HST-like PSF and noise)."""
    from core.analysis.kind_fit import _galaxy
    from core.data import galaxies

    return _galaxy(galaxies.KINDS.index(kind) + 9 * i, SEED)


def velocity(i: int) -> np.ndarray:
    from core.analysis.kind_fit import _velocity

    return _velocity(i, SEED)


def examples() -> list[tuple[str, str, np.ndarray]]:
    """(kind, source, image) at the app's sizes: disks 128 / 129 px, lenses 150 (project, Model I) and 64 (Model II,
    lens finding), galaxies 64-168 px, velocity maps 64-256 px."""
    out = [("disk", f"disks {s} px", disk(i, s)) for s in (128, 129) for i in range(4)]
    out += [("lens", p, lens(i, p)) for p in ("project", "deeplense-model1", "deeplense-model2") for i in range(3)]
    out += [("lens", "lens finding (easy)", finding(i, "lens")) for i in range(3)]
    out += [("galaxy", k, galaxy(0, k)) for k in COMMON_GALAXIES]
    out += [("galaxy", "lens-finding non-lens", finding(i, "nonlens")) for i in range(3)]
    out += [("velocity", "Keplerian", velocity(i)) for i in range(6)]
    return out
