"""File formats EquiScope reads: extensions, content signatures, safe display names, the plane cap."""

from __future__ import annotations

import re
from pathlib import PurePath

from core.errors import InputError

EXTENSION_FORMAT = {
    ".fits": "fits", ".fit": "fits", ".fts": "fits",
    ".npy": "npy", ".npz": "npz",
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff",
}  # fmt: skip
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(EXTENSION_FORMAT)
MAX_PLANES = 65_536  # planes a cube (or bands, TIFF pages) may declare, hosted and on a laptop alike
SUPPORTED_TEXT = "a FITS (.fits/.fit/.fts, also gzipped), NumPy (.npy/.npz), PNG, JPEG or TIFF file"

# (leading bytes, format); "pickle" and "gzip" are recognised only to refuse them clearly
SIGNATURES = (
    (b"SIMPLE  =", "fits"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "npz"),
    (b"PK\x05\x06", "npz"),  # an empty zip archive
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x1f\x8b", "gzip"),
)


def display_name(filename: str | None) -> str:
    """A short, printable base name for messages: no folders, no control characters."""
    if not filename:
        return "The uploaded data"
    name = PurePath(str(filename).replace("\\", "/")).name or "file"
    name = re.sub(r"[\x00-\x1f\x7f]+", " ", name).strip() or "file"
    return name if len(name) <= 60 else name[:40] + "..." + name[-15:]


def check_planes(n_planes: int, name: str) -> None:
    """Refuse a cube declaring more than MAX_PLANES planes (a 20 KB header may declare millions)."""
    if n_planes > MAX_PLANES:
        raise InputError(
            f"{name} declares {n_planes:,} planes, more than the {MAX_PLANES:,} EquiScope reads from one cube; "
            "save the planes you need as a smaller cube."
        )


def is_supported_name(filename: str) -> bool:
    """True for a supported extension, also gzipped (`image.fits.gz`)."""
    name = str(filename).lower()
    name = name[:-3] if name.endswith(".gz") else name
    return extension_of(name) in EXTENSION_FORMAT


def extension_of(filename: str | None) -> str | None:
    """The lower-case extension (".fits") of a file name, or None when it has none."""
    if not filename:
        return None
    suffix = PurePath(str(filename).replace("\\", "/")).suffix.lower()
    return suffix or None


def sniff(raw: bytes) -> str | None:
    """The format announced by the first bytes, or None when they match nothing known."""
    for magic, fmt in SIGNATURES:
        if raw.startswith(magic):
            return fmt
    if raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    return None


def choose_format(raw: bytes, filename: str | None, name: str) -> tuple[str, str | None]:
    """(format to read with, note or None) from the extension and the content.

    An unknown extension is refused. A known extension whose content is clearly another
    supported format is read by its content, with a note; content nothing recognises is
    handed to the extension's reader, which then says precisely what is wrong.
    """
    ext = extension_of(filename)
    content = sniff(raw)
    if content == "pickle":
        raise InputError(
            f"{name} is a Python pickle, which EquiScope never opens because loading it can run code; "
            "save the array with numpy.save (allow_pickle=False) as a .npy file instead."
        )
    if content == "gzip":
        raise InputError(
            f"{name} is gzip-compressed twice; decompress it (for example with gunzip) and upload {SUPPORTED_TEXT}."
        )
    if ext is not None and ext not in EXTENSION_FORMAT:
        raise InputError(
            f"{name} has the extension {ext[:12]!r}, which EquiScope does not read; use {SUPPORTED_TEXT}."
        )
    by_name = EXTENSION_FORMAT.get(ext) if ext else None
    if by_name is None:
        if content is None:
            raise InputError(
                f"{name} has no file extension and its content is not recognised; use {SUPPORTED_TEXT}."
            )
        return content, None
    if content is not None and content != by_name:
        return (
            content,
            f"The file is named {ext} but its content is {content.upper()}; it was read as {content.upper()}.",
        )
    return by_name, None
