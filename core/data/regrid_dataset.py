"""A data set as a model sees it: every image with a pixel scale put on the model's training grid.

`dataset_on_grid(source, grid, folder)` reads each FITS image of a data set (core.data.datasets
layout: manifest, class folders or flat) once; one whose header gives a pixel scale is resampled to
the checkpoint's grid (core.data.regrid) and written to `folder` as a FITS file without sky cards
under the same relative name, the others are linked there unchanged. The returned index has the
same files, labels and classes, rooted at `folder`, so evaluation reads it as it would read the
original (rows keep their file names). Only FITS files are read (no other format carries a pixel
scale), and nothing is written when none of them has one. Used by `python -m core evaluate`, which
removes `folder` afterwards; a `grid` argument of core.data.datasets.load_tensors would make the
copy unnecessary."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from core.atomic import atomic_write_bytes
from core.data.datasets import DatasetIndex, scan_dataset
from core.data.regrid import arcsec_text, match_grid, to_grid
from core.errors import InputError
from core.io import fits_bytes, read_image
from core.io.formats import EXTENSION_FORMAT, extension_of


def _link(src: Path, dst: Path) -> None:
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def _is_fits(path: Path) -> bool:
    """Only FITS files carry a pixel scale (a header); other formats are never read here."""
    name = path.name.lower()
    return EXTENSION_FORMAT.get(extension_of(name[:-3] if name.endswith(".gz") else name)) == "fits"


def dataset_on_grid(source: str | Path | DatasetIndex, grid: dict | None, folder: str | Path,
                    limit: int | None = None) -> tuple[DatasetIndex, str | None]:
    """(the data set with its images on `grid`, one sentence saying what was done), or (the original
    index, None) when the model has no pixel scale or no image gives one. `limit`: the first images only
    (the index returned holds those)."""
    index = source if isinstance(source, DatasetIndex) else scan_dataset(source)
    if not (grid or {}).get("arcsec_per_pixel"):
        return index, None
    files = index.files if limit is None else index.files[:limit]
    on_grid = {}  # file -> (image on the grid, its pixel scale)
    for path in filter(_is_fits, files):
        try:
            loaded = read_image(path)
        except InputError as exc:
            raise InputError(f"{path.name}: {exc}") from exc
        match = match_grid(loaded.data.shape, loaded.meta.pixel_scale_arcsec, grid)
        if match.resample:
            on_grid[path] = (to_grid(loaded.data, match), match.from_arcsec)
    if not on_grid:
        return index, None
    folder = Path(folder)
    for path in files:
        dst = folder / path.relative_to(index.root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if path in on_grid:
            atomic_write_bytes(dst, fits_bytes(on_grid[path][0], None))
        else:
            _link(path, dst)
    scales = sorted({arcsec_text(scale) for _, scale in on_grid.values()}, key=lambda t: float(t[:-1]))
    kept = len(files) - len(on_grid)
    note = (f"{len(on_grid)} of {len(files)} images put on the model's grid ({arcsec_text(grid['arcsec_per_pixel'])} "
            f"per pixel, a {grid.get('field_of_view_arcsec') or grid['image_size'] * grid['arcsec_per_pixel']:.3g}″ "
            f"field) from their files' pixel scales ({', '.join(scales)})")
    note += f"; {kept} without a pixel scale keep their pixels." if kept else "."
    labels = None if index.labels is None else index.labels[:len(files)]
    return replace(index, root=folder, files=[folder / p.relative_to(index.root) for p in files], labels=labels), note
