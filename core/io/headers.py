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
) -> list[tuple[str, object, str]]:
    """Cards for a simulated image: offset axes in arcsec (no sky position), beam, provenance.

    The axes are plain angular offsets from the image centre (CUNITi = arcsec, no CTYPE), so
    a reader gets the pixel scale without a made-up position on the sky. A circular beam of
    FWHM `beam_fwhm_arcsec` is written as BMAJ = BMIN (degrees) and BPA = 0. Each entry of
    `params` becomes one HISTORY card "param name = value".
    """
    cards: list[tuple[str, object, str]] = [
        ("OBJECT", object_name, "simulated by EquiScope"),
        ("CDELT1", -pixel_scale_arcsec, "arcsec per pixel (east to the left)"),
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
