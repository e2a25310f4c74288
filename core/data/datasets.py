"""Data-set folders -> an index of files and labels -> a torch Dataset on the model grid.

Accepted layouts (`scan_dataset`):
- a folder written by `core.data.dataset_writer` (manifest.json + one sub-folder per class);
- a class-folder layout from anywhere, e.g. DeepLense's (`no/`, `sphere/`, `vort/`, ...): each
  sub-folder holding images is a class, its name mapped by `canonical_class`;
- a flat folder of FITS / .npy / ... images with an optional `labels.csv` (columns `file,label`).

`load_tensors` reads a whole data set into memory on the model grid: what training, evaluation
and the analysis commands all start from.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.data.preprocess import DEFAULT_GRID, prepare
from core.errors import InputError
from core.io import is_supported_name, read_image
from core.progress import Progress

LENS_CLASSES = ("no_sub", "cdm", "vortex")
DISK_CLASSES = ("planets_0", "planets_1", "planets_2", "planets_3")
CLASS_ALIASES = {
    "no": "no_sub", "nosub": "no_sub", "no_sub": "no_sub", "no-sub": "no_sub", "no_substructure": "no_sub",
    "sphere": "cdm", "spheres": "cdm", "cdm": "cdm", "subhalo": "cdm", "subhalos": "cdm",
    "vort": "vortex", "vortex": "vortex", "vortices": "vortex", "axion": "vortex",
}  # fmt: skip
MANIFEST_NAME = "manifest.json"
LABELS_NAME = "labels.csv"


def canonical_class(name: str) -> str:
    """Our class name for a folder or label name ("sphere" -> "cdm", "vort" -> "vortex", ...); others unchanged."""
    key = str(name).strip()
    return CLASS_ALIASES.get(key.lower(), key)


def _ordered_classes(names: set[str]) -> list[str]:
    for known in (LENS_CLASSES, DISK_CLASSES):
        if names <= set(known):
            return [c for c in known if c in names]
    return sorted(names)


@dataclass
class DatasetIndex:
    """The files of a data set with their labels (None when unlabelled) and a stable fingerprint."""

    root: Path
    files: list[Path]
    labels: list[str] | None
    classes: list[str]
    manifest: dict | None = None
    fingerprint: str = ""
    layout: str = ""  # "manifest" | "class-folders" | "flat"
    notes: list[str] = field(default_factory=list)
    twins: list[Path] | None = None  # noiseless twins (simulate --twins): one file per image, else None
    noise: list[dict] | None = None  # with twins: each image's noise parameters (core.data.observe.noise_table)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def label_indices(self) -> np.ndarray:
        """Integer class of every file (index into `classes`), -1 where unlabelled."""
        if self.labels is None:
            return np.full(len(self.files), -1, dtype=np.int64)
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[lab] for lab in self.labels], dtype=np.int64)


def _is_image(path: Path) -> bool:
    return path.is_file() and is_supported_name(path.name) and not path.name.startswith(".")


def _file_fingerprint(root: Path, files: list[Path], labels: list[str] | None) -> str:
    h = hashlib.sha256()
    for k, f in enumerate(files):
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\t{labels[k] if labels else ''}\n".encode())
    return h.hexdigest()


def _from_manifest(root: Path, manifest: dict) -> DatasetIndex:
    entries = manifest.get("images") or []
    if not entries:
        raise InputError(f"{root.name}/{MANIFEST_NAME} lists no images; simulate the data set again.")
    files = [root / e["file"] for e in entries]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} images listed in {MANIFEST_NAME} are missing (first: {missing[0].relative_to(root)}); re-run the simulation into the same folder to complete it."
        )
    labels = [canonical_class(e["label"]) for e in entries]
    classes = [canonical_class(c) for c in manifest.get("classes") or _ordered_classes(set(labels))]
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    index = DatasetIndex(root, files, labels, classes, manifest, hashlib.sha256(canonical).hexdigest(), "manifest")
    if manifest.get("twins") and all("twin" in e and "noise" in e for e in entries):
        index.twins, index.noise = [root / e["twin"] for e in entries], [e["noise"] for e in entries]
        missing = [f for f in index.twins if not f.is_file()]
        if missing:
            raise InputError(f"{len(missing)} noiseless twins listed in {MANIFEST_NAME} are missing (first: "
                             f"{missing[0].relative_to(root)}); re-run the simulation with --twins into the same folder to complete it.")
    return index


def _read_labels_csv(root: Path, files: list[Path]) -> list[str]:
    path = root / LABELS_NAME
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{LABELS_NAME} cannot be read ({exc}); save it as a UTF-8 CSV with columns file,label.") from exc
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise InputError(f"{LABELS_NAME} needs the columns file,label (one row per image).")
    table = {Path(r["file"].strip()).name: canonical_class(r["label"]) for r in rows if r.get("file")}
    unlabelled = [f.name for f in files if f.name not in table]
    if unlabelled:
        raise InputError(
            f"{LABELS_NAME} has no label for {unlabelled[0]}" + (f" and {len(unlabelled) - 1} other files" if len(unlabelled) > 1 else "") + "; add a row for every image."
        )
    return [table[f.name] for f in files]


def scan_dataset(path: str | Path) -> DatasetIndex:
    """Index a data-set folder (manifest, class folders or flat folder with optional labels.csv)."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give the folder that holds the images (or their class sub-folders).")
    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{MANIFEST_NAME} in {root.name} is not valid JSON; delete it to use the folder layout or simulate again.") from exc
        return _from_manifest(root, manifest)

    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    class_files = {d: sorted(f for f in d.iterdir() if _is_image(f)) for d in class_dirs}
    class_files = {d: fs for d, fs in class_files.items() if fs}
    if class_files:
        names = [canonical_class(d.name) for d in class_files]
        if len(set(names)) != len(names):
            raise InputError("Two class folders map to the same class (for example 'sphere' and 'cdm'); keep one folder per class.")
        classes = _ordered_classes(set(names))
        by_class = dict(zip(names, class_files.values(), strict=True))
        files = [f for c in classes for f in by_class[c]]
        labels = [c for c in classes for _ in by_class[c]]
        return DatasetIndex(root, files, labels, classes, None, _file_fingerprint(root, files, labels), "class-folders")

    files = sorted(f for f in root.iterdir() if _is_image(f))
    if not files:
        raise InputError(f"{root.name} holds no images; use a folder of .npy/.fits/.png files or one sub-folder of them per class.")
    labels = _read_labels_csv(root, files) if (root / LABELS_NAME).is_file() else None
    classes = _ordered_classes(set(labels)) if labels else []
    return DatasetIndex(root, files, labels, classes, None, _file_fingerprint(root, files, labels), "flat")


class ImageDataset(Dataset):
    """Images of a `DatasetIndex` on the (size, size) model grid.

    `__getitem__(i) -> (x (1, size, size) float32 in [0, 1], class index or -1)`;
    `transform` (optional) maps a (1, 1, S, S) tensor to one of the same shape (e.g.
    `RandomE2Augment`); `cache=True` keeps the prepared images in memory (4 size^2 bytes each).
    """

    def __init__(self, index: DatasetIndex, size: int = DEFAULT_GRID, transform: Callable | None = None, cache: bool = False):
        self.index = index
        self.size = size
        self.transform = transform
        self.targets = index.label_indices
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        """Prepared (size, size) float32 image i, without the transform."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        path = self.index.files[i]
        try:
            image = prepare(read_image(path).data, self.size)
        except InputError as exc:
            if path.name in str(exc):
                raise
            raise InputError(f"{path.name}: {exc}") from exc  # say which file of the data set
        if self._cache is not None:
            self._cache[i] = image
        return image

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.image(i))[None]  # (1, S, S)
        if self.transform is not None:
            x = self.transform(x[None])[0]  # (1, S, S)
        return x, int(self.targets[i])


def load_tensors(source: str | Path | DatasetIndex, size: int, progress: Progress | None = None, *,
                 classes: Sequence[str] | None = None, limit: int | None = None):
    """Images of a data set on the (size, size) grid, in memory: (X (N, 1, S, S) float32 in [0, 1], y (N,) int64, index).

    source: a data-set folder (read with `scan_dataset`) or an index already scanned.
    y: class index of each image into the data set's own `index.classes`, -1 where unlabelled;
    given a model's `classes`, into those instead (folder names mapped by `canonical_class`),
    and an unlabelled folder or a class the model does not know is an InputError.
    limit: only the first `limit` images. `progress(done, total, message)` every 200 images.
    """
    index = source if isinstance(source, DatasetIndex) else scan_dataset(source)
    where = index.root if isinstance(source, DatasetIndex) else source
    if not index.files:
        raise InputError(f"The folder {where} holds no images; use a folder of .npy/.fits/.png files "
                         "or simulate some with `python -m core simulate`.")
    n = len(index) if limit is None else min(limit, len(index))
    y = torch.as_tensor(index.label_indices[:n], dtype=torch.int64)
    if classes:
        if index.labels is None:
            raise InputError(f"The folder {where} has no class labels; a classifier is evaluated on class sub-folders or a labels.csv.")
        known = {canonical_class(c): i for i, c in enumerate(classes)}
        for i in range(n):
            name = canonical_class(index.labels[i])
            if name not in known:
                raise InputError(f"The class '{index.labels[i]}' in {where} is not one the model knows ({', '.join(classes)}).")
            y[i] = known[name]
    dataset = ImageDataset(index, size=size)
    xs = []
    for i in range(n):
        xs.append(dataset[i][0])
        if progress is not None and (i + 1) % 200 == 0:
            progress(i + 1, n, "preprocessing images")
    return torch.stack(xs), y, index


def load_twins(index: DatasetIndex, size: int, limit: int | None = None):
    """The noiseless twins of a data set in memory (core.data.observe.Twins, observed for the (size, size) model
    grid), the first `limit` of them; None when the data set keeps none (simulated without --twins)."""
    if index.twins is None:
        return None
    from core.data.observe import Twins, noise_table

    n = len(index.twins) if limit is None else min(limit, len(index.twins))
    images = torch.from_numpy(np.stack([np.load(f, allow_pickle=False).astype(np.float32) for f in index.twins[:n]]))[:, None]
    return Twins(images, noise_table(index.noise[:n]), size)


def split_indices(n: int, val_fraction: float, seed: int, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) index arrays; stratified by `labels` when given. Sorted, disjoint, covering range(n)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"The validation fraction must be between 0 and 1 (exclusive); got {val_fraction}.")
    if n < 2:
        raise ValueError(f"Splitting needs at least 2 images; got {n}.")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(np.asarray(labels) == c) for c in np.unique(labels)]
    val = []
    for g in groups:
        g = rng.permutation(g)
        k = min(max(int(round(len(g) * val_fraction)), 1), len(g) - 1) if len(g) > 1 else 0
        val.append(g[:k])
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    if len(val_idx) == 0:
        val_idx = np.array([rng.integers(n)], dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    return train_idx, val_idx


def kfold_indices(n: int, k: int, seed: int, labels=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train, validation) splits; every index is in exactly one validation fold (stratified by `labels` when given)."""
    if k < 2 or k > n:
        raise ValueError(f"k-fold needs 2 <= k <= number of images ({n}); got k={k}.")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(np.asarray(labels) == c) for c in np.unique(labels)]
    offset = 0
    for g in groups:
        g = rng.permutation(g)
        fold_of[g] = (np.arange(len(g)) + offset) % k
        offset += len(g)  # spread remainders of successive classes over different folds
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]
