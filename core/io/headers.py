"""FITS header cards for images EquiScope makes itself (simulations, examples)."""

from __future__ import annotations

import json


def simulated_header(
    *,
    pixel_scale_arcsec: float,
    beam_fwhm_arcsec: float | None = None,
    bunit: str | None = None,
    object_name: str = "",
    params: dict | None = None,
    comments: tuple[str, ...] = (),
    east_left: bool = True,
) -> list[tuple[str, object, str]]:
    """Cards for a simulated image: offset axes in arcsec (no sky position), beam, provenance.

    The axes are plain angular offsets (CUNITi = arcsec, no CTYPE), so a reader gets the pixel
    scale without a made-up position on the sky; axis 1 is the RA offset (east positive), so
    CDELT1 < 0 when east is to the left (core.data.disks) and > 0 when the RA offset grows
    with the column (lenstronomy's default grid, core.data.lenses: `east_left=False`). A circular beam of
    FWHM `beam_fwhm_arcsec` is written as BMAJ = BMIN (degrees) and BPA = 0. Each entry of
    `params` becomes one HISTORY card "param name = value".
    """
    cards: list[tuple[str, object, str]] = [
        ("OBJECT", object_name, "simulated by EquiScope"),
        ("CDELT1", -pixel_scale_arcsec if east_left else pixel_scale_arcsec,
         f"arcsec per pixel (east to the {'left' if east_left else 'right'})"),
        ("CDELT2", pixel_scale_arcsec, "arcsec per pixel"),
        ("CUNIT1", "arcsec", ""),
        ("CUNIT2", "arcsec", ""),
        ("PIXSCALE", pixel_scale_arcsec, "arcsec per pixel"),
    ]
    if beam_fwhm_arcsec:
        cards += [
            ("BMAJ", beam_fwhm_arcsec / 3600.0, "beam FWHM major axis (deg)"),
            ("BMIN", beam_fwhm_arcsec / 3600.0, "beam FWHM minor axis (deg)"),
            ("BPA", 0.0, "beam position angle (deg)"),
        ]
    if bunit:
        cards.append(("BUNIT", bunit, "pixel unit"))
    cards += [("COMMENT", text, "") for text in comments]
    for name, value in (params or {}).items():
        cards.append(("HISTORY", f"param {name} = {json.dumps(value)}", ""))
    return cards
