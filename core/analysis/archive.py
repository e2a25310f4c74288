"""A labelled data set uploaded as one zip archive, unpacked safely into a folder for `scan_dataset`.

Accepts the layouts `core.data.datasets.scan_dataset` reads: class folders (ours:
`no_sub/ cdm/ vortex/`; DeepLense's: `no/ sphere/ vort/`, names mapped by `canonical_class`),
or a flat folder with `labels.csv`, optionally all inside one top folder. Only image files,
`labels.csv` and `manifest.json` are extracted (listed by `core.io.archive.zip_images`); paths
that would leave the folder, hidden files and macOS resource forks are skipped; the file count
and unpacked size are capped.
"""

from __future__ import annotations

from pathlib import Path

from core.atomic import atomic_write_bytes
from core.data.datasets import DISK_CLASSES, LENS_CLASSES, canonical_class
from core.errors import InputError
from core.io.archive import zip_images

MAX_FILES = 5000  # images per archive
MAX_UNPACKED_BYTES = 2 * 1024**3  # total size after unpacking
KEEP_NAMES = ("labels.csv", "manifest.json")


def unpack_dataset_zip(raw: bytes, dest: str | Path, name: str = "the archive",
                       max_files: int = MAX_FILES, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack the data-set files of a zip into `dest`; returns the data set's root folder inside it.

    The members come from `core.io.archive.zip_images` (the one zip reader: sizes checked from the
    archive's directory first, hidden files, `__MACOSX/` and paths with ".." skipped, encrypted
    archives refused), so every bad archive is refused in one sentence before anything is written.
    """
    archive = zip_images(raw, name, max_bytes=max_bytes, keep=KEEP_NAMES)
    n_images = sum(1 for m in archive.members if m.name not in KEEP_NAMES)
    if n_images > max_files:
        raise InputError(f"{archive.name} holds {n_images} images; at most {max_files} can be evaluated at once.")
    dest = Path(dest)
    for member in archive.members:
        atomic_write_bytes(dest.joinpath(*member.path.split("/")), archive.read(member))
    root = dest
    while True:  # descend through single wrapping folders ("dataset/no_sub/..."), not into a lone class folder
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        inner = entries[0]
        if not any(p.is_dir() for p in inner.iterdir()) and canonical_class(inner.name) in LENS_CLASSES + DISK_CLASSES:
            return root
        root = inner
