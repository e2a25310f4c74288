"""The grid a checkpoint was trained at: pixel scale and field of view of its training images.

`grid_record(data, kind)` derives it from a checkpoint's data-manifest summary (generator, preset,
version, size: core.checkpoints.summarize_manifest) and the simulators' own constants; the
checkpoint index stores it as the entry's `grid` (core.checkpoints.register), new checkpoint files
carry it too (save_checkpoint). Plain JSON values:

- lenses (arcsec): {"arcsec_per_pixel", "field_of_view_arcsec", "image_size", "source"}
  - the project simulator (core.data.lenses): a 7.5″ field whatever the size, 0.05″ at 150 px;
  - DeepLense Model I / II (core.data.deeplense.pixel_scale_arcsec): 0.05″ / 0.101″ (Euclid VIS);
  - lens finding (core.data.lensfinding): both domains on the common 0.1″ grid; sky (core.data.sky) too;
  - super-resolution pairs: the LR input's pixel (2 × the HR one) of a single preset; a mix of
    presets has no single scale (`arcsec_per_pixel` None).
- disks: no fixed pixel scale. Each simulated disk is framed by its own size (its diameter fills
  40–95 % of the field at 100–200 pc) and the app's cutout frames a real one the same way
  (core.data.cutout), so the record gives what the simulations span instead, sampled from
  core.data.disks.sample_disk_params: `au_per_pixel`, `beam_fwhm_px`, `beam_fwhm_arcsec`,
  `arcsec_per_pixel_range`, `disk_fill_fraction` (diameter / field) and `distance_pc`, each
  {"median", "p5", "p95"}, with `arcsec_per_pixel` None.
A data set the simulators did not write (an unlabelled folder, uploads) gives None: nothing known.
"""

from __future__ import annotations

import copy
import functools
import inspect

import numpy as np

DISK_DRAWS = 400  # parameter draws behind the disk ranges (no rendering: about 0.4 s, once per process and size)


def _spread(values) -> dict:
    p5, median, p95 = np.percentile(np.asarray(values, dtype=np.float64), [5, 50, 95])
    return {"median": round(float(median), 5), "p5": round(float(p5), 5), "p95": round(float(p95), 5)}


def _arcsec(pixel: float, size: int, source: str) -> dict:
    return {"arcsec_per_pixel": round(float(pixel), 6), "field_of_view_arcsec": round(float(pixel) * size, 4),
            "image_size": int(size), "source": source}


def project_field_arcsec() -> float:
    """The project simulator's field of view (the default of core.data.lenses.sample_lens_params)."""
    from core.data.lenses import sample_lens_params

    return float(inspect.signature(sample_lens_params).parameters["field_of_view_arcsec"].default)


def disk_grid(size: int, version: str | None = None, preset: str | None = None) -> dict:
    """What the disk simulations of `size` px span, sampled from the preset's sampler (core.data.dsharp; planets 0-3
    alike, seed 0); `version` names the generator of the training data."""
    return copy.deepcopy(_disk_spread(int(size), version, preset or "project"))


@functools.lru_cache(maxsize=8)
def _disk_spread(size: int, version: str | None, preset: str = "project") -> dict:
    from core.data.disks import MAX_PLANETS
    from core.data.dsharp import sample_preset_params
    from core.data.simulator_versions import version_of

    rng = np.random.default_rng(0)
    draws = [sample_preset_params(preset, rng, int(rng.integers(0, MAX_PLANETS + 1)), size) for _ in range(DISK_DRAWS)]
    trained = f"; trained on generator-{version} data" if version else ""
    return {
        "arcsec_per_pixel": None, "field_of_view_arcsec": None, "image_size": size,
        "au_per_pixel": _spread([p.pixel_scale_arcsec * p.distance_pc for p in draws]),
        "arcsec_per_pixel_range": _spread([p.pixel_scale_arcsec for p in draws]),
        "beam_fwhm_arcsec": _spread([p.beam_fwhm_arcsec for p in draws]),
        "beam_fwhm_px": _spread([p.beam_fwhm_arcsec / p.pixel_scale_arcsec for p in draws]),
        "disk_fill_fraction": _spread([2 * p.outer_radius_au / (p.pixel_scale_arcsec * p.distance_pc * size) for p in draws]),
        "distance_pc": _spread([p.distance_pc for p in draws]),
        "source": (f"sampled from core.data.dsharp.sample_preset_params (preset {preset}, generator {version_of('disks', preset)}, {DISK_DRAWS} "
                   f"draws{trained}). Each disk is framed by its own size (disk_fill_fraction: its diameter over the "
                   "field), so there is no fixed pixel scale; the app's cutout frames a real disk the same way"),
    }


def _pairs_grid(preset: str | None, size: int) -> dict:
    """Super-resolution pairs: the LR input's grid of a single preset; none for a mix."""
    from core.data import pairs

    single = preset if preset in ("project", "deeplense-model1", "deeplense-model2") else None
    if single is None:
        return {"arcsec_per_pixel": None, "field_of_view_arcsec": None, "image_size": int(size) // pairs.PAIR_FACTOR,
                "source": f"super-resolution pairs mixed from several presets ({preset}): no single pixel scale; "
                          "the model upscales the grid it is given"}
    _, lr = pairs.instruments(single, size)
    return _arcsec(lr.pixel_scale_arcsec, lr.size, f"super-resolution pairs ({single}): the LR input grid")


def grid_record(data: dict | None, kind: str | None = None) -> dict | None:
    """The training grid of a checkpoint from its data summary (`entry["data"]`) and model kind, or None."""
    data = data or {}
    generator, preset, version = data.get("generator"), data.get("preset"), str(data.get("version") or "")
    size = data.get("size")
    if not isinstance(size, (int, float)) or size <= 0:
        from core.data.simulator_versions import DEFAULT_SIZE

        size = DEFAULT_SIZE.get(generator or "")
        if size is None:
            return None
    size = int(size)
    if generator == "disks":
        return disk_grid(size, version or None, preset)
    if generator == "lensfinding":
        from core.data.lensfinding import GRID_PIXEL_ARCSEC

        return _arcsec(GRID_PIXEL_ARCSEC, size, f"core.data.lensfinding ({preset or 'easy'} domain): the common {GRID_PIXEL_ARCSEC:g}″ grid")
    if generator == "sky":
        from core.data.sky import GRID_ARCSEC

        return _arcsec(GRID_ARCSEC, size, f"core.data.sky: HST / Euclid-like cutouts on the finders' {GRID_ARCSEC:g}″ grid")
    if generator != "lenses":
        return None
    if kind == "superres" or version.startswith("pairs"):
        return _pairs_grid(preset, size)
    if preset in ("deeplense-model1", "deeplense-model2"):
        from core.data.deeplense import pixel_scale_arcsec

        return _arcsec(pixel_scale_arcsec(preset), size, f"core.data.deeplense.pixel_scale_arcsec('{preset}')")
    if preset in (None, "project"):
        field = project_field_arcsec()
        return _arcsec(field / size, size, f"core.data.lenses: the project simulator's {field:g}″ field")
    return None
