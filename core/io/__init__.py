"""Read what users have (FITS, .npy/.npz, PNG/JPEG/TIFF) into one 2-D float32 image + metadata.

`read_image` accepts a path (datasets on disk) or raw bytes plus the uploaded file's name (the
app's uploads: bytes only, so no user input ever becomes a server path). Every unusable input
raises `core.errors.InputError` whose message is one plain sentence. Sizes are checked from
headers before any pixel is decoded, so a file announcing a huge image costs nothing.

Example:
    >>> img = read_image(Path("disk.fits"))
    >>> img.data.shape, img.meta.bunit, img.meta.beam  # ((512, 512), "Jy/beam", (0.1, 0.093, -82.6))
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.fits_io import fits_bytes, fits_header_facts, read_fits, write_fits
from core.io.formats import SUPPORTED_EXTENSIONS, SUPPORTED_TEXT, choose_format, display_name
from core.io.layout import finish
from core.io.meta import ImageMeta, LoadedImage
from core.io.numpy_io import npy_plane, read_npy, read_npz
from core.io.raster import read_raster

__all__ = [
    "DEFAULT_MAX_PIXELS", "SUPPORTED_EXTENSIONS", "ImageMeta", "LoadedImage", "InputError",
    "fits_bytes", "read_image", "write_fits",
]  # fmt: skip

DEFAULT_MAX_PIXELS = 4096 * 4096


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
    fmt, format_note = choose_format(raw, filename, name)
    notes = [format_note] if format_note else []
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
    data, n_bad, fill, fill_notes = finish(data, name)
    meta = ImageMeta(
        filename=name if filename else "upload", source_format=fmt, original_shape=shape,
        original_dtype=dtype, n_nonfinite=n_bad, fill_value=fill, notes=notes + fill_notes,
        hdu_index=hdu_index, plane=chosen, n_planes=n_planes, image_hdus=image_hdus, **facts,
    )  # fmt: skip
    return LoadedImage(data=data, meta=meta)
