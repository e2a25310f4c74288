"""A labelled data set uploaded as one zip archive, unpacked safely into a folder for `scan_dataset`.

Accepts the layouts `core.data.datasets.scan_dataset` reads: class folders (ours:
`no_sub/ cdm/ vortex/`; DeepLense's: `no/ sphere/ vort/`, names mapped by `canonical_class`),
or a flat folder with `labels.csv`, optionally all inside one top folder. Only image files,
`labels.csv` and `manifest.json` are extracted; paths that would leave the folder, hidden
files and macOS resource forks are skipped; the file count and unpacked size are capped.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from core.atomic import atomic_write_bytes
from core.data.datasets import DISK_CLASSES, LENS_CLASSES, canonical_class
from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS

MAX_FILES = 5000  # images per archive
MAX_UNPACKED_BYTES = 2 * 1024**3  # total size after unpacking
KEEP_NAMES = ("labels.csv", "manifest.json")


def unpack_dataset_zip(raw: bytes, dest: str | Path, name: str = "the archive",
                       max_files: int = MAX_FILES, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack the data-set files of a zip into `dest`; returns the data set's root folder inside it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise InputError(f"{name} is not a valid zip archive; zip the data set's folder again.") from exc
    dest = Path(dest)
    members = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if info.is_dir() or path.is_absolute() or ".." in path.parts or not path.parts:
            continue
        if path.parts[0] == "__MACOSX" or any(p.startswith(".") for p in path.parts):
            continue
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS and path.name not in KEEP_NAMES:
            continue
        members.append((info, path))
    images = [m for m in members if m[1].name not in KEEP_NAMES]
    if not images:
        raise InputError(f"{name} holds no images; zip a folder of .npy/.fits/.png files, one sub-folder per class.")
    if len(images) > max_files:
        raise InputError(f"{name} holds {len(images)} images; at most {max_files} can be evaluated at once.")
    if sum(info.file_size for info, _ in members) > max_bytes:
        raise InputError(f"{name} unpacks to more than {max_bytes / 1024**3:.0f} GB; evaluate a smaller subset.")
    for info, path in members:
        target = dest.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src:
            atomic_write_bytes(target, src.read())
    root = dest
    while True:  # descend through single wrapping folders ("dataset/no_sub/..."), not into a lone class folder
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        inner = entries[0]
        if not any(p.is_dir() for p in inner.iterdir()) and canonical_class(inner.name) in LENS_CLASSES + DISK_CLASSES:
            return root
        root = inner
