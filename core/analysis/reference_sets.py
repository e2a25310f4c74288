"""Reference sets: the simulated images a model's latent map, familiarity and classifier report are built on.

One set per (generator, preset), simulated once with a fixed seed into
`cache/reference/<generator>[-<preset>]-v<version>-n<n>-s<size>-seed<seed>/`, so every server
draws the same images and a changed simulator gets a fresh set. A lens classifier or lens finder
is measured on the preset it was trained on (`preset_for`), and so is a disk model (its disk family).

    latents = reference_latents(loaded, "disks")              # simulate once, encode (disk-cached)
    ref = reference_map(latents, folder_for(name, "disks"))   # + the t-SNE map (disk-cached)
    report = classifier_report(loaded, preset_of(name))        # ROC, confusion, accuracy on the lenses

The app (ui/reference.py) keeps each result once per server; the benchmarks call these directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import paths
from core.progress import Progress

CACHE = paths.CACHE_DIR  # reference sets under CACHE/reference, latents under CACHE/latents (tests point it elsewhere)
REFERENCE_N = {"disks": 240, "lenses": 150, "lensfinding": 100, "sky": 100}  # images per simulated reference set
# (classes balanced); ~10 s / ~40 s to simulate; sky ~10 s (0.06 s per cutout + start-up), on first use, cached on disk
REFERENCE_SEED = 20260  # seed of the simulated reference sets (fixed, so every server draws the same)
REFERENCE_SIZE = {"disks": 129, "lenses": 150, "lensfinding": 64, "sky": 64}  # simulated image side in pixels
MAP_SEED = 0  # t-SNE seed
PRESET_GENERATORS = ("disks", "lenses", "lensfinding")  # simulators whose reference set follows the checkpoint's preset (lens finder: its domain)


@dataclass
class ReferenceMap:
    latents: object  # core.analysis.encode.Latents: z (N, d), files, labels
    lmap: object  # core.analysis.tsne_map.LatentMap: coords (N, 2), place(), nearest()
    folder: Path  # the reference data set
    notes: list[str]


def stage(progress: Progress | None, start: float, span: float) -> Progress | None:
    """Map a sub-task's (done, total) onto [start, start + span] of one overall bar (of 1000 steps)."""
    if progress is None:
        return None
    return lambda done, total, message: progress(int(1000 * (start + span * done / max(total, 1))), 1000, message)


def preset_of(name: str) -> str:
    """The simulator preset checkpoint `name` was trained on ("project" unless its data say another preset: a
    DeepLense one, a DSHARP-like disk family, a lens-finding domain). A lens finder adapted to the other domain
    (AdaBN, DANN) knows that domain's images: its preset is the target domain, "hard".

    Looks through every checkpoint, whatever its kind."""
    from core.checkpoints import list_checkpoints

    for entry in list_checkpoints():
        if entry["name"] == name:
            data = entry.get("data") or {}
            adapted = (entry.get("metrics") or {}).get("domain_adaptation", "none") not in (None, "none")
            if data.get("generator") == "lensfinding" and adapted:
                return "hard"
            return data.get("preset") or "project"
    return "project"


def preset_for(name: str, generator: str) -> str:
    """The preset of checkpoint `name`'s reference set of `generator`: its own for lenses, else "project"."""
    return preset_of(name) if generator in PRESET_GENERATORS else "project"


def reference_folder_name(generator: str, preset: str = "project") -> Path:
    """`cache/reference/<generator>[-<preset>]-v<version>-n<n>-s<size>-seed<seed>/`: a changed
    simulator gets a fresh reference set instead of an outdated one."""
    from core.data.simulator_versions import default_size, version_of

    size = REFERENCE_SIZE[generator] if preset == "project" or generator == "disks" else default_size(generator, preset)
    tag = generator if preset == "project" else f"{generator}-{preset}"
    return CACHE / "reference" / (f"{tag}-v{version_of(generator, preset)}-n{REFERENCE_N[generator]}"
                                  f"-s{size}-seed{REFERENCE_SEED}")


def folder_for(name: str, generator: str) -> Path:
    """The reference folder of checkpoint `name`: its own preset's lenses, else the generator's."""
    return reference_folder_name(generator, preset_for(name, generator))


def reference_folder(generator: str, progress: Progress | None = None, preset: str = "project") -> Path:
    """The simulated reference set of `generator` (and `preset`, for lenses), simulated on first use."""
    from core.data.dataset_writer import simulate_dataset

    folder = reference_folder_name(generator, preset)
    if not (folder / "manifest.json").is_file():
        what = generator if preset == "project" else f"{generator} ({preset})"

        def step(done: int, total: int, message: str) -> None:
            if progress:
                progress(done, total, f"simulating the reference {what} (once per server): {done}/{total}")

        size = REFERENCE_SIZE[generator] if preset == "project" or generator == "disks" else None
        simulate_dataset(generator, REFERENCE_N[generator], size, REFERENCE_SEED, folder, workers=1, progress=step, preset=preset)
    return folder


def reference_latents(loaded, generator: str, preset: str = "project", progress: Progress | None = None):
    """The reference set's latents (core.analysis.encode.Latents) under a loaded model: the set is
    simulated on first use (first half of the bar), its latents cached under CACHE/latents."""
    from core.analysis.encode import encode_dataset
    from core.data.datasets import scan_dataset

    folder = reference_folder(generator, progress=stage(progress, 0.0, 0.5), preset=preset)
    return encode_dataset(loaded, scan_dataset(folder), cache_dir=CACHE / "latents", progress=stage(progress, 0.5, 0.5))


def reference_map(latents, folder: Path, progress: Progress | None = None) -> ReferenceMap:
    """The t-SNE map of reference latents (fitted once, cached on disk by core.analysis.tsne_map)."""
    from core.analysis.tsne_map import load_or_fit_map

    lmap, notes = load_or_fit_map(latents, seed=MAP_SEED, progress=progress)
    return ReferenceMap(latents, lmap, Path(folder), list(latents.notes) + notes)


def classifier_report(loaded, preset: str = "project", progress: Progress | None = None) -> dict:
    """A classifier on the simulated reference lenses of `preset`: what
    `core.analysis.evaluate.classifier_metrics` returns (AUCs, accuracy, "classes", "n"), the
    confusion matrix as a (K, K) array, and "roc": the core.analysis.metrics.RocReport with its curves."""
    from core.analysis.evaluate import classifier_metrics, predict
    from core.analysis.metrics import roc_report
    from core.data.datasets import load_tensors

    folder = reference_folder("lenses", progress=stage(progress, 0.0, 0.6), preset=preset)
    if progress:
        progress(600, 1000, "classifying the reference lenses")
    X, labels, _ = load_tensors(folder, loaded.image_size, classes=loaded.classes)
    logits = predict(loaded.model, X, "cpu")  # (N, K)
    metrics = classifier_metrics(logits, labels, loaded.classes)
    roc = roc_report(labels.numpy(), logits.softmax(dim=1).numpy(), loaded.classes)  # the curves to plot
    return {**metrics, "confusion": np.asarray(metrics["confusion"]), "roc": roc}
