"""What EquiScope knows about a loaded image: `ImageMeta`, `LoadedImage`, FITS header facts.

Header conventions read here (FITS standard and common practice):
- BUNIT: brightness unit of the pixels, e.g. "Jy/beam" (interferometric image) or "Jy/pixel" (model).
- Pixel scale: from the celestial WCS (CDELTi / CDi_j / PCi_j with CUNITi), else PIXSCALE-like
  keywords (already in arcsec). Reported in arcsec per pixel.
- Beam: BMAJ and BMIN are the restoring beam's FWHM axes in degrees, BPA its position angle in
  degrees (east of north); reported as (bmaj_arcsec, bmin_arcsec, bpa_deg).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

ARCSEC_PER_UNIT = {
    "deg": 3600.0,
    "arcmin": 60.0,
    "arcsec": 1.0,
    "mas": 1e-3,
    "rad": 180 / math.pi * 3600,
}
# keywords giving the pixel scale directly in arcsec, in order of preference
PIXSCALE_KEYS = ("PIXSCALE", "PIXSCAL1", "PIXSCAL", "SECPIX", "SECPIX1", "PIXELSCL")
COMMENTARY = ("HISTORY", "COMMENT", "")
CELESTIAL_CTYPE = re.compile(r"^(RA|DEC|GLON|GLAT|ELON|ELAT|SLON|SLAT|HPLN|HPLT)(-|$)")


@dataclass
class ImageMeta:
    """Facts about one image as it came in, before any preprocessing for a model."""

    filename: str  # display name (base name only, never a server path)
    source_format: str  # "fits" | "npy" | "npz" | "png" | "jpeg" | "tiff"
    original_shape: tuple[int, ...]  # shape of the stored array (numpy axis order)
    original_dtype: str  # e.g. ">f4", "uint16", "RGB uint8"
    header: list[tuple[str, str, str]]  # (keyword, value, comment) FITS cards; [] if none
    bunit: str | None  # pixel brightness unit (FITS BUNIT), e.g. "Jy/beam"
    pixel_scale_arcsec: float | None  # angular size of one pixel in arcsec
    beam: tuple[float, float, float] | None  # (bmaj_arcsec, bmin_arcsec, bpa_deg) FWHM ellipse
    has_wcs: bool  # the header defines celestial (sky) coordinates
    n_nonfinite: int  # NaN/Inf pixels found in the chosen plane (then filled)
    fill_value: float | None  # value put in place of NaN/Inf pixels (median of finite ones)
    notes: list[str]  # plain sentences about what was done to the data
    hdu_index: int | None  # FITS HDU the image came from; None for other formats
    plane: int | None  # chosen plane of a cube / band of a multi-band array; None if none or summed
    n_planes: int  # > 1 for a cube or multi-band array (the planes the user may pick from)
    image_hdus: list[int] = field(default_factory=list)  # FITS: every HDU index holding an image
    axion_mass_ev: float | None = None  # DeepLense vortex records ([image, axion mass] .npy files)


@dataclass
class LoadedImage:
    data: np.ndarray  # (H, W) float32, every pixel finite
    meta: ImageMeta


def header_cards(header) -> list[tuple[str, str, str]]:
    """The cards of an astropy Header as (keyword, value, comment) strings; blank cards dropped."""
    cards = []
    for card in header.cards:
        try:
            key, value, comment = card.keyword, card.value, card.comment
        except Exception:  # a card astropy cannot parse: keep its raw text rather than fail
            cards.append(("", str(card.image).strip(), ""))
            continue
        if not key and not str(value).strip():
            continue
        if isinstance(value, bool):
            text = "T" if value else "F"
        elif value is None or type(value).__name__ == "Undefined":
            text = ""
        else:
            text = str(value)
        cards.append((key, text, str(comment)))
    return cards


def header_bunit(header) -> str | None:
    value = header.get("BUNIT")
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def header_beam(header) -> tuple[float, float, float] | None:
    """(bmaj_arcsec, bmin_arcsec, bpa_deg) from BMAJ/BMIN (deg) and BPA (deg), or None."""
    bmaj = _positive(header.get("BMAJ"))
    if bmaj is None:
        return None
    bmin = _positive(header.get("BMIN")) or bmaj
    try:
        bpa = float(header.get("BPA", 0.0))
    except (TypeError, ValueError):
        bpa = 0.0
    if not math.isfinite(bpa):
        bpa = 0.0
    return (bmaj * 3600.0, bmin * 3600.0, bpa)


def _unit_to_arcsec(unit: str | None) -> float | None:
    text = (unit or "deg").strip().lower()  # FITS default unit of celestial axes is degrees
    text = {"degree": "deg", "degrees": "deg", "radian": "rad", "radians": "rad"}.get(text, text)
    return ARCSEC_PER_UNIT.get(text)


def celestial_wcs(header):
    """The celestial part of the header's WCS, or None when there is none or it does not parse."""
    from astropy.wcs import WCS

    if not any(CELESTIAL_CTYPE.match(str(header.get(f"CTYPE{i}", "")).upper()) for i in (1, 2)):
        return None
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # HISTORY/COMMENT cards (hundreds in CASA images) only slow WCS parsing down
            wcs = WCS(fits.Header([c for c in header.cards if c.keyword not in COMMENTARY]))
            if not wcs.has_celestial:
                return None
            return wcs.celestial
    except Exception:
        return None


def header_pixel_scale(header, wcs=None) -> tuple[float | None, str | None]:
    """(arcsec per pixel, note or None) from the WCS, else CD/CDELT, else PIXSCALE-like keys.

    A non-square pixel gives the geometric mean of the two axes and a note saying so.
    """
    scales: list[float] = []
    if wcs is not None:
        try:
            from astropy.wcs.utils import proj_plane_pixel_scales

            units = [str(u) for u in wcs.wcs.cunit]
            scales = [
                float(s) * (_unit_to_arcsec(u) or 0.0)
                for s, u in zip(proj_plane_pixel_scales(wcs), units, strict=True)
            ]
        except Exception:
            scales = []
    if not all(_positive(s) for s in scales) or len(scales) != 2:
        scales = []
        cd = [header.get(k) for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2")]
        per = _unit_to_arcsec(header.get("CUNIT1"))
        if all(v is not None for v in cd) and per:
            try:
                a, b, c, d = (float(v) for v in cd)
                scales = [math.hypot(a, c) * per, math.hypot(b, d) * per]
            except (TypeError, ValueError):
                scales = []
        if not scales:
            celestial = CELESTIAL_CTYPE.match(str(header.get("CTYPE1", "")).upper())
            angular = header.get("CUNIT1") is not None and per is not None
            if celestial or angular:
                pair = [_positive(abs(_as_float(header.get(f"CDELT{i}")))) for i in (1, 2)]
                units = [_unit_to_arcsec(header.get(f"CUNIT{i}")) for i in (1, 2)]
                if pair[0] and units[0]:
                    scales = [pair[0] * units[0], (pair[1] or pair[0]) * (units[1] or units[0])]
    if not scales:
        for key in PIXSCALE_KEYS:
            value = _positive(header.get(key))
            if value:
                return value, None
        return None, None
    sx, sy = scales
    if not (_positive(sx) and _positive(sy)):
        return None, None
    if abs(sx - sy) > 0.01 * max(sx, sy):
        mean = math.sqrt(sx * sy)
        return (
            mean,
            f"Pixels are not square ({sx:.4g} x {sy:.4g} arcsec); the pixel scale shown is their geometric mean.",
        )
    return sx, None


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
