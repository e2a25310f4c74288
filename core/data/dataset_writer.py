"""Write a simulated, labelled data set (`simulate_dataset`; the command is core/cli/simulate.py).

The simulators, presets and their versions are listed in core.data.simulator_versions.
Lens presets: "project" (this project's generator, core.data.lenses), "deeplense-model1" and
"deeplense-model2" (the official DeepLense recipes, core.data.deeplense). lensfinding, domain
easy | hard: lens / non-lens images of two instruments (core.data.lensfinding); the domain is
stored as the data set's preset.

DIR defaults to `data/<kind>-n<N>-s<S>-seed<K>` of the repository (`default_out`).
Writes DIR/<class>/<id>.npy (float32, S x S) and DIR/manifest.json (see docs/INTERFACES.md); with
`twins`, also DIR/noiseless/<class>/<id>.npy, each image's noiseless twin, and its noise parameters in
the manifest (what core.data.observe needs to turn the sky and observe it again).
Classes are balanced: image i gets class i mod n_classes. Image i draws everything from its own
generator, `SeedSequence(seed, spawn_key=(i,))` (the i-th child of `SeedSequence(seed).spawn`),
so any number of workers writes byte-identical files. Every file is written atomically; while
running, DIR/manifest.partial.json lists the finished images, and a re-run skips every image
whose file exists and whose parameters match that list (an interrupted run resumes).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from core.data.simulator_versions import (
    DISK_PRESETS,
    FINDING_DOMAINS,
    KINDS,
    LENS_PRESETS,
    NOISES,
    default_size,
    version_of,
)
from core.json_values import to_plain
from core.paths import DATA_DIR, repo_relative
from core.progress import progress_callable

CLASSES = {
    "disks": ("planets_0", "planets_1", "planets_2", "planets_3"),
    "lenses": ("no_sub", "cdm", "vortex"),
    "lensfinding": ("lens", "nonlens"),
    "sky": ("lens", "nonlens"),
}
MANIFEST = "manifest.json"
TWINS_DIR = "noiseless"  # --twins: DIR/noiseless/<class>/<id>.npy, the noiseless twin of DIR/<class>/<id>.npy
PARTIAL_MANIFEST = "manifest.partial.json"
MAX_SIZE = 1024
POOL_START_METHOD: str | None = None  # None: fork unless torch is loaded, else spawn


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index`: the index-th child of SeedSequence(seed)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def class_of(kind: str, index: int) -> str:
    classes = CLASSES[kind]
    return classes[index % len(classes)]


def relative_file(kind: str, index: int) -> str:
    return f"{class_of(kind, index)}/{index:06d}.npy"


def _lens_summary(sub: dict) -> dict:
    """Manifest fields of the drawn substructure (per-subhalo lists only for cdm; vortices summarised)."""
    masses = sub["mass_msun"]
    out = {"n_subhalos": sub["n_subhalos"], "subhalo_profile": sub["profile"], "substructure_mass_msun": float(sum(masses))}
    if sub["n_subhalos"] and "vortex_length_arcsec" in sub:
        out.update({
            "vortex_length_arcsec": sub["vortex_length_arcsec"],
            "vortex_orientation_deg": sub["vortex_orientation_deg"],
            "vortex_centre_x_arcsec": float(np.mean(sub["x_arcsec"])),
            "vortex_centre_y_arcsec": float(np.mean(sub["y_arcsec"])),
        })
    elif sub["n_subhalos"]:
        out.update({"subhalo_x_arcsec": sub["x_arcsec"], "subhalo_y_arcsec": sub["y_arcsec"], "subhalo_mass_msun": masses})
    return out


def sample_params(kind: str, index: int, size: int, rng: np.random.Generator, preset: str = "project", noise: str | None = None):
    """The physical parameters of image `index` (cheap; drawn first from its generator)."""
    label = class_of(kind, index)
    if kind == "lensfinding":
        from core.data import lensfinding

        return lensfinding.sample_params(preset, label, rng, size)
    if kind == "sky":
        from core.data import sky

        return sky.sample_params(label, rng, size)
    if kind == "lenses" and preset != "project":
        from core.data import deeplense

        return deeplense.sample_params(preset, label, rng, size, noise or "as-written")
    if kind == "disks":
        from core.data.dsharp import sample_preset_params

        return sample_preset_params(preset, rng, int(label.rsplit("_", 1)[1]), size)
    from core.data.lenses import sample_lens_params

    return sample_lens_params(rng, size)


def _draw_params(kind: str, index: int, size: int, seed: int, preset: str = "project", noise: str | None = None):
    """(parameters, generator) of image `index`: the parameters are drawn first, then the image."""
    rng = image_rng(seed, index)
    return sample_params(kind, index, size, rng, preset, noise), rng


def render_with_twin(kind: str, index: int, size: int, seed: int, preset: str = "project", noise: str | None = None
                     ) -> tuple[np.ndarray, dict, np.ndarray, dict]:
    """(image, manifest parameters, noiseless twin float32, noise parameters) of image `index`.

    The image is `render`'s; the twin is the same sky through the same PSF and pixels without noise
    (lensfinding: at the instrument's own pixels, before the block mean onto the grid); the noise
    parameters say how to observe it again (core.data.observe.add_noise).
    """
    params, rng = _draw_params(kind, index, size, seed, preset, noise)
    if kind == "lensfinding":
        from core.data import lensfinding

        image, twin = lensfinding.render_with_twin(params, rng)
        return image, params.to_dict(), twin.astype(np.float32), lensfinding.noise_params(params)
    if kind == "sky":  # sky: the twin is the noiseless cutout on the same model grid
        from core.data import sky

        image, twin, info = sky.observe_on_grid(params, rng)
        return image, {**params.to_dict(), **info}, twin, sky.noise_params(params)
    if kind == "lenses" and preset != "project":
        from core.data import deeplense

        image, twin = deeplense.render_with_twin(params, rng)
        image = image.astype(np.int32) if image.dtype.kind == "i" else image.astype(np.float32)
        return image, params.to_dict(), twin.astype(np.float32), deeplense.noise_params(params)
    if kind == "disks":
        from core.data import disks

        image, twin, instrument = disks.observe(params, size, rng, noise=noise != "none")
        if noise == "none":  # the images are the twins
            instrument = {"kind": "none", "scale": 1.0, "psf_fwhm_px": instrument["psf_fwhm_px"]}
        return image.astype(np.float32), params.to_dict(), twin.astype(np.float32), instrument
    from core.data import lenses

    image, twin, sub = lenses.observe_lens(params, class_of(kind, index), size, rng)
    return image, {**params.to_dict(), **_lens_summary(sub)}, twin, lenses.noise_params(params)


def render(kind: str, index: int, size: int, seed: int, preset: str = "project", noise: str | None = None) -> tuple[np.ndarray, dict]:
    """Image `index` of the data set and its manifest parameters.

    float32 (size, size), except DeepLense Model I: raw counts as the official code (int32 here).
    """
    return render_with_twin(kind, index, size, seed, preset, noise)[:2]


def expected_params(kind: str, index: int, size: int, seed: int, preset: str = "project", noise: str | None = None) -> dict:
    """Parameters of image `index` without rendering it (for resuming)."""
    return _draw_params(kind, index, size, seed, preset, noise)[0].to_dict()


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _finished(previous: dict | None, paths: list[Path], kind: str, index: int, size: int, seed: int, preset: str, noise: str | None) -> bool:
    """An earlier run wrote these files with the parameters this run would draw."""
    if previous is None or not all(p.exists() for p in paths):
        return False
    expected = to_plain(expected_params(kind, index, size, seed, preset, noise))
    return all(previous["params"].get(k) == v for k, v in expected.items())


def _make_one(job: tuple) -> dict:
    """Render and write one image (or one LR/HR pair) unless matching files exist; returns its manifest entry."""
    from core.atomic import atomic_save_npy

    kind, index, size, seed, out, previous, preset, noise, native, pairs, twins = job
    rel = relative_file(kind, index)
    if pairs > 1:  # super-resolution pairs (core.data.pairs): lr/<rel> and hr/<rel>
        from core.data.pairs import HR_DIR, LR_DIR, render_pair

        lr_path, hr_path = Path(out) / LR_DIR / rel, Path(out) / HR_DIR / rel
        if _finished(previous, [lr_path, hr_path], kind, index, size, seed, preset, noise):
            return previous
        params, rng = _draw_params(kind, index, size, seed, preset, noise)
        lr, hr, truth = render_pair(params, class_of(kind, index), preset, size, rng)
        atomic_save_npy(lr_path, lr)
        atomic_save_npy(hr_path, hr)
        extra = _lens_summary(truth) if preset == "project" else truth
        return {"file": rel, "label": class_of(kind, index), "params": to_plain({**params.to_dict(), **extra})}
    path, twin_path = Path(out) / rel, Path(out) / TWINS_DIR / rel
    if _finished(previous, [path, twin_path] if twins else [path], kind, index, size, seed, preset, noise) \
            and (not twins or "noise" in previous):
        return previous if twins else {k: v for k, v in previous.items() if k not in ("twin", "noise")}
    image, params, twin, instrument = render_with_twin(kind, index, size, seed, preset, noise)
    if native:
        _save_native(path, image, params.get("axion_mass_ev"))
    else:
        atomic_save_npy(path, image)
    entry = {"file": rel, "label": class_of(kind, index), "params": to_plain(params)}
    if twins:
        atomic_save_npy(twin_path, twin)
        entry.update(twin=f"{TWINS_DIR}/{rel}", noise=to_plain(instrument))
    return entry


def _save_native(path: Path, image: np.ndarray, axion_mass_ev: float | None) -> None:
    """DeepLense's own file format (int64 counts; vortices as [image, axion mass] object arrays), atomically."""
    from core.atomic import atomic_open
    from core.data.deeplense import save_native

    image = image.astype(np.int64) if image.dtype.kind == "i" else image.astype(np.float64)
    with atomic_open(path, "wb") as fh:
        save_native(fh, image, axion_mass_ev)


def _header(kind: str, size: int, seed: int, command: str, preset: str = "project", noise: str | None = None) -> dict:
    header = {"generator": kind, "version": version_of(kind, preset), "seed": int(seed), "size": int(size), "command": command, "classes": list(CLASSES[kind])}
    if kind in ("lenses", "lensfinding") or preset != "project":
        header["preset"] = preset
    if noise not in (None, "thermal"):
        header["noise"] = noise
    return header


def _previous_entries(out: Path, kind: str, size: int, seed: int, preset: str = "project", noise: str | None = None) -> dict[str, dict]:
    """Finished entries of an earlier run of the same data set in `out` (file -> entry)."""
    import json

    entries: dict[str, dict] = {}
    for name in (MANIFEST, PARTIAL_MANIFEST):
        path = out / name
        if not path.exists():
            continue
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # unreadable: regenerate its images
        same = (manifest.get("generator"), manifest.get("version"), manifest.get("seed"), manifest.get("size"), manifest.get("preset", "project"), manifest.get("noise")) == (
            kind, version_of(kind, preset), seed, size, preset, None if noise in (None, "thermal") else noise)
        if not same:
            raise ValueError(
                f"{out} already holds a different data set ({manifest.get('generator')}, seed {manifest.get('seed')}, size {manifest.get('size')}, version {manifest.get('version')}); choose an empty folder or the same settings."
            )
        for entry in manifest.get("images", []):
            entries[entry["file"]] = entry
    return entries


def check_noise(kind: str, preset: str, noise: str | None) -> None:
    """ValueError (one sentence) unless `noise` is a mode of this simulator: disks thermal | none;
    the project's lenses thermal; DeepLense presets their own (core.data.deeplense.NOISE_MODES)."""
    if noise is None:
        return
    if kind == "lenses" and preset != "project":
        from core.data.deeplense import NOISE_MODES

        allowed = NOISE_MODES[preset]
    else:
        allowed = NOISES if kind == "disks" else ("thermal",)
    if noise not in allowed:
        raise ValueError(f"Noise {noise!r} is not available for {kind if preset == 'project' else preset}; choose {' or '.join(allowed)}.")


def default_out(kind: str, n: int, size: int, seed: int, preset: str = "project") -> Path:
    """`data/<kind>[-<preset>]-n<n>-s<size>-seed<seed>` of the repository (core.paths.DATA_DIR)."""
    tag = f"{kind}-{preset}" if preset != "project" else kind
    return DATA_DIR / f"{tag}-n{n}-s{size}-seed{seed}"


def _checked_size(kind: str, n: int, size: int | None, workers: int, *, preset: str, noise: str | None,
                  native: bool, pairs: int) -> int:
    """The image side to simulate (the preset's default when None); ValueError (one sentence) for a request
    the simulators cannot make."""
    if kind not in KINDS:
        raise ValueError(f"Unknown simulator {kind!r}; choose disks or lenses.")
    if kind == "lensfinding" and preset not in FINDING_DOMAINS:
        raise ValueError(f"lensfinding needs a domain: --domain {' or --domain '.join(FINDING_DOMAINS)} (got {preset!r}).")
    if kind != "lensfinding" and preset not in (DISK_PRESETS if kind == "disks" else LENS_PRESETS):
        raise ValueError(f"Unknown preset {preset!r} for {kind}; lenses take one of {', '.join(LENS_PRESETS)}, disks one of {', '.join(DISK_PRESETS)}.")
    if native and preset == "project":
        raise ValueError("--native writes DeepLense's own file format; use it with a deeplense-model preset.")
    size = default_size(kind, preset) if size is None else int(size)
    if pairs not in (1, 2) or (pairs == 2 and (kind != "lenses" or native)):
        raise ValueError(f"--pairs {pairs}: only 2 (lens super-resolution pairs, x2, not with --native) is built.")
    if not 16 <= size <= MAX_SIZE:
        raise ValueError(f"The image size must be between 16 and {MAX_SIZE} pixels; got {size}.")
    if n < 1:
        raise ValueError(f"The number of images must be at least 1; got {n}.")
    check_noise(kind, preset, noise)
    if workers < 1:
        raise ValueError(f"The number of workers must be at least 1; got {workers}.")
    return size


def _run_jobs(jobs: list[tuple], workers: int, record) -> None:
    """`record(entry)` for every job's manifest entry, in job order, made here or by `workers` processes."""
    if workers == 1:
        for job in jobs:
            record(_make_one(job))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork starts in milliseconds with the simulators already imported; once torch is
    # loaded (app, training) its threads make fork unsafe, so spawn fresh interpreters
    method = POOL_START_METHOD or ("fork" if "torch" not in sys.modules and sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_worker_init) as pool:
        for entry in pool.map(_make_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers)))):
            record(entry)


def simulate_dataset(
    kind: str,
    n: int,
    size: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    workers: int = 1,
    progress=True,
    command: str | None = None,
    *,
    preset: str = "project",
    noise: str | None = None,
    native: bool = False,
    pairs: int = 1,
    twins: bool = False,
) -> Path:
    """Simulate `n` balanced images of `kind` ("disks" or "lenses") into `out` (default `default_out`);
    returns the manifest path.

    progress: True for a tqdm bar, a callable `progress(done, total, message)`, or False.
    preset: lenses only, one of LENS_PRESETS; the DeepLense presets default to their native size.
    noise: disks "thermal" (default) or "none" (the noise-free images of the same disks); DeepLense
        Model II "as-written" (default: the official code's 2x noiseless image) or "euclid".
    native: write DeepLense's own file format (int64 counts, vortex [image, axion mass] object arrays).
    pairs: 2 writes super-resolution pairs lr/ + hr/ (core.data.pairs; `size` is the HR side).
    twins: also write each image's noiseless twin, DIR/noiseless/<class>/<id>.npy (float32; lensfinding at the
        instrument's own pixels), with its entry's "twin" (that path) and "noise" (how the instrument observes
        it: core.data.observe.add_noise); the images themselves are the same bytes as without twins.
    """
    from core.atomic import atomic_write_json

    size = _checked_size(kind, n, size, workers, preset=preset, noise=noise, native=native, pairs=pairs)
    if twins and pairs > 1:
        raise ValueError("--twins keeps the noiseless twins of single images; super-resolution pairs already hold theirs in hr/.")
    out = default_out(kind, n, size, seed, preset) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if command is None:
        command = f"simulate_dataset(kind={kind!r}, n={n}, size={size}, seed={seed}, out={repo_relative(out)!r}, workers={workers})"
    header = _header(kind, size, seed, command, preset, noise)
    if twins:
        header["twins"] = TWINS_DIR
    if pairs > 1:
        from core.data.pairs import check_pair_size, recipe

        check_pair_size(size)
        header["pairs"] = recipe(preset, size)
    previous = _previous_entries(out, kind, size, seed, preset, noise)
    jobs = [(kind, i, size, seed, str(out), previous.get(relative_file(kind, i)), preset, noise, native, pairs, twins) for i in range(n)]
    callback, close = progress_callable(progress)
    entries: list[dict] = []
    last_save = time.monotonic()

    def record(entry: dict) -> None:
        nonlocal last_save
        entries.append(entry)
        if callback:
            callback(len(entries), n, f"simulating {kind}")
        if time.monotonic() - last_save > 5.0:
            atomic_write_json(out / PARTIAL_MANIFEST, {**header, "images": entries})
            last_save = time.monotonic()

    try:
        _run_jobs(jobs, workers, record)
    finally:
        if entries and len(entries) < n:
            atomic_write_json(out / PARTIAL_MANIFEST, {**header, "images": entries})
        close()
    manifest = out / MANIFEST
    atomic_write_json(manifest, {**header, "images": entries})
    (out / PARTIAL_MANIFEST).unlink(missing_ok=True)
    return manifest
