"""FITS header cards for images EquiScope makes itself (simulations, examples, model outputs)."""

from __future__ import annotations

import json
import re
import warnings

from core.io.meta import PIXSCALE_KEYS

Card = tuple[str, object, str]
# image-axis (1, 2) keywords that hold pixel positions or pixel sizes, primary or alternate (A-Z) WCS
CRPIX = re.compile(r"^CRPIX([12])[A-Z]?$")
PIXEL_SIZE = re.compile(r"^(CDELT[12]|CD[12]_[12])[A-Z]?$")
SCALE_KEYS = {*PIXSCALE_KEYS, "PIXSCAL2", "SECPIX2", "XPIXSCAL", "YPIXSCAL"}  # arcsec per pixel
# distortions tabulated in original pixels (SIP, lookup tables): the WCS cannot simply be rescaled
DISTORTION = re.compile(r"^((A|B|AP|BP)_(ORDER|DMAX|\d+_\d+)|(CPDIS|CQDIS|D2IMDIS|D2IMERR|DP|DQ)\d.*)$")
WCS_KEY = re.compile(r"^(WCSAXES|CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CD\d_|PC\d_|PV\d_|PS\d_|LONPOLE|LATPOLE)")
# WCS keywords of one axis (or a pair of axes), primary or alternate: group 2 (and 3) the axis, last group the letter
AXIS_KEY = re.compile(r"^(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CRDER|CSYER|CNAME)(\d+)()([A-Z]?)$")
PAIR_KEY = re.compile(r"^(CD|PC|PV|PS)(\d+)_(\d+)([A-Z]?)$")
AXES_KEY = re.compile(r"^WCSAXES([A-Z]?)$")
NAXIS_N = re.compile(r"^NAXIS(\d+)$")
SPECTRAL_EXTRA = {"ALTRVAL", "ALTRPIX", "VELREF"}  # AIPS / CASA notes on a spectral axis no 2-D image has
# cards about the pixel values or the old pixel grid that no longer hold after cropping and normalising
STALE = re.compile(r"^(BUNIT|DATAMIN|DATAMAX|SATURATE|LTV\d|LTM\d_\d|MAGZP|MAGZERO|PHOTZP|ZEROPT|PHOT(FLAM|FNU|PLAM|BW))$")


def simulated_header(
    *,
    pixel_scale_arcsec: float,
    beam_fwhm_arcsec: float | None = None,
    bunit: str | None = None,
    object_name: str = "",
    params: dict | None = None,
    comments: tuple[str, ...] = (),
    east_left: bool = True,
    size: int | None = None,
) -> list[tuple[str, object, str]]:
    """Cards for a simulated image: offset axes in arcsec (no sky position), beam, provenance.

    The axes are plain angular offsets (CUNITi = arcsec, no CTYPE), so a reader gets the pixel
    scale without a made-up position on the sky; axis 1 is the RA offset (east positive), so
    CDELT1 < 0 when east is to the left (core.data.disks) and > 0 when the RA offset grows
    with the column (lenstronomy's default grid, core.data.lenses: `east_left=False`). A circular beam of
    FWHM `beam_fwhm_arcsec` is written as BMAJ = BMIN (degrees) and BPA = 0. Each entry of
    `params` becomes one HISTORY card "param name = value". With the image's `size` (pixels per
    side), CRPIXi put offset 0 at the image centre, where both simulators put the lens / star.
    """
    cards: list[tuple[str, object, str]] = [
        ("OBJECT", object_name, "simulated by EquiScope"),
        ("CDELT1", -pixel_scale_arcsec if east_left else pixel_scale_arcsec,
         f"arcsec per pixel (east to the {'left' if east_left else 'right'})"),
        ("CDELT2", pixel_scale_arcsec, "arcsec per pixel"),
        ("CUNIT1", "arcsec", ""),
        ("CUNIT2", "arcsec", ""),
        *([("CRPIX1", (size + 1) / 2, "image centre (offset 0)"), ("CRPIX2", (size + 1) / 2, "image centre (offset 0)"),
           ("CRVAL1", 0.0, "arcsec"), ("CRVAL2", 0.0, "arcsec")] if size else []),
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


def plane_cards(cards: list[Card]) -> list[Card]:
    """The cards of one 2-D plane of the image: its WCS cut down to the plane's two axes.

    A CASA image (NAXIS = 4: RA, Dec, FREQ, STOKES) read as one 2-D plane keeps a 4-axis WCS
    in its header; written as it is with a 2-D array, astropy warns and `pixel_to_world(x, y)`
    fails. The plane's axes are the first two FITS axes longer than one pixel (NAXISn; axes 1
    and 2 without NAXISn cards). Their WCS, for the primary and every alternate WCS, becomes
    astropy's `WCS(header).sub([a, b]).to_header()` (the celestial WCS when a, b are RA and Dec;
    offset axes without CTYPE stay as they are), with OBSGEO-L/B/H added next to OBSGEO-X/Y/Z
    so astropy need not derive them. It replaces every WCS card of the input (other axes, PC /
    CD / PV of other axes, WCSAXES, the keys astropy rewrites) at the place of the first one;
    all other cards stay, and a HISTORY card names the axes dropped. A header whose WCS already
    has two axes on axes 1 and 2 comes back unchanged. A WCS astropy cannot parse is removed,
    with a HISTORY card saying so.
    """
    keys = [str(k).strip().upper() for k, _, _ in cards]
    axes = _plane_axes(cards)
    letters = sorted({m.group(4) for k in keys if (m := AXIS_KEY.match(k) or PAIR_KEY.match(k))}
                     | {m.group(1) for k in keys if (m := AXES_KEY.match(k))})
    if not letters or (axes == (1, 2) and _largest_axis(cards) <= 2):
        return list(cards)
    try:
        new, dropped = _plane_wcs(cards, axes, letters)
    except Exception:  # astropy cannot parse it: no WCS rather than a wrong one
        new, dropped = [("HISTORY", "EquiScope: WCS removed: astropy could not parse it", "")], []
    replaced = {str(k).strip().upper() for k, _, _ in new if k not in ("HISTORY", "COMMENT")}
    out: list[Card] = []
    for (key, value, comment), k in zip(cards, keys, strict=True):
        if _is_wcs_card(k, letters) or k in replaced or (dropped and k in SPECTRAL_EXTRA):
            if new:
                out += new  # the 2-D WCS where the old one began
                new = []
            continue
        out.append((key, value, comment))
    if dropped:
        out.append(("HISTORY", f"EquiScope: WCS cut to the image plane's axes {axes[0]} and {axes[1]}", ""))
        out.append(("HISTORY", f"EquiScope: WCS axes dropped: {', '.join(dropped)}", ""))
    return out + new


def _plane_axes(cards: list[Card]) -> tuple[int, int]:
    """The FITS axes of the image plane: the first two with NAXISn > 1, else (1, 2)."""
    sizes = {}
    for key, value, _ in cards:
        if m := NAXIS_N.match(str(key).strip().upper()):
            try:
                sizes[int(m.group(1))] = int(_number(value))
            except (TypeError, ValueError):
                return 1, 2
    real = sorted(axis for axis, n in sizes.items() if n > 1)
    return (real[0], real[1]) if len(real) >= 2 else (1, 2)


def _largest_axis(cards: list[Card]) -> int:
    """The largest axis number a WCS card names (WCSAXES included)."""
    largest = 0
    for key, value, _ in cards:
        k = str(key).strip().upper()
        if m := AXIS_KEY.match(k):
            largest = max(largest, int(m.group(2)))
        elif m := PAIR_KEY.match(k):
            largest = max(largest, int(m.group(2)), *([int(m.group(3))] if m.group(1) in ("CD", "PC") else []))
        elif AXES_KEY.match(k):
            try:
                largest = max(largest, int(_number(value)))
            except (TypeError, ValueError):
                largest = max(largest, 3)  # unreadable: let astropy decide
    return largest


def _is_wcs_card(key: str, letters: list[str]) -> bool:
    m = AXIS_KEY.match(key) or PAIR_KEY.match(key) or AXES_KEY.match(key)
    return bool(m) and m.groups()[-1] in letters


def _plane_wcs(cards: list[Card], axes: tuple[int, int], letters: list[str]) -> tuple[list[Card], list[str]]:
    """The 2-D WCS cards (each WCS `letters` holds, cut to `axes`) and the names of the axes dropped."""
    from astropy.io import fits
    from astropy.wcs import WCS

    header = fits.Header()
    for key, value, _ in cards:
        k = str(key).strip().upper()
        if k and k not in ("HISTORY", "COMMENT") and len(k) <= 8:
            try:
                header[k] = _value(value)
            except (ValueError, TypeError):  # a card astropy will not hold says nothing about the WCS
                continue
    new: list[Card] = []
    dropped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's notes on the old header: the new one is what counts
        for letter in letters:
            full = WCS(header, key=letter or " ")
            plane = full.sub(list(axes)).to_header(key=letter or None)
            new += [(card.keyword, card.value, card.comment) for card in plane.cards if card.keyword not in {k for k, _, _ in new}]
            if not letter:
                dropped = [f"{i + 1} {t or '(no CTYPE)'}" for i, t in enumerate(full.wcs.ctype) if i + 1 not in axes]
                geo = [float(x) for x in full.wcs.obsgeo]
                if all(map(_finite, geo[3:])) and "OBSGEO-X" in plane:  # astropy would derive these and warn
                    new += [(f"OBSGEO-{c}", v, f"[{u}] observatory {what}") for c, v, u, what in
                            zip("LBH", geo[3:], ("deg", "deg", "m"), ("longitude", "latitude", "height"), strict=True)]
    return new, dropped


def _finite(x) -> bool:
    return x == x and abs(x) != float("inf")


def _value(value):
    """A card value held as text (ImageMeta.header) back to a number when it is one."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("T", "F"):
        return text == "T"
    try:
        number = _number(text)
    except ValueError:
        return value
    return int(number) if re.fullmatch(r"[+-]?\d+", text) else number


def regridded_header(cards: list[Card], original_shape: tuple[int, ...], grid_size: int,
                     box: tuple[int, int, int, int] | None = None) -> list[Card]:
    """The cards of an image of `original_shape` made true for its model-grid version.

    `box` (row0, row1, col0, col1), half-open 0-based original pixels, a square that may reach
    beyond the image: the cutout (`core.data.cutout`) that was resampled instead of the central
    square.

    `core.data.preprocess.prepare` centre-crops (H, W) to a square of side s = min(H, W) and
    resamples it to (grid_size, grid_size) with bilinear interpolation (half-pixel centres),
    then min-max normalises it. So a grid pixel is r = s / grid_size original pixels and FITS
    pixel p (1-based) on the grid sits at (p - 0.5) * r + 0.5 + offset in the original: CRPIXi
    becomes (CRPIXi - offset - 0.5) / r + 0.5 and CDELTi, CDi_j and PIXSCALE-like cards are
    multiplied by r (PCi_j, CRVALi, the beam in degrees stay), after the WCS is cut to the image
    plane's two axes (`plane_cards`: a CASA cube's FREQ and STOKES go). A WCS with distortion tables in
    original pixels (SIP, lookup) is dropped instead, with a HISTORY card saying why. BUNIT
    becomes 'normalised'; DATAMIN/DATAMAX, photometric zero points and IRAF LTV/LTM go.
    """
    h, w = original_shape[-2:]
    side = min(h, w)
    offsets = {"1": (w - side) // 2, "2": (h - side) // 2}  # columns / rows cut away before the first kept one
    if box is not None:
        side, offsets = box[1] - box[0], {"1": box[2], "2": box[0]}
    r = side / grid_size
    cards, drop_wcs = _plane_or_drop(cards)
    keys = {str(k).strip().upper() for k, _, _ in cards}
    has_wcs = any(WCS_KEY.match(k) for k in keys) and not drop_wcs
    out: list[Card] = []
    for key, value, comment in cards:
        k = str(key).strip().upper()
        if STALE.match(k) or (drop_wcs and (WCS_KEY.match(k) or DISTORTION.match(k))):
            continue
        try:
            if (m := CRPIX.match(k)) and has_wcs:
                value = (_number(value) - offsets[m.group(1)] - 0.5) / r + 0.5
            elif (PIXEL_SIZE.match(k) and has_wcs) or k in SCALE_KEYS:
                value = _number(value) * r
        except (TypeError, ValueError):
            continue  # not a number: it cannot be rescaled, and unscaled it would be wrong
        out.append((key, value, comment))
    if has_wcs:  # FITS defaults CRPIXi = 0 and (without a CD matrix) CDELTi = 1 must be rescaled too
        for i in "12":
            if f"CRPIX{i}" not in keys:
                out.append((f"CRPIX{i}", (0.0 - offsets[i] - 0.5) / r + 0.5, "reference pixel on this grid"))
            if f"CDELT{i}" not in keys and not any(re.match(r"^CD[12]_[12]$", k) for k in keys):
                out.append((f"CDELT{i}", r, "pixel size on this grid"))
    bunit = next((str(v) for k, v, _ in cards if str(k).strip().upper() == "BUNIT"), "")
    out.append(("BUNIT", "normalised", "min-max scaled to [0,1] of the input cutout"))
    out.append(("HISTORY", f"EquiScope: {'cut out' if box is not None else 'cropped'} {w}x{h} px to columns "
                           f"{offsets['1'] + 1}-{offsets['1'] + side}, rows {offsets['2'] + 1}-{offsets['2'] + side}", ""))
    out.append(("HISTORY", f"EquiScope: resampled to {grid_size}x{grid_size} (bilinear), min-max normalised", ""))
    if bunit.strip():
        out.append(("HISTORY", f"EquiScope: the input's BUNIT was '{bunit.strip()}'", ""))
    if has_wcs:
        out.append(("HISTORY", "EquiScope: WCS and pixel scale rescaled to this grid", ""))
    elif drop_wcs:
        out.append(("HISTORY", "EquiScope: WCS removed: its distortion (SIP or lookup tables)", ""))
        out.append(("HISTORY", "is in the original pixels and was not resampled", ""))
    return out


def upscaled_cards(cards: list, scale: int = 2) -> list:
    """Header cards made true for the image upscaled `scale` times (half-pixel centres kept):
    CRPIXi -> scale (CRPIXi - 0.5) + 0.5; CDELTi, CDi_j and arcsec-per-pixel cards / scale, after
    the WCS is cut to the image plane's two axes (`plane_cards`)."""
    cards, drop_wcs = _plane_or_drop(cards)
    out = []
    for key, value, comment in cards:
        k = str(key).strip().upper()
        if k in {"DATAMIN", "DATAMAX"} or (drop_wcs and (WCS_KEY.match(k) or DISTORTION.match(k))):
            continue
        try:
            if CRPIX.match(k):
                value = scale * (_number(value) - 0.5) + 0.5
            elif PIXEL_SIZE.match(k) or k in SCALE_KEYS:
                value = _number(value) / scale
        except (TypeError, ValueError):
            continue
        out.append((key, value, comment))
    out.append(("HISTORY", f"EquiScope: upscaled x{scale} (super-resolution); pixel scale / {scale}", ""))
    out.append(("HISTORY", "EquiScope: values on the input's per-pixel scale (surface brightness kept)", ""))
    if drop_wcs:
        out.append(("HISTORY", "EquiScope: WCS removed: its distortion tables are in the input's pixels", ""))
    return out


def _plane_or_drop(cards: list[Card]) -> tuple[list[Card], bool]:
    """(cards with the plane's 2-D WCS (plane_cards), False), or (cards, True) when the WCS has distortion
    tables in the input's pixels: the caller drops it whole (astropy's 2-D copy would lose them silently)."""
    if any(DISTORTION.match(str(k).strip().upper()) for k, _, _ in cards):
        return list(cards), True
    return plane_cards(cards), False


def _number(value) -> float:
    return float(str(value).replace("D", "E")) if isinstance(value, str) else float(value)
