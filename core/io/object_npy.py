"""DeepLense's object-array .npy files, read without unpickling arbitrary objects.

The official DeepLense simulator (github.com/mwt5345/DeepLenseSim, `Model_*/sim_axion.py`) saves
each vortex ("axion") image as `np.save(path, np.array([image, axion_mass]))`: an object array of
shape (2,) whose payload is a pickle. `read_object_npy` unpickles it with an `Unpickler` that
resolves only the four numpy globals an array of arrays and numbers needs (`_reconstruct`,
`ndarray`, `dtype`, `scalar`) and refuses every other global with one sentence, so a pickle
that would import `os.system` or anything else fails before it can run. The result must then be
an object array of numeric arrays and numbers, exactly one of them an image.
"""

from __future__ import annotations

import io
import numbers
import pickle

import numpy as np

from core.errors import InputError
from core.io.numpy_io import _read_header

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}  # fmt: skip
MAX_ELEMENTS = 16  # an object array of more entries is not a DeepLense record


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, fp, name: str):
        super().__init__(fp)
        self.name = name

    def find_class(self, module: str, global_name: str):
        if (module, global_name) not in ALLOWED_GLOBALS:
            raise InputError(
                f"{self.name} holds Python objects beyond numpy arrays and numbers ({module}.{global_name}), "
                "which EquiScope refuses to load because unpickling them can run code; save a numeric array with numpy.save."
            )
        return super().find_class(module, global_name)

    def persistent_load(self, pid):
        raise InputError(f"{self.name} refers to external objects, which EquiScope does not load; save a numeric array with numpy.save.")


def is_object_npy(raw: bytes) -> bool:
    """True when the .npy header announces dtype object (a pickled payload)."""
    try:
        return _read_header(io.BytesIO(raw), "")[2].hasobject
    except InputError:
        return False  # a damaged header: the ordinary .npy reader says what is wrong


def _unpickle(raw: bytes, name: str):
    fp = io.BytesIO(raw)
    shape, _fortran, _dtype = _read_header(fp, name)
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        raise InputError(
            f"{name} is an object array of {int(np.prod(shape)):,} entries, not an image record; save a numeric array with numpy.save."
        )
    try:
        return _NumpyOnlyUnpickler(fp, name).load()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{name} is a damaged object-array .npy file (its pickled payload does not load); save it again.") from exc


def read_object_npy(raw: bytes, name: str) -> tuple[np.ndarray, dict]:
    """(image array, extras) of a DeepLense-style [image, number, ...] object array.

    extras: {"axion_mass_ev": float} when the record holds one number (the official vortex
    format), {"numbers": [...]} when it holds several.
    """
    record = _unpickle(raw, name)
    if not isinstance(record, np.ndarray):
        raise InputError(f"{name} does not hold a numpy array; save a numeric array with numpy.save.")
    entries = list(record.ravel()) if record.dtype.hasobject else [record]
    images, numbers_found = [], []
    for entry in entries:
        if isinstance(entry, np.ndarray) and entry.dtype.hasobject:
            raise InputError(f"{name} nests object arrays inside each other, which is not an image record; save a numeric array with numpy.save.")
        if isinstance(entry, np.ndarray) and entry.ndim >= 2:
            images.append(entry)
        elif isinstance(entry, (numbers.Real, np.number, np.ndarray)) and np.ndim(entry) == 0 and not isinstance(entry, bool):
            numbers_found.append(float(entry))
        else:
            raise InputError(
                f"{name} holds a {type(entry).__name__} entry besides the image; EquiScope reads records of one image and numbers only."
            )
    if len(images) != 1:
        raise InputError(
            f"{name} is an object array with {len(images)} images in it; EquiScope reads records of exactly one image (and numbers), as DeepLense writes them."
        )
    extras = {"axion_mass_ev": numbers_found[0]} if len(numbers_found) == 1 else ({"numbers": numbers_found} if numbers_found else {})
    return images[0], extras
