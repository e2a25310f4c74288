"""Data-set folders: our manifest, DeepLense class folders, flat folders with labels.csv; splits."""

import os
import shutil

import numpy as np
import pytest
import torch

from core.data.dataset_writer import simulate_dataset
from core.data.datasets import (
    ImageDataset,
    canonical_class,
    kfold_indices,
    scan_dataset,
    split_indices,
)
from core.data.transforms import RandomE2Augment
from core.errors import InputError
from core.io import write_fits


def blob(size: int, dx: float = 0.0) -> np.ndarray:
    rows, cols = np.indices((size, size))
    c = (size - 1) / 2
    return np.exp(-((rows - c) ** 2 + (cols - c - dx) ** 2) / 20.0).astype(np.float32)


def test_canonical_class_aliases():
    assert [canonical_class(n) for n in ("no", "nosub", "no_sub", "NoSub")] == ["no_sub"] * 4
    assert [canonical_class(n) for n in ("sphere", "cdm")] == ["cdm"] * 2
    assert [canonical_class(n) for n in ("vort", "vortex", "axion")] == ["vortex"] * 3
    assert canonical_class("planets_2") == "planets_2" and canonical_class("spiral") == "spiral"


def test_deeplense_class_folders_in_our_order(tmp_path):
    for folder, n in (("vort", 2), ("no", 3), ("sphere", 1)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            np.save(tmp_path / folder / f"{i}.npy", blob(150, i))
    index = scan_dataset(tmp_path)
    assert index.layout == "class-folders" and index.manifest is None
    assert index.classes == ["no_sub", "cdm", "vortex"]
    assert index.labels == ["no_sub"] * 3 + ["cdm"] + ["vortex"] * 2
    assert index.label_indices.tolist() == [0, 0, 0, 1, 2, 2]
    x, y = ImageDataset(index, size=129)[4]
    assert x.shape == (1, 129, 129) and x.dtype == torch.float32 and y == 2
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_fingerprint_is_stable_and_tracks_changes(tmp_path):
    (tmp_path / "no").mkdir()
    np.save(tmp_path / "no" / "a.npy", blob(32))
    first = scan_dataset(tmp_path).fingerprint
    assert scan_dataset(tmp_path).fingerprint == first
    np.save(tmp_path / "no" / "a.npy", blob(32, 1.0))
    os.utime(tmp_path / "no" / "a.npy", ns=(1, 1))
    assert scan_dataset(tmp_path).fingerprint != first


def test_flat_fits_folder_with_labels_csv(tmp_path):
    for i in range(3):
        write_fits(tmp_path / f"disk{i}.fits", blob(40, i))
    (tmp_path / "labels.csv").write_text("file,label\ndisk0.fits,planets_1\ndisk1.fits,planets_0\ndisk2.fits,planets_1\n")
    index = scan_dataset(tmp_path)
    assert index.layout == "flat" and index.classes == ["planets_0", "planets_1"]
    assert index.label_indices.tolist() == [1, 0, 1]
    x, y = ImageDataset(index, size=33)[1]
    assert x.shape == (1, 33, 33) and y == 0


def test_flat_folder_without_labels_and_error_messages(tmp_path):
    np.save(tmp_path / "a.npy", blob(20))
    index = scan_dataset(tmp_path)
    assert index.labels is None and index.label_indices.tolist() == [-1]
    assert ImageDataset(index, size=17)[0][1] == -1
    (tmp_path / "labels.csv").write_text("file,label\nother.npy,cdm\n")
    with pytest.raises(InputError, match="^labels.csv has no label for a.npy; add a row for every image.$"):
        scan_dataset(tmp_path)
    with pytest.raises(InputError, match="is not a folder"):
        scan_dataset(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no images"):
        scan_dataset(empty)
    np.save(tmp_path / "flat.npy", np.ones((20, 20), np.float32))
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(InputError, match=r"constant") as err:
        ImageDataset(scan_dataset(tmp_path), size=17)[1]
    assert str(err.value).count("flat.npy") == 1  # names the file of the data set once


def test_simulated_manifest_folder_with_augmentation(tmp_path):
    simulate_dataset("lenses", 3, 24, seed=0, out=tmp_path, progress=False)
    index = scan_dataset(tmp_path)
    assert index.layout == "manifest" and index.classes == ["no_sub", "cdm", "vortex"]
    assert index.manifest["seed"] == 0 and len(index.fingerprint) == 64
    plain = ImageDataset(index, size=25)
    augmented = ImageDataset(index, size=25, transform=RandomE2Augment("right", flips=True, generator=torch.Generator().manual_seed(0)))
    x, _ = plain[1]
    xa, ya = augmented[1]
    group = [torch.rot90(v, k, dims=(-2, -1)) for v in (x, torch.flip(x, dims=(-1,))) for k in range(4)]
    assert ya == 1 and any(torch.equal(xa, g) for g in group)
    (tmp_path / index.manifest["images"][2]["file"]).unlink()
    with pytest.raises(InputError, match="1 images listed in manifest.json are missing"):
        scan_dataset(tmp_path)


def test_real_deeplense_files_in_their_own_folder_names(tmp_path, realdata):
    for folder, name in (("no", "nosub"), ("sphere", "cdm"), ("axion", "axion")):
        (tmp_path / folder).mkdir()
        shutil.copy(realdata(f"lenses/ML4SCI_LucasJose_{name}.npy"), tmp_path / folder / "x.npy")
    index = scan_dataset(tmp_path)
    assert index.labels == ["no_sub", "cdm", "vortex"]
    x, y = ImageDataset(index)[2]
    assert x.shape == (1, 129, 129) and y == 2


def test_split_and_kfold_cover_disjointly_and_stratify():
    labels = np.repeat([0, 1, 2], [30, 30, 12])
    train, val = split_indices(72, 0.25, seed=0, labels=labels)
    assert np.intersect1d(train, val).size == 0 and np.union1d(train, val).tolist() == list(range(72))
    assert np.bincount(labels[val]).tolist() == [8, 8, 3]
    assert split_indices(72, 0.25, 0, labels)[1].tolist() == val.tolist()
    assert split_indices(72, 0.25, 1, labels)[1].tolist() != val.tolist()
    folds = kfold_indices(72, 5, seed=0, labels=labels)
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals.tolist()) == list(range(72))
    for tr, v in folds:
        assert np.intersect1d(tr, v).size == 0 and len(tr) + len(v) == 72
        assert all(abs(c - n / 5) <= 1 for c, n in zip(np.bincount(labels[v], minlength=3), (30, 30, 12), strict=True))
    with pytest.raises(ValueError, match="The validation fraction must be between 0 and 1"):
        split_indices(10, 1.5, 0)
    with pytest.raises(ValueError, match="k-fold needs 2 <= k <= number of images"):
        kfold_indices(3, 5, 0)
