"""Which checkpoint a page offers first: the one that matches the current image's kind.

`default_index(entries, kind, equivariant, image_kind, image_shape, image_source)` is the one
place this is decided: first the kind of data (a lens -> lens models), then, when the image's
shape is known, the checkpoints trained on images of its size (64 px -> DeepLense Model II,
150 px -> Model I or this project's lenses; the app's own simulations and examples go to the
project's models, anything else to the DeepLense ones). `default_order` ranks every checkpoint that
way, for the pages' fallback when the first does not load on the server.
"""

from __future__ import annotations

import numpy as np

from core.analysis.familiarity import KIND_OF_DATA

SHIPPED_DEFAULTS = {  # (model kind, equivariant, training data) -> shipped checkpoint
    ("autoencoder", True, "disks"): "disks-ae-equivariant",
    ("autoencoder", False, "disks"): "disks-ae-cnn",
    ("classifier", True, "lenses"): "lenses-classifier-equivariant",
    ("classifier", False, "lenses"): "lenses-classifier-cnn",
}
DATA_OF_KIND = {kind: data for data, kind in reversed(KIND_OF_DATA.items())}  # "disk" -> "disks"; the first data of a kind wins ("lens" -> "lenses")


def data_of(entry: dict) -> str:
    """The kind of images a checkpoint was trained on: "disks", "lenses" or "lensfinding" (the lens finder)."""
    generator = (entry.get("data") or {}).get("generator")
    if generator in KIND_OF_DATA:
        return generator
    return "lenses" if entry.get("kind") == "classifier" else "disks"


PROJECT_SOURCES = ("simulation", "example")  # images the app's own (project) generator made


def _fit(entry: dict, image_shape, image_source: str | None) -> tuple[float, int]:
    """(distance of the training images' side to the image's, 1 if the simulator family differs)."""
    from core.checkpoints import training_side

    side = min(image_shape[-2:])
    trained = training_side(entry)
    distance = abs(float(np.log(side / trained))) if trained else float("inf")
    project = ((entry.get("data") or {}).get("preset") or "project") == "project"
    return distance, int(project != (image_source in PROJECT_SOURCES))


def default_index(entries: list[dict], kind: str | None, equivariant: bool | None, image_kind: str | None,
                  image_shape: tuple | None = None, image_source: str | None = None) -> int:
    """Index into `entries` of the checkpoint to preselect.

    Prefers checkpoints trained on the current image's kind of data (a lens -> lens
    models), then the shipped default of that (kind, family, data), then the first.
    With no image (or an unknown kind) disks are the default for any-kind pickers,
    as the Data page's first example is a disk.
    """
    data = DATA_OF_KIND.get(image_kind) or ("lenses" if kind == "classifier" else "disks")
    matching = [i for i, e in enumerate(entries) if data_of(e) == data] or list(range(len(entries)))
    kinds = (kind,) if kind else ("autoencoder", "classifier")
    families = (equivariant,) if equivariant is not None else (True, False)
    preferred = [SHIPPED_DEFAULTS.get((k, f, data)) for k in kinds for f in families]
    if image_shape is not None and len(image_shape) >= 2 and matching:
        scores = {i: _fit(entries[i], image_shape, image_source) for i in matching}
        best = min(scores.values())
        matching = [i for i in matching if scores[i] == best]
    names = [entries[i]["name"] for i in matching]
    for name in preferred:
        if name in names:
            return matching[names.index(name)]
    return matching[0] if matching else 0


def default_order(entries: list[dict], kind: str | None, equivariant: bool | None, image_kind: str | None,
                  image_shape: tuple | None = None, image_source: str | None = None) -> list[int]:
    """Every index into `entries`, best default first: `default_index`, then the default without it, and so on
    (a page falls back along this order when a checkpoint does not load on its server)."""
    left, order = list(range(len(entries))), []
    while left:
        pick = left[default_index([entries[i] for i in left], kind, equivariant, image_kind, image_shape, image_source)]
        order.append(pick)
        left.remove(pick)
    return order
