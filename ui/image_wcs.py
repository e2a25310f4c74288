"""An image's sky geometry from its FITS header cards (ImageMeta.header): the celestial WCS, a pixel's
RA/Dec in degrees and sexagesimal, offsets from a centre on the tangent plane, and the beam ellipse
(BMAJ, BMIN, BPA with the pixel scale) in pixel coordinates. Pixel positions are 0-based numpy indices."""

from __future__ import annotations

import functools
import io
import math

import numpy as np


def header_of(cards) -> object | None:
    """An astropy Header from ImageMeta.header cards (text values), or None when there are none."""
    if not cards:
        return None
    from astropy.io import fits

    from core.io import fits_bytes

    return fits.getheader(io.BytesIO(fits_bytes(np.zeros((1, 1), np.float32), cards)))


@functools.lru_cache(maxsize=32)
def _celestial(cards: tuple):
    from core.io.meta import celestial_wcs

    header = header_of(list(cards))
    return celestial_wcs(header) if header is not None else None


def celestial(meta):
    """The celestial WCS of an image's header (ImageMeta), or None without one."""
    cards = getattr(meta, "header", None) if meta is not None and getattr(meta, "has_wcs", False) else None
    return _celestial(tuple(tuple(str(v) for v in card) for card in cards)) if cards else None


def axis_names(wcs) -> tuple[str, str]:
    """The longitude and latitude names to show: RA/Dec, l/b for galactic, else the header's."""
    lon, lat = wcs.wcs.lngtyp.strip().upper(), wcs.wcs.lattyp.strip().upper()
    return ("RA", "Dec") if lon == "RA" else (lon.replace("GLON", "l") or "lon", lat.replace("GLAT", "b") or "lat")


def sky_offsets(wcs, xs: np.ndarray, ys: np.ndarray, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) offsets in arcsec, (len(ys), len(xs)), of 0-based pixel positions from the pixel
    `centre` (x, y): gnomonic (tangent-plane) coordinates about the centre's sky position."""
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = wcs.wcs_pix2world(gx, gy, 0)  # origin 0: numpy indices
    (lon0, lat0), = wcs.wcs_pix2world([list(centre)], 0)
    a, d, d0 = np.radians(lon - lon0), np.radians(lat), math.radians(lat0)
    den = np.sin(d) * math.sin(d0) + np.cos(d) * math.cos(d0) * np.cos(a)
    east = np.cos(d) * np.sin(a) / den
    north = (np.sin(d) * math.cos(d0) - np.cos(d) * math.sin(d0) * np.cos(a)) / den
    return np.degrees(east) * 3600.0, np.degrees(north) * 3600.0


def sky_position(wcs, x: float, y: float) -> dict:
    """RA/Dec (or l/b) in degrees of the 0-based pixel (x, y), and in sexagesimal (ICRS hmsdms) when
    the frame allows it."""
    from core.analysis.regions import sexagesimal

    lon, lat = (float(v) for v in wcs.wcs_pix2world([[x, y]], 0)[0])
    names = axis_names(wcs)
    try:
        text = sexagesimal(wcs.pixel_to_world(x, y))
    except Exception:  # a frame astropy cannot turn into ICRS (e.g. helioprojective)
        text = None
    return {"names": names, "degrees": (lon, lat), "hmsdms": text}


def beam_outline(beam, pixel_scale_arcsec: float | None, shape: tuple[int, int], n: int = 60):
    """(x, y) of the beam ellipse (FWHM) in pixel coordinates, in the lower-left corner, or None.

    BPA is measured from north through east; north is up and east to the left (RA grows leftwards).
    """
    if not beam or not pixel_scale_arcsec:
        return None
    bmaj, bmin, bpa = beam
    a, b = bmaj / pixel_scale_arcsec / 2, bmin / pixel_scale_arcsec / 2
    if not (a > 0.5 or b > 0.5) or a > max(shape):
        return None  # smaller than a pixel or larger than the image: nothing useful to draw
    theta = math.radians(bpa)
    major, minor = np.array([-math.sin(theta), math.cos(theta)]), np.array([math.cos(theta), math.sin(theta)])
    t = np.linspace(0, 2 * np.pi, n)
    centre = np.array([a + 0.05 * shape[1], a + 0.05 * shape[0]])
    pts = centre[:, None] + major[:, None] * a * np.cos(t) + minor[:, None] * b * np.sin(t)
    return pts[0].astype(np.float32), pts[1].astype(np.float32)

