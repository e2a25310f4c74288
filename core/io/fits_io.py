"""FITS read (astropy, in memory, one plane at a time) and write (header kept, atomic)."""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_bytes
from core.errors import InputError
from core.io.formats import SUPPORTED_TEXT, check_planes
from core.io.layout import plan_layout, resolve_plane, to_float32
from core.io.meta import celestial_wcs, header_beam, header_bunit, header_cards, header_pixel_scale

# keywords describing the stored array rather than the sky; rebuilt by astropy on writing
STRUCTURAL = re.compile(
    r"^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|GROUPS|BSCALE|BZERO|BLANK|CHECKSUM|"
    r"DATASUM|END|TFIELDS|THEAP|T(TYPE|FORM|UNIT|DIM|NULL|SCAL|ZERO|DISP)\d+|Z[A-Z0-9_]*|EXTNAME|EXTVER)$"
)
INT_TEXT = re.compile(r"^[+-]?\d+$")
FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")
CARD = 80  # bytes per header card


@dataclass
class FitsPlane:
    data: np.ndarray  # (H, W) float32, may hold NaN
    header: object  # astropy Header of the HDU
    hdu_index: int
    image_hdus: list[int]
    original_shape: tuple[int, ...]
    original_dtype: str
    plane: int | None
    n_planes: int
    notes: list[str] = field(default_factory=list)


def _is_image_hdu(hdu) -> bool:
    from astropy.io import fits

    return (
        isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU))
        and int(hdu.header.get("NAXIS", 0) or 0) > 0
    )


def _scan_hdus(hdul, name: str) -> tuple[list, list[str], list[str]]:
    """(list of (index, hdu) holding images, names of the other HDU kinds, notes)."""
    from astropy.io import fits

    images, others, notes = [], [], []
    index = 0
    while True:
        try:
            hdu = hdul[index]
        except IndexError:
            break
        except Exception as exc:
            if not images:
                raise InputError(
                    f"{name} has a damaged FITS header (astropy cannot parse HDU {index}); check that the file is complete or export it again."
                ) from exc
            notes.append(f"HDU {index} and later could not be read and were ignored.")
            break
        try:
            is_image = _is_image_hdu(hdu)
        except Exception:  # an unparsable NAXIS card
            is_image = False
        if is_image:
            images.append((index, hdu))
        elif not isinstance(hdu, fits.PrimaryHDU):
            others.append(type(hdu).__name__)
        index += 1
    return images, others, notes


def _dtype_text(dtype: np.dtype) -> str:
    return dtype.name + (" (big-endian)" if dtype.byteorder == ">" else "")


def read_fits(
    raw: bytes, name: str, *, hdu: int | None, plane: int | None, max_pixels: int
) -> FitsPlane:
    """One 2-D plane of the chosen (or first) image HDU of a FITS file, still unfilled."""
    from astropy.io import fits

    if not raw.startswith(b"SIMPLE"):
        raise InputError(
            f"{name} is not a FITS file (it does not start with the FITS keyword SIMPLE, so it may be text or "
            f"another format renamed); upload {SUPPORTED_TEXT}."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True)
        except Exception as exc:
            raise InputError(
                f"{name} is an empty or damaged FITS file (astropy cannot read its header); check that the upload is complete or export the file again."
            ) from exc
        with hdul:
            images, others, notes = _scan_hdus(hdul, name)
            if hdu is not None:
                by_index = dict(images)
                if hdu not in by_index:
                    choices = ", ".join(str(i) for i, _ in images) or "none"
                    raise InputError(
                        f"HDU {hdu} of {name} holds no image; the HDUs with images are: {choices}."
                    )
                index, chosen_hdu = hdu, by_index[hdu]
            elif images:
                index, chosen_hdu = images[0]
            elif others:
                kinds = ", ".join(sorted(set(others)))
                raise InputError(
                    f"{name} contains no image, only {kinds} (tables); upload a FITS file whose primary or extension HDU holds a 2-D image."
                )
            else:
                raise InputError(
                    f"{name} has no image data (its HDUs hold headers only); upload a FITS file with a 2-D image."
                )
            try:
                shape = tuple(int(n) for n in chosen_hdu.shape)
            except Exception as exc:
                raise InputError(
                    f"{name} declares an invalid image size in its header (NAXISn); export the file again."
                ) from exc
            layout = plan_layout(shape, name, channels_last_ok=False, max_pixels=max_pixels)
            check_planes(layout.n_planes, name)
            chosen, plane_notes = resolve_plane(layout, plane, name)
            try:
                stored = np.asarray(chosen_hdu.section[layout.index(shape, chosen or 0)])
                data = to_float32(stored, name)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(
                    f"{name} is truncated or damaged: the image data announced by its header is not all there; copy or download the file again."
                ) from exc
            header = chosen_hdu.header.copy()
    if any("truncated" in str(w.message) for w in caught):
        notes.append(
            "The file is shorter than its header announces, but the chosen image plane was complete."
        )
    if 1 in shape and len(shape) > 2:
        notes.append(f"Axes of length 1 were dropped: {shape} became {data.shape}.")
    if len(images) > 1 and hdu is None:
        notes.append(
            f"Image HDU {index} is shown; the file has images in HDUs {', '.join(str(i) for i, _ in images)}."
        )
    return FitsPlane(
        data=data, header=header, hdu_index=index, image_hdus=[i for i, _ in images],
        original_shape=shape, original_dtype=_dtype_text(stored.dtype), plane=chosen,
        n_planes=layout.n_planes, notes=notes + plane_notes,
    )  # fmt: skip


def _head_ints(head: bytes) -> dict[str, int] | None:
    """BITPIX, NAXIS and NAXISn of the first header in `head`, or None if its END card is not in `head`."""
    values: dict[str, int] = {}
    for start in range(0, len(head) - CARD + 1, CARD):
        card = head[start:start + CARD].decode("ascii", "replace")
        key = card[:8].strip()
        if key == "END":
            return values
        if (key == "BITPIX" or key.startswith("NAXIS")) and card[8:10] == "= ":
            text = card[10:].split("/")[0].strip()
            if INT_TEXT.match(text) and len(text) < 19:
                values[key] = int(text)
    return None


def fits_declared_bytes(head: bytes, name: str, max_pixels: int) -> int | None:
    """Data bytes the primary header in `head` (a FITS file's first bytes) announces, after checking
    its image size against `max_pixels` and its plane count against MAX_PLANES.

    None when that cannot be told from `head` (END not reached, cards unreadable, no primary image):
    then `read_fits` says what is wrong. Nothing is decoded; astropy is not needed.
    """
    cards = _head_ints(head)
    if not cards or not 0 < cards.get("NAXIS", 0) <= 999 or cards.get("BITPIX") not in (8, 16, 32, 64, -32, -64):
        return None
    sizes = [cards.get(f"NAXIS{k}", 0) for k in range(cards["NAXIS"], 0, -1)]  # numpy order
    if any(n <= 0 for n in sizes):
        return None
    layout = plan_layout(tuple(sizes), name, channels_last_ok=False, max_pixels=max_pixels)
    check_planes(layout.n_planes, name)
    return abs(cards["BITPIX"]) // 8 * math.prod(sizes)


def _parsable(header):
    """(a Header of the cards whose value astropy can parse, number of cards dropped)."""
    from astropy.io import fits

    good, bad = [], 0
    for card in header.cards:
        try:
            card.value  # noqa: B018 - parsing happens on access
            good.append(card)
        except Exception:
            bad += 1
    return (fits.Header(good) if bad else header), bad


def fits_header_facts(header) -> dict:
    """BUNIT, pixel scale, beam, WCS flag and cards of an astropy Header, for ImageMeta."""
    header, dropped = _parsable(header)
    wcs = celestial_wcs(header)
    scale, scale_note = header_pixel_scale(header, wcs)
    notes = [scale_note] if scale_note else []
    if dropped:
        notes.append(f"{dropped} header card(s) could not be parsed and were ignored.")
    return {
        "header": header_cards(header),
        "bunit": header_bunit(header),
        "pixel_scale_arcsec": scale,
        "beam": header_beam(header),
        "has_wcs": wcs is not None,
        "notes": notes,
    }


def _parse_value(text: str):
    """A header value given as text (as in ImageMeta.header) back to bool, int, float or str."""
    if text in ("T", "F"):
        return text == "T"
    if INT_TEXT.match(text) and len(text) < 19:
        return int(text)
    if FLOAT_TEXT.match(text):
        return float(text.replace("D", "E").replace("d", "e"))
    return text


def _cards(header) -> list[tuple[str, object, str]]:
    """(keyword, value, comment) from an astropy Header or a list of (keyword, value, comment)."""
    if header is None:
        return []
    if hasattr(header, "cards"):
        return [(card.keyword, card.value, card.comment) for card in header.cards]
    return [(str(k), _parse_value(str(v)), str(c)) for k, v, c in header]


def fits_bytes(data: np.ndarray, header=None) -> bytes:
    """A FITS file (primary HDU) holding `data` with the sky and instrument cards of `header`.

    Structural cards (BITPIX, NAXISn, BSCALE, ...) are rebuilt from `data`; COMMENT and
    HISTORY cards are kept; cards astropy cannot write are skipped.
    """
    from astropy.io import fits

    array = np.asarray(data)
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        raise InputError(
            f"Only a numeric array with at least one axis can be saved as FITS, not one of shape {array.shape} and type {array.dtype}."
        )
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    elif array.dtype.kind == "f" and array.dtype.itemsize != 4 and array.dtype.itemsize != 8:
        array = array.astype(np.float32)
    hdu = fits.PrimaryHDU(data=np.ascontiguousarray(array))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value, comment in _cards(header):
            key = key.strip().upper()
            if STRUCTURAL.match(key):
                continue
            try:
                if key == "HISTORY":
                    hdu.header.add_history(str(value))
                elif key in ("COMMENT", ""):
                    if str(value).strip():
                        hdu.header.add_comment(str(value))
                else:
                    hdu.header[key] = (value, comment)
            except Exception:
                continue
        buf = io.BytesIO()
        hdu.writeto(buf, output_verify="silentfix")
    return buf.getvalue()


def write_fits(path: str | Path, data: np.ndarray, header=None) -> None:
    """Write `fits_bytes(data, header)` to `path` atomically (old content kept on failure)."""
    atomic_write_bytes(path, fits_bytes(data, header))
