"""Which checkpoint a page offers first: the one that matches the current image's kind.

`default_index(entries, kind, equivariant, image_kind, image_shape, image_source)` is the one
place this is decided: first the kind of data (a lens -> lens models), then, when the image's
shape is known, the checkpoints trained on images of its size (64 px -> DeepLense Model II,
150 px -> Model I or this project's lenses; the app's own simulations and examples go to the
project's models, anything else to the DeepLense ones). A data set that says which simulator preset
made it (a manifest.json's "preset") goes to the checkpoints of that preset instead. `default_order`
ranks every checkpoint that way, for the pages' fallback when the first does not load on the server;
`suits` says whether a checkpoint chosen for other data still fits these. When several checkpoints fit an
image equally (the lens finders), `most_familiar_first` puts the one to which the image is most familiar
first (core.analysis.familiarity: its lowest percentile among the model's own reference images), keeping
the page's own order where familiarity is alike or cannot be computed.
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


def suits(entry: dict, image_kind: str | None) -> bool:
    """Whether checkpoint `entry` was trained on the kind of data of `image_kind` ("lens" -> lens
    models); any checkpoint suits data of unknown kind."""
    data = DATA_OF_KIND.get(image_kind)
    return data is None or data_of(entry) == data


def _fit(entry: dict, image_shape, image_source: str | None, image_preset: str | None = None) -> tuple[float, int]:
    """(distance of the training images' side to the image's, 1 if the simulator family differs).

    The family is the data's own preset when known (`image_preset`), else the project's for the app's
    own images (PROJECT_SOURCES) and DeepLense for anything else."""
    from core.checkpoints import training_side

    trained = training_side(entry)
    if image_shape is None:
        distance = 0.0
    else:
        distance = abs(float(np.log(min(image_shape[-2:]) / trained))) if trained else float("inf")
    preset = (entry.get("data") or {}).get("preset") or "project"
    if image_preset:
        return distance, int(preset != image_preset)
    return distance, int((preset == "project") != (image_source in PROJECT_SOURCES))


def default_index(entries: list[dict], kind: str | None, equivariant: bool | None, image_kind: str | None,
                  image_shape: tuple | None = None, image_source: str | None = None,
                  image_preset: str | None = None) -> int:
    """Index into `entries` of the checkpoint to preselect.

    Prefers checkpoints trained on the current image's kind of data (a lens -> lens
    models), then (with the image's shape or its data's preset) the closest training size and
    simulator family (`_fit`), then the shipped default of that (kind, family, data), then the
    first. With no image (or an unknown kind) disks are the default for any-kind pickers,
    as the Data page's first example is a disk.
    """
    data = DATA_OF_KIND.get(image_kind) or ("lenses" if kind == "classifier" else "disks")
    matching = [i for i, e in enumerate(entries) if data_of(e) == data] or list(range(len(entries)))
    kinds = (kind,) if kind else ("autoencoder", "classifier")
    families = (equivariant,) if equivariant is not None else (True, False)
    preferred = [SHIPPED_DEFAULTS.get((k, f, data)) for k in kinds for f in families]
    if image_shape is not None and len(image_shape) < 2:
        image_shape = None
    if (image_shape is not None or image_preset) and matching:
        scores = {i: _fit(entries[i], image_shape, image_source, image_preset) for i in matching}
        best = min(scores.values())
        matching = [i for i in matching if scores[i] == best]
    names = [entries[i]["name"] for i in matching]
    for name in preferred:
        if name in names:
            return matching[names.index(name)]
    if equivariant is None:  # either family: the equivariant model first, as the pages' pairs put it
        from core.models.registry import is_equivariant

        matching = [i for i in matching if is_equivariant(entries[i]["model"])] or matching
    return matching[0] if matching else 0


def default_order(entries: list[dict], kind: str | None, equivariant: bool | None, image_kind: str | None,
                  image_shape: tuple | None = None, image_source: str | None = None,
                  image_preset: str | None = None) -> list[int]:
    """Every index into `entries`, best default first: `default_index`, then the default without it, and so on
    (a page falls back along this order when a checkpoint does not load on its server)."""
    left, order = list(range(len(entries))), []
    while left:
        pick = left[default_index([entries[i] for i in left], kind, equivariant, image_kind, image_shape, image_source,
                                  image_preset)]
        order.append(pick)
        left.remove(pick)
    return order


FAMILIARITY_BAND = 10.0  # percentiles this close count as alike: the page's own order decides between them


def most_familiar_first(order: list[int], familiarities: dict[int, object]) -> list[int]:
    """`order` (indices of checkpoints, the page's ranking) re-ranked by how familiar the image is to each:
    familiar before unfamiliar, then by percentile band (FAMILIARITY_BAND) of the image among each model's own
    reference images, ties and checkpoints without a familiarity (None: it could not be computed) in `order`'s
    order, the latter last. With no familiarity at all, `order` itself (the fallback)."""
    def key(i: int) -> tuple:
        fam = familiarities.get(i)
        if fam is None:
            return (2, 0.0)
        return (0 if fam.familiar else 1, float(np.floor(fam.percentile / FAMILIARITY_BAND)))

    return sorted(order, key=key)  # stable: the page's order breaks ties
