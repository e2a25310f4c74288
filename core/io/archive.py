"""Zip archives of image files, read from their bytes: never extracted to disk.

`zip_images(raw, name)` lists the image files of an archive (the extensions `read_image`
accepts) with their folder path inside it, so a DeepLense layout `no_sub/000.npy`,
`cdm/000.npy` keeps the folder that tells same-named files apart and gives their label
(`core.data.datasets.canonical_class` maps the folder name; this module knows no classes).
Sizes come from the archive's directory before anything is decompressed, so a zip bomb costs
nothing; folders, hidden files and macOS `__MACOSX/` copies are skipped.

Example:
    >>> archive = zip_images(Path("lenses.zip").read_bytes(), "lenses.zip")
    >>> archive.members[0].path, archive.members[0].folder  # ("no_sub/000.npy", "no_sub")
    >>> image = read_image(archive.read(archive.members[0]), archive.members[0].name)
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import InputError
from core.io.formats import display_name, is_supported_name

MAX_ARCHIVE_BYTES = 2 * 2**30  # largest total uncompressed size of the image files of one archive


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

    def read(self, member: ZipMember) -> bytes:
        try:
            return self._archive.read(member.entry or member.path)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(
                f"{member.name} in {self.name} cannot be decompressed (the archive is damaged); zip the files again."
            ) from exc


def _skip(path: str) -> bool:
    """Hidden files, macOS resource forks, and paths that climb out of the archive's folder."""
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
    members, skipped = [], 0
    for info in infos:
        path = info.filename.replace("\\", "/").lstrip("/")
        if info.is_dir() or not path or _skip(path) or ".." in PurePosixPath(path).parts:
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
    return ZipImages(name=name, members=members, n_skipped=skipped, _archive=archive)
