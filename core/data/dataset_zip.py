"""A labelled data set uploaded as one zip archive, unpacked safely into a folder for `scan_dataset`.

Accepts the layouts `core.data.datasets.scan_dataset` reads: class folders (ours:
`no_sub/ cdm/ vortex/`; DeepLense's: `no/ sphere/ vort/`, names mapped by `canonical_class`),
or a flat folder with `labels.csv`, optionally all inside one top folder. Only image files,
`labels.csv` and `manifest.json` are extracted (listed by `core.io.zip_images.zip_images`); paths
that would leave the folder, hidden files and macOS resource forks are skipped; the file count
and unpacked size are capped. Members are streamed to disk a piece at a time under a byte budget
(the archive's directory is checked first but not trusted), so memory stays at one piece.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from core.atomic import atomic_open
from core.data.datasets import DISK_CLASSES, LENS_CLASSES, canonical_class
from core.errors import InputError
from core.io.zip_images import zip_images

MAX_FILES = 5000  # images per archive
MAX_UNPACKED_BYTES = 2 * 1024**3  # total size after unpacking
KEEP_NAMES = ("labels.csv", "manifest.json")


def unpack_dataset_zip(raw: bytes, dest: str | Path, name: str = "the archive", max_files: int = MAX_FILES,
                       max_bytes: int = MAX_UNPACKED_BYTES, max_pixels: int | None = None) -> Path:
    """Unpack the data-set files of a zip into `dest`; returns the data set's root folder inside it.

    The members come from `core.io.zip_images.zip_images` (the one zip reader: sizes checked from the
    archive's directory first, hidden files, `__MACOSX/` and paths with ".." skipped, encrypted
    archives refused), so most bad archives are refused in one sentence before anything is written.
    Each member is then checked from its header (`max_pixels`, default `core.settings`) and
    decompressed in pieces; past `max_bytes` in all, or a member's own budget, unpacking stops with
    one sentence and what was written is removed.
    """
    archive = zip_images(raw, name, max_bytes=max_bytes, keep=KEEP_NAMES)
    n_images = sum(1 for m in archive.members if m.name not in KEEP_NAMES)
    if n_images > max_files:
        raise InputError(f"{archive.name} holds {n_images} images; at most {max_files} can be evaluated at once.")
    dest = Path(dest)
    created = not dest.exists()
    written: list[Path] = []
    try:
        total = 0
        for member in archive.members:
            target = dest.joinpath(*member.path.split("/"))
            with atomic_open(target, "wb") as fh:
                for piece in archive.chunks(member, max_pixels=max_pixels):
                    total += len(piece)
                    if total > max_bytes:
                        raise InputError(f"{archive.name} unpacks to more than {max_bytes / 2**20:,.0f} MB, "
                                         "more than its directory declares and the limit; zip fewer files.")
                    fh.write(piece)
            written.append(target)
    except BaseException:
        _remove(dest if created else None, written)
        raise
    root = dest
    while True:  # descend through single wrapping folders ("dataset/no_sub/..."), not into a lone class folder
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        inner = entries[0]
        if not any(p.is_dir() for p in inner.iterdir()) and canonical_class(inner.name) in LENS_CLASSES + DISK_CLASSES:
            return root
        root = inner


def _remove(folder: Path | None, files: list[Path]) -> None:
    """Undo a failed unpacking: the folder it created, else the files it wrote."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink()
