"""Zip archives of image files, read from their bytes: never extracted to disk.

`zip_images(raw, name)` lists the image files of an archive (the extensions `read_image`
accepts) with their folder path inside it, so a DeepLense layout `no_sub/000.npy`,
`cdm/000.npy` keeps the folder that tells same-named files apart and gives their label
(`core.data.datasets.canonical_class` maps the folder name; this module knows no classes).
Folders, hidden files and macOS `__MACOSX/` copies are skipped. A zip bomb costs nothing: the
directory's sizes are checked before anything is decompressed, then `read(member)` checks the
header of a .npy (shape, dtype) or FITS (NAXISn, BITPIX) member from its first bytes against
`max_pixels` and MAX_PLANES, and decompresses piece by piece, stopping one byte past a budget
(`member_budget`) whatever the directory says.

Example:
    >>> archive = zip_images(Path("lenses.zip").read_bytes(), "lenses.zip")
    >>> archive.members[0].path, archive.members[0].folder  # ("no_sub/000.npy", "no_sub")
    >>> image = read_image(archive.read(archive.members[0]), archive.members[0].name)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import InputError
from core.io.fits_io import fits_declared_bytes
from core.io.formats import display_name, is_supported_name
from core.io.layout import TOTAL_PIXELS_FACTOR
from core.io.numpy_io import npy_declared_bytes
from core.settings import settings

MAX_ARCHIVE_BYTES = 2 * 2**30  # largest total uncompressed size of the image files of one archive
CHUNK = 2**20  # bytes decompressed at a time; the first chunk holds the header that is checked
HEADER_ROOM = 2**20  # bytes allowed beyond the pixels for headers


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:,.1f} KB"


def member_budget(max_pixels: int) -> int:
    """Most bytes one member may decompress to: the largest .npy `read_image` accepts
    (TOTAL_PIXELS_FACTOR * max_pixels float64 values) plus HEADER_ROOM."""
    return TOTAL_PIXELS_FACTOR * 8 * max_pixels + HEADER_ROOM


def is_zip(filename: str | None) -> bool:
    """Whether an upload is a zip archive of files (by its name: a .npz is a zip too, but one image)."""
    return bool(filename) and str(filename).lower().endswith(".zip")


@dataclass(frozen=True)
class ZipMember:
    """One image file inside an archive."""

    path: str  # path inside the archive, '/'-separated ("no_sub/000.npy")
    size: int  # uncompressed bytes
    entry: str | None = field(default=None, compare=False, repr=False)  # the name as stored, when it differs

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def folder(self) -> str:
        """The folder holding the file inside the archive ("" at the top)."""
        parent = str(PurePosixPath(self.path).parent)
        return "" if parent == "." else parent


@dataclass
class ZipImages:
    """The image files of one archive, in archive order; `read(member)` decompresses one."""

    name: str
    members: list[ZipMember]
    n_skipped: int  # files that are not images (README, labels.csv, ...)
    _archive: zipfile.ZipFile = field(repr=False)
    n_unsafe: int = 0  # files skipped because their path climbs out of the archive ("..")

    def read(self, member: ZipMember, *, max_pixels: int | None = None, max_bytes: int | None = None) -> bytes:
        """The member's bytes, or InputError before it grows too big (see `chunks`)."""
        out = io.BytesIO()
        for piece in self.chunks(member, max_pixels=max_pixels, max_bytes=max_bytes):
            out.write(piece)
        return out.getvalue()  # shares the buffer: no second copy

    def chunks(self, member: ZipMember, *, max_pixels: int | None = None,
               max_bytes: int | None = None) -> Iterator[bytes]:
        """The member decompressed piece by piece (at most CHUNK bytes each).

        max_pixels: largest image (H * W) the caller reads (default: `core.settings` max_pixels);
            a .npy or FITS member whose header declares more, or more than MAX_PLANES planes,
            is refused from its first bytes.
        max_bytes: most bytes the member may decompress to (default: `member_budget(max_pixels)`);
            the stream stops one byte past it, whatever the archive's directory declares.
        """
        max_pixels = settings().max_pixels if max_pixels is None else max_pixels
        budget = member_budget(max_pixels) if max_bytes is None else max_bytes
        try:
            with self._archive.open(member.entry or member.path) as fp:
                piece = fp.read(min(CHUNK, budget + 1))
                limit = self._limit(member, piece, max_pixels, budget)  # the header's verdict first
                if member.size > limit:  # then the directory's
                    raise self._too_big(member, limit, budget)
                total = 0
                while piece:
                    total += len(piece)
                    if total > limit:
                        raise self._too_big(member, limit, budget)
                    yield piece
                    piece = fp.read(min(CHUNK, limit + 1 - total))
        except (InputError, MemoryError):
            raise
        except NotImplementedError as exc:  # Deflate64, PPMd, ...
            raise InputError(
                f"{member.name} in {self.name} is compressed with a method Python cannot unpack; zip the files again with ordinary compression."
            ) from exc
        except Exception as exc:  # BadZipFile (CRC), zlib / bz2 / lzma errors, truncated data
            raise InputError(
                f"{member.name} in {self.name} cannot be decompressed (the archive is damaged); zip the files again."
            ) from exc

    def _limit(self, member: ZipMember, head: bytes, max_pixels: int, budget: int) -> int:
        """Bytes the member may reach, after checking the size its .npy or FITS header declares."""
        if not is_supported_name(member.name):  # labels.csv, manifest.json
            return budget
        label = f"{member.name} in {self.name}"
        if head.startswith(b"\x93NUMPY"):  # a .npy holds nothing beyond its array
            declared, slack = npy_declared_bytes(head, label, max_pixels), HEADER_ROOM
        elif head.startswith(b"SIMPLE"):  # primary data only: extensions may follow
            declared, slack = fits_declared_bytes(head, label, max_pixels), budget
        else:
            return budget
        if declared is None:
            return budget
        if declared > budget:
            raise InputError(
                f"{label} declares {_size(declared)} of image data, more than the "
                f"{_size(budget)} one file in a zip may hold; zip smaller files."
            )
        return min(budget, declared + slack)

    def _too_big(self, member: ZipMember, limit: int, budget: int) -> InputError:
        size = f"{member.name} in {self.name} decompresses to more than {_size(limit)}"
        if limit < budget:
            return InputError(f"{size}, more than its header announces; save the file and zip it again.")
        return InputError(f"{size}, the most one file in a zip may hold; zip smaller files.")


def _skip(path: str) -> bool:
    """Hidden files and macOS resource forks (paths that climb out of the archive's folder are counted before)."""
    parts = PurePosixPath(path).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def zip_images(raw: bytes, filename: str, *, max_bytes: int = MAX_ARCHIVE_BYTES,
               keep: tuple[str, ...] = ()) -> ZipImages:
    """The image files of a zip archive given as bytes, or InputError (not a zip, encrypted,
    no images, more than `max_bytes` once decompressed).

    `keep`: base names of other files to list too (a data set's `labels.csv`, `manifest.json`);
    they count towards `max_bytes`, not as images. Member paths are relative and never hold
    "..": a path that would leave the archive's folder is skipped like a hidden file.
    """
    name = display_name(filename)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{name} is not a readable zip archive; zip the image files (or their class folders) again.") from exc
    members, skipped, unsafe = [], 0, 0
    for info in infos:
        path = info.filename.replace("\\", "/").lstrip("/")
        if ".." in PurePosixPath(path).parts:  # counted before `_skip`, which would take ".." for a hidden name
            unsafe += not info.is_dir()
            continue
        if info.is_dir() or not path or _skip(path):
            continue
        base = PurePosixPath(path).name
        if not is_supported_name(base) and base not in keep:
            skipped += 1
            continue
        if info.flag_bits & 0x1:
            raise InputError(f"{name} is password-protected; zip the files without a password.")
        members.append(ZipMember(path=path, size=int(info.file_size),
                                 entry=info.filename if info.filename != path else None))
    if not any(m.name not in keep for m in members):
        raise InputError(
            f"{name} holds no image files; zip FITS, NumPy (.npy/.npz), PNG, JPEG or TIFF files, "
            "optionally in one folder per class."
        )
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise InputError(
            f"{name} holds {total / 2**20:,.0f} MB of images once unpacked, more than the limit of "
            f"{max_bytes / 2**20:,.0f} MB; zip fewer files."
        )
    return ZipImages(name=name, members=members, n_skipped=skipped, _archive=archive, n_unsafe=unsafe)
