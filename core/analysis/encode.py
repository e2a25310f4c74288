"""Latent vectors of images and data sets, with an on-disk cache that never serves stale latents.

The latent of an image is the model's invariant vector: `encode` for an autoencoder, `embed`
(the features before the classification head) for a classifier or a self-supervised encoder
(the features before its projector); all (B, d) float32.

Cache: `<cache_dir>/<sha256 of checkpoint>[:16]_<dataset fingerprint>[:16]/` holds
`latents.npy` (N, d) float32 and `meta.json` (written last, atomically: its presence marks
a complete entry) with the full checkpoint sha256, the dataset fingerprint, the files, the
labels and the sha256 of `latents.npy`. On read every one of these is checked; a mismatch
or an unreadable file means the latents are recomputed and the cache rewritten (with a note
in `Latents.notes`). A retrained checkpoint has another sha256, hence another cache entry.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_write_bytes, atomic_write_json, sha256_file
from core.errors import InputError
from core.paths import LATENT_CACHE_DIR
from core.progress import Progress

CACHE_FORMAT = 2  # 2: files stored relative to the data-set root


@dataclass
class Latents:
    """Invariant latent vectors of a data set, row i belonging to files[i]."""

    z: np.ndarray  # (N, d) float32
    files: list[str]
    labels: list[str] | None  # known class label per image, or None
    classes: list[str]
    checkpoint_sha256: str
    dataset_fingerprint: str
    cache_folder: Path | None = None  # where the latents (and fitted maps) are cached
    from_cache: bool = False
    notes: list[str] = field(default_factory=list)


def _model_kind(loaded) -> str:
    kind = getattr(loaded, "kind", None) or getattr(loaded.model, "kind", None)
    if kind not in ("autoencoder", "classifier", "encoder"):
        raise InputError(f"Model '{getattr(loaded, 'name', '?')}' is neither an autoencoder, a classifier nor a pretrained encoder.")
    return kind


def _image_size(loaded) -> int:
    return int(getattr(loaded, "image_size", None) or loaded.model.image_size)


def _device(model: torch.nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _sha256(loaded) -> str:
    sha = getattr(loaded, "sha256", None) or (getattr(loaded, "entry", None) or {}).get("sha256")
    if not sha:
        raise InputError(f"Model '{getattr(loaded, 'name', '?')}' has no sha256; load it with core.checkpoints.load_model.")
    return str(sha)


def latent_fn(loaded) -> Callable[[torch.Tensor], torch.Tensor]:
    """x (B, 1, S, S) -> invariant vector (B, d): `encode` (autoencoder) or `embed` (classifier, pretrained encoder)."""
    model = loaded.model
    return model.encode if _model_kind(loaded) == "autoencoder" else model.embed


@torch.inference_mode()
def _run(fn, x: torch.Tensor, device: torch.device) -> np.ndarray:
    return fn(x.to(device)).float().cpu().numpy()


def _prepare(loaded, images: Sequence[np.ndarray]) -> torch.Tensor:
    from core.data.preprocess import prepare_batch

    if len(images) == 0:
        raise InputError("No images were given; pass at least one 2-D image.")
    return prepare_batch(list(images), size=_image_size(loaded))  # (B, 1, S, S)


def encode_images(loaded, images: Sequence[np.ndarray]) -> np.ndarray:
    """Latents (N, d) float32 of raw 2-D images (any size; cropped, resized and normalised)."""
    return encode_batch(loaded, _prepare(loaded, images))


def encode_batch(loaded, x: torch.Tensor) -> np.ndarray:
    """Latents (B, d) float32 of images already on the model grid, x (B, 1, S, S) in [0, 1]."""
    return _run(latent_fn(loaded), x, _device(loaded.model))


def reconstruct(loaded, images: Sequence[np.ndarray]) -> np.ndarray:
    """Reconstructions (N, S, S) float32 of raw 2-D images by an autoencoder (model grid, [0, 1] scale)."""
    if _model_kind(loaded) != "autoencoder":
        raise InputError(
            f"Model '{getattr(loaded, 'name', '?')}' is a classifier and has no reconstruction; choose an autoencoder checkpoint."
        )
    x = _prepare(loaded, images)
    return _run(loaded.model, x, _device(loaded.model))[:, 0]


def cache_folder(cache_dir: str | Path, checkpoint_sha256: str, fingerprint: str) -> Path:
    return Path(cache_dir) / f"{checkpoint_sha256[:16]}_{fingerprint[:16]}"


def _relative_files(index) -> list[str]:
    """Files as posix paths relative to the data-set root (absolute when outside it)."""
    root = Path(getattr(index, "root", "") or ".").resolve()
    out = []
    for f in index.files:
        p = Path(f).resolve()
        out.append(p.relative_to(root).as_posix() if p.is_relative_to(root) else p.as_posix())
    return out


def _read_cache(folder: Path, sha: str, fingerprint: str, files: list[str]) -> tuple[np.ndarray | None, str | None]:
    """(latents, None) on a valid hit, (None, None) on a miss, (None, note) if the entry was bad."""
    meta_path, z_path = folder / "meta.json", folder / "latents.npy"
    if not meta_path.exists():
        return None, None
    try:
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("format") != CACHE_FORMAT
            or meta.get("checkpoint_sha256") != sha
            or meta.get("dataset_fingerprint") != fingerprint
            or meta.get("files") != files
        ):
            return None, f"The latent cache in {folder} belongs to another model or data set; recomputed."
        if sha256_file(z_path) != meta.get("latents_sha256"):
            return None, f"The latent cache in {folder} was corrupt (sha256 mismatch); recomputed."
        z = np.load(z_path, allow_pickle=False)
        if z.dtype != np.float32 or z.ndim != 2 or len(z) != len(files):
            return None, f"The latent cache in {folder} had the wrong shape; recomputed."
        return z, None
    except (OSError, ValueError, json.JSONDecodeError):
        return None, f"The latent cache in {folder} was unreadable; recomputed."


def encode_dataset(
    loaded,
    index,
    batch_size: int = 64,
    cache_dir: str | Path | None = LATENT_CACHE_DIR,
    progress: Progress | None = None,
) -> Latents:
    """Latents of every image of a scanned data set (`core.data.datasets.scan_dataset`), cached.

    `cache_dir=None` disables the cache. `progress(done, total, message)` is called per batch.
    """
    from core.data.datasets import ImageDataset

    sha, fingerprint = _sha256(loaded), str(index.fingerprint)
    files = [str(f) for f in index.files]
    rel_files = _relative_files(index)  # what the cache compares: independent of where the folder is
    if not files:
        raise InputError("The data set has no images; choose a folder with FITS, npy or image files.")
    labels = list(index.labels) if index.labels is not None else None
    folder = cache_folder(cache_dir, sha, fingerprint) if cache_dir is not None else None
    common = dict(files=files, labels=labels, classes=list(index.classes), checkpoint_sha256=sha,
                  dataset_fingerprint=fingerprint, cache_folder=folder)
    notes: list[str] = []
    if folder is not None:
        z, note = _read_cache(folder, sha, fingerprint, rel_files)
        if z is not None:
            if progress:
                progress(len(files), len(files), "latents loaded from cache")
            return Latents(z=z, from_cache=True, **common)
        if note:
            notes.append(note)

    dataset = ImageDataset(index, size=_image_size(loaded))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    fn, device = latent_fn(loaded), _device(loaded.model)
    chunks, done = [], 0
    for x, _ in loader:
        chunks.append(_run(fn, x, device))  # (b, d)
        done += len(x)
        if progress:
            progress(done, len(files), f"encoded {done}/{len(files)} images")
    z = np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)  # (N, d)

    if folder is not None:
        buf = io.BytesIO()
        np.save(buf, z, allow_pickle=False)
        atomic_write_bytes(folder / "latents.npy", buf.getvalue())
        atomic_write_json(folder / "meta.json", {
            "format": CACHE_FORMAT, "checkpoint_sha256": sha, "checkpoint_name": getattr(loaded, "name", None),
            "dataset_fingerprint": fingerprint, "n": len(files), "latent_dim": int(z.shape[1]),
            "latents_sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "files": rel_files, "labels": labels,
        })
    return Latents(z=z, from_cache=False, notes=notes, **common)
