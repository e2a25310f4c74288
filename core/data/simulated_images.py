"""Simulated disks and lenses as LoadedImage (with a FITS header), for the Data page and examples/.

The simulators are core.data.disks / core.data.lenses; here their output gets the header a
FITS file would carry (pixel scale, beam, the parameters as HISTORY) and goes through
`read_image`, so a simulated image has exactly the metadata an uploaded one would.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from core.io import LoadedImage, fits_bytes, read_image
from core.io.headers import simulated_header

DISK_UNIT_NOTE = "Intensity in units of the noiseless peak (peak = 1 before noise)."
LENS_UNIT_NOTE = "Surface brightness in units of the source's central surface brightness."


def disk_image(
    params, size: int = 129, seed: int = 0, name: str = "simulated_disk.fits"
) -> tuple[LoadedImage, bytes]:
    """(LoadedImage, FITS bytes) of `core.data.disks.simulate_disk(params, size)` with noise from `seed`."""
    from core.data.disks import simulate_disk

    data = simulate_disk(params, size=size, rng=np.random.default_rng(seed))
    header = simulated_header(
        size=size,
        pixel_scale_arcsec=params.pixel_scale_arcsec,
        beam_fwhm_arcsec=params.beam_fwhm_arcsec,
        object_name=f"disk with {params.n_planets} planet(s)",
        params={**params.to_dict(), "size": size, "seed": seed},
        comments=(DISK_UNIT_NOTE,),
    )
    raw = fits_bytes(data, header)
    return read_image(raw, name), raw


def lens_image(params, substructure: str, size: int = 150, seed: int = 0, *, n_subhalos: int | None = None,
               profile: str = "POINT_MASS", name: str = "simulated_lens.fits") -> tuple[LoadedImage, bytes]:  # fmt: skip
    """(LoadedImage, FITS bytes) of `core.data.lenses.simulate_lens` for one substructure class."""
    from core.data.lenses import observe_lens

    data, _, truth = observe_lens(
        params,
        substructure,
        size=size,
        rng=np.random.default_rng(seed),
        n_subhalos=n_subhalos,
        profile=profile,
    )
    header = simulated_header(
        size=size,
        pixel_scale_arcsec=params.pixel_scale_arcsec,
        beam_fwhm_arcsec=params.psf_fwhm_arcsec,
        object_name=f"lens, substructure {substructure}",
        params={
            **asdict(params),
            "substructure": substructure,
            "n_subhalos": truth["n_subhalos"],
            "profile": profile,
            "size": size,
            "seed": seed,
        },  # fmt: skip
        comments=(LENS_UNIT_NOTE, "BMAJ/BMIN give the Gaussian PSF FWHM."),
        east_left=False,  # lenstronomy's grid: RA (east) grows with the column
    )
    raw = fits_bytes(data, header)
    return read_image(raw, name), raw
