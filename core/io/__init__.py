"""Read what users have (FITS, .npy/.npz, PNG/JPEG/TIFF) into one 2-D float32 image + metadata.

`read_image` accepts a path (datasets on disk) or raw bytes plus the uploaded file's name (the
app's uploads: bytes only, so no user input ever becomes a server path). Every unusable input
raises `core.errors.InputError` whose message is one plain sentence. Sizes are checked from
headers before any pixel is decoded, so a file announcing a huge image costs nothing; a cube
declaring more than MAX_PLANES planes is refused (`meta.n_planes` says how many a cube has).

Example:
    >>> img = read_image(Path("disk.fits"))
    >>> img.data.shape, img.meta.bunit, img.meta.beam  # ((512, 512), "Jy/beam", (0.1, 0.093, -82.6))
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.fits_io import fits_bytes, fits_header_facts, read_fits, write_fits
from core.io.formats import (
    MAX_PLANES,
    SUPPORTED_EXTENSIONS,
    SUPPORTED_TEXT,
    check_planes,
    choose_format,
    display_name,
    is_supported_name,
)
from core.io.layout import finish
from core.io.meta import ImageMeta, LoadedImage
from core.io.numpy_io import npy_plane, read_npy, read_npz
from core.io.object_npy import is_object_npy, read_object_npy
from core.io.raster import read_raster

__all__ = [
    "DEFAULT_MAX_PIXELS", "MAX_PLANES", "SUPPORTED_EXTENSIONS", "ImageMeta", "is_supported_name", "LoadedImage", "InputError",
    "fits_bytes", "read_image", "write_fits",
]  # fmt: skip

DEFAULT_MAX_PIXELS = 4096 * 4096
GZIP_MAX_RATIO_BYTES = 16  # a gzipped file may inflate to at most 16 bytes per allowed pixel (+ headers)


def _gunzip(raw: bytes, filename: str | None, name: str, max_pixels: int) -> tuple[bytes, str | None]:
    """Decompress a gzip file (e.g. `image.fits.gz`, as archives serve FITS), never beyond what an image may need."""
    import zlib

    limit = max_pixels * GZIP_MAX_RATIO_BYTES + 1_000_000
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit)
    except zlib.error as exc:
        raise InputError(f"{name} is a damaged gzip file (it cannot be decompressed); download or compress it again.") from exc
    if inflater.unconsumed_tail:
        raise InputError(f"{name} decompresses to more than {limit // 1_000_000:,} MB, larger than any image EquiScope reads; crop it first.")
    if not inflater.eof:
        raise InputError(f"{name} is a truncated gzip file (it ends before its data does); download or copy it again.")
    inner = filename[:-3] if filename and filename.lower().endswith(".gz") else None
    return out, inner


def _raw_bytes(source: str | Path | bytes, filename: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), filename
    path = Path(source)
    name = display_name(filename or path.name)
    if not path.is_file():
        raise InputError(f"{name} does not exist or is not a file; check the path.")
    try:
        return path.read_bytes(), filename or path.name
    except OSError as exc:
        raise InputError(
            f"{name} cannot be read ({exc.strerror or 'input/output error'}); check its permissions."
        ) from exc


def _as_npy(array) -> bytes:
    """The .npy bytes of a numeric array (so a record's image passes the ordinary .npy checks)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_image(
    source: str | Path | bytes,
    filename: str | None = None,
    *,
    hdu: int | None = None,
    plane: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Load one 2-D image as finite float32 with its metadata.

    source: a path, or the file's bytes (then `filename` gives its name and extension).
    hdu: FITS HDU index to read (default: the first HDU holding an image).
    plane: plane of a cube / band of a multi-band array / page of a TIFF (default: plane 0 of a
        cube; bands of a .npy with at most 4 channels are summed).
    max_pixels: largest H * W accepted; bigger images are refused before decoding.
    NaN/Inf pixels are replaced by the median of the finite ones (counted in meta).
    """
    raw, filename = _raw_bytes(source, filename)
    name = display_name(filename)
    if not raw:
        raise InputError(f"{name} is empty (0 bytes); upload {SUPPORTED_TEXT}.")
    notes = []
    if raw[:2] == b"\x1f\x8b":
        raw, inner = _gunzip(raw, filename, name, max_pixels)
        notes.append(f"{name} was gzip-compressed and was decompressed.")
        if not raw:
            raise InputError(f"{name} decompresses to nothing (0 bytes); upload {SUPPORTED_TEXT}.")
        filename = inner
    fmt, format_note = choose_format(raw, filename, name)
    notes += [format_note] if format_note else []
    extras: dict = {}
    facts: dict = {
        "header": [],
        "bunit": None,
        "pixel_scale_arcsec": None,
        "beam": None,
        "has_wcs": False,
    }
    hdu_index, image_hdus = None, []
    if fmt == "fits":
        fp = read_fits(raw, name, hdu=hdu, plane=plane, max_pixels=max_pixels)
        facts = fits_header_facts(fp.header)
        notes += fp.notes + facts.pop("notes")
        data, chosen, n_planes = fp.data, fp.plane, fp.n_planes
        shape, dtype, hdu_index, image_hdus = (
            fp.original_shape,
            fp.original_dtype,
            fp.hdu_index,
            fp.image_hdus,
        )
    elif fmt == "npy" and is_object_npy(raw):
        record_image, extras = read_object_npy(raw, name)
        array, layout = read_npy(_as_npy(record_image), name, max_pixels)
        data, chosen, plane_notes = npy_plane(array, layout, plane, name)
        notes += plane_notes + [f"{name} is a DeepLense-style record (an object array of an image and numbers); its image was read"
                                + (f" and the axion mass {extras['axion_mass_ev']:.4g} eV kept." if "axion_mass_ev" in extras else ".")]
        shape, dtype, n_planes = tuple(array.shape), array.dtype.name, layout.n_planes
    elif fmt in ("npy", "npz"):
        array, layout = (read_npy if fmt == "npy" else read_npz)(raw, name, max_pixels)
        data, chosen, plane_notes = npy_plane(array, layout, plane, name)
        notes += plane_notes
        shape, dtype, n_planes = tuple(array.shape), array.dtype.name, layout.n_planes
    else:
        rp = read_raster(raw, name, plane=plane, max_pixels=max_pixels)
        fmt, data, chosen, n_planes = rp.source_format, rp.data, rp.plane, rp.n_planes
        shape, dtype = rp.original_shape, rp.original_dtype
        notes += rp.notes
    check_planes(n_planes, name)  # FITS and .npy are checked from their headers; TIFF pages here
    data, n_bad, fill, fill_notes = finish(data, name)
    meta = ImageMeta(
        filename=name if filename else "upload", source_format=fmt, original_shape=shape,
        original_dtype=dtype, n_nonfinite=n_bad, fill_value=fill, notes=notes + fill_notes,
        hdu_index=hdu_index, plane=chosen, n_planes=n_planes, image_hdus=image_hdus,
        axion_mass_ev=extras.get("axion_mass_ev"), **facts,
    )  # fmt: skip
    return LoadedImage(data=data, meta=meta)
