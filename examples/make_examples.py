"""Regenerate the shipped example files: `.venv/bin/python -m examples.make_examples`.

Made by the project's own simulators (core.data.disks, core.data.lenses), so they carry no
third-party licence. Writes examples/*.fits, examples/*.npy and examples/manifest.json
(atomically); the Data page's Examples tab lists what the manifest names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.atomic import atomic_save_npy, atomic_write_bytes, atomic_write_json
from core.paths import EXAMPLES_DIR

DISK_SIZE = 129  # the model grid: no resampling needed
LENS_SIZE = 150  # DeepLense Model I size
SEED = 2026


def disk_examples() -> list[tuple[str, object, str, str]]:
    """(file, DiskParams, title, description) of the shipped disks."""
    from core.data.disks import DiskParams

    fov_au = 220.0  # field of view across the image: the disk (r_c = 60 au) fills the frame
    common = {
        "inclination_deg": 35.0,
        "position_angle_deg": 30.0,
        "beam_fwhm_arcsec": 0.04,
        "snr": 80.0,
        "distance_pc": 140.0,
        "pixel_scale_arcsec": fov_au / 140.0 / DISK_SIZE,
    }
    return [
        ("disk_2_planets.fits", DiskParams(planet_radii_au=[35.0, 70.0], planet_masses_mjup=[1.0, 2.5],
                                           planet_azimuths_deg=[20.0, 200.0], **common),
         "Disk with two planets (FITS)",
         "Simulated ALMA-like continuum: gaps carved by 1 and 2.5 Jupiter-mass planets at 35 and 70 au, "
         "140 pc, inclination 35°, PA 30°, beam 0.04 arcsec, peak SNR 80."),
        ("disk_no_planet.fits", DiskParams(**common), "Disk without planets (FITS)",
         "The same disk with no planet: a smooth tapered power law, no gaps."),
    ]  # fmt: skip


LENS_TEXT = {
    "no_sub": (
        "Lens, no substructure (.npy)",
        "SIE + shear lens, Sérsic source, 0.05 arcsec/px, SNR 25: the smooth macro model.",
    ),
    "cdm": (
        "Lens with CDM subhalos (.npy)",
        "The same lens with five point-mass subhalos near the Einstein ring.",
    ),
    "vortex": (
        "Lens with a vortex (.npy)",
        "The same lens with a vortex line of small masses crossing the arc.",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=EXAMPLES_DIR, help="folder to write (default: examples/)"
    )
    args = parser.parse_args(argv)
    from core.data.lenses import SUBSTRUCTURES, LensParams
    from core.data.simulated_images import disk_image, lens_image
    from core.data.simulator_versions import SIMULATOR_VERSION

    entries = []
    for file, params, title, description in disk_examples():
        _, raw = disk_image(params, size=DISK_SIZE, seed=SEED, name=file)
        atomic_write_bytes(args.out / file, raw)
        entries.append({"file": file, "kind": "disk", "title": title, "description": description,
                        "params": params.to_dict(), "size": DISK_SIZE, "seed": SEED})  # fmt: skip
    lens = LensParams(theta_E_arcsec=1.2, e1=0.08, e2=-0.03, gamma1=0.03, gamma2=0.01)
    for substructure in SUBSTRUCTURES:
        n_subhalos = 5 if substructure == "cdm" else None
        loaded, _ = lens_image(lens, substructure, size=LENS_SIZE, seed=SEED, n_subhalos=n_subhalos)
        file = f"lens_{substructure}.npy"
        atomic_save_npy(args.out / file, loaded.data.astype(np.float32))
        title, description = LENS_TEXT[substructure]
        entries.append({"file": file, "kind": "lens", "label": substructure, "title": title,
                        "description": description, "params": lens.to_dict(), "n_subhalos": n_subhalos,
                        "size": LENS_SIZE, "seed": SEED})  # fmt: skip
    atomic_write_json(args.out / "manifest.json", {
        "command": "python -m examples.make_examples", "simulator_version": SIMULATOR_VERSION, "examples": entries,
    })  # fmt: skip
    for e in entries:
        print(f"{e['file']:<22} {e['title']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
