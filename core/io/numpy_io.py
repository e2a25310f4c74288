"""NumPy .npy / .npz readers: header checked before any data is read, never a pickle."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import numpy.lib.format as npformat

from core.errors import InputError
from core.io.formats import check_planes
from core.io.layout import Layout, check_total_pixels, plan_layout, resolve_plane, to_float32

MAX_NPY_HEADER = 10_000  # bytes; numpy's own default limit for an .npy header


def _read_header(fp, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of an .npy stream positioned at its start."""
    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            return npformat.read_array_header_1_0(fp, max_header_size=MAX_NPY_HEADER)
        if version == (2, 0):
            return npformat.read_array_header_2_0(fp, max_header_size=MAX_NPY_HEADER)
        return npformat._read_array_header(fp, version, max_header_size=MAX_NPY_HEADER)
    except Exception as exc:
        raise InputError(
            f"{name} is not a valid NumPy .npy array (its header is damaged); save the array again with numpy.save."
        ) from exc


def _check_dtype(dtype: np.dtype, name: str) -> None:
    if dtype.hasobject:
        raise InputError(
            f"{name} holds Python objects (dtype object), which EquiScope does not load because that needs pickle; "
            "save a numeric array with numpy.save."
        )
    if dtype.fields is not None:
        raise InputError(
            f"{name} is a structured array with fields {list(dtype.names)[:5]}; save one numeric 2-D field as its own array."
        )
    to_float32(np.empty(0, dtype=dtype), name)  # refuses complex, strings, dates


def _check_array(shape: tuple[int, ...], dtype: np.dtype, name: str, max_pixels: int) -> tuple[Layout, int]:
    """(layout, data bytes) of a numeric array the header announces, or InputError (type, size, planes)."""
    _check_dtype(dtype, name)
    layout = plan_layout(shape, name, channels_last_ok=True, max_pixels=max_pixels)
    check_planes(layout.n_planes, name)
    check_total_pixels(shape, name, max_pixels)
    return layout, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def npy_declared_bytes(head: bytes, name: str, max_pixels: int) -> int | None:
    """Total size (header + data) an .npy file announces in its first bytes, after checking its
    shape against `max_pixels` and MAX_PLANES; None for an object array (its size is unknown)."""
    fp = io.BytesIO(head)
    shape, _fortran, dtype = _read_header(fp, name)
    if dtype.hasobject:
        return None
    _layout, needed = _check_array(shape, dtype, name, max_pixels)
    return fp.tell() + needed


def read_npy(raw: bytes, name: str, max_pixels: int) -> tuple[np.ndarray, Layout]:
    """(array as stored, layout) of an .npy file's bytes; the array is a read-only view of `raw`
    (no copy: callers convert it to float32 anyway)."""
    fp = io.BytesIO(raw)
    shape, fortran, dtype = _read_header(fp, name)
    header_end = fp.tell()
    layout, needed = _check_array(shape, dtype, name, max_pixels)
    if len(raw) - header_end < needed:
        raise InputError(
            f"{name} is truncated: its header announces {needed:,} bytes of data but only "
            f"{max(len(raw) - header_end, 0):,} follow; copy or save the file again."
        )
    try:
        flat = np.frombuffer(raw, dtype=dtype, count=needed // dtype.itemsize, offset=header_end)
        array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    except Exception as exc:
        raise InputError(
            f"{name} could not be read as a NumPy array (the data is damaged); save the array again with numpy.save."
        ) from exc
    return array, layout


def read_npz(raw: bytes, name: str, max_pixels: int) -> tuple[np.ndarray, Layout]:
    """The single array of an .npz archive; several arrays or none are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except Exception as exc:
        raise InputError(
            f"{name} is not a valid .npz archive (the zip structure is damaged); save it again with numpy.savez."
        ) from exc
    arrays = [info for info in members if info.filename.endswith(".npy")]
    if not arrays:
        raise InputError(
            f"{name} contains no NumPy arrays; save one image with numpy.savez or numpy.save."
        )
    if len(arrays) > 1:
        names = ", ".join(info.filename[:-4] for info in arrays[:6])
        raise InputError(
            f"{name} contains {len(arrays)} arrays ({names}); save only the image you want, for instance as a single .npy file."
        )
    info = arrays[0]
    member = f"{name} (array {info.filename[:-4]!r})"
    try:
        with archive.open(info) as fp:
            data = io.BytesIO(fp.read(MAX_NPY_HEADER + 64))
            shape, _f, dtype = _read_header(data, member)
        _layout, needed = _check_array(shape, dtype, member, max_pixels)
        with archive.open(info) as fp:
            payload = fp.read(
                needed + MAX_NPY_HEADER + 64
            )  # never inflate more than the header announces
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"{name} is a damaged .npz archive (its array cannot be decompressed); save it again with numpy.savez."
        ) from exc
    return read_npy(payload, member, max_pixels)


def npy_plane(
    array: np.ndarray, layout: Layout, plane: int | None, name: str
) -> tuple[np.ndarray, int | None, list[str]]:
    """(2-D float32 image, chosen plane or None, notes); bands are summed when no plane is chosen."""
    chosen, notes = resolve_plane(layout, plane, name)
    data = to_float32(array, name)
    if array.dtype.kind == "b":
        notes.append("The array is boolean; True and False became 1 and 0.")
    if layout.plane_axis is not None and chosen is None:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf becomes NaN, filled later
            data = data.sum(axis=layout.plane_axis, dtype=np.float32)
        keep = [a - (a > layout.plane_axis) for a in layout.image_axes]
        squeeze = tuple(a for a in range(data.ndim) if a not in keep)
        return np.ascontiguousarray(data.squeeze(axis=squeeze)), None, notes
    image = data[layout.index(array.shape, chosen or 0)]  # (H, W): image axes keep their order
    return np.ascontiguousarray(image), chosen, notes
