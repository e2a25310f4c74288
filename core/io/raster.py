"""PNG / JPEG / TIFF via Pillow, reduced to one channel; size checked before decoding."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from core.io.layout import plan_layout, resolve_plane

PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in the luminance
HIGH_DEPTH_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")  # kept at full precision


@dataclass
class RasterPlane:
    data: np.ndarray  # (H, W) float32
    source_format: str
    original_shape: tuple[int, ...]
    original_dtype: str
    plane: int | None
    n_planes: int
    notes: list[str] = field(default_factory=list)


def _bomb_error(name: str, max_pixels: int) -> InputError:
    return InputError(
        f"{name} declares an enormous image (a possible decompression bomb), so it was not decoded; use an image below {max_pixels:,} pixels."
    )


def _to_luminance(image, notes: list[str]) -> np.ndarray:
    """One float32 channel: grey levels as they are, colour as BT.601 luminance, alpha dropped."""
    mode = image.mode
    if mode in HIGH_DEPTH_MODES or mode.startswith("I;16"):
        return np.asarray(image).astype(np.float32)
    if mode == "1":
        return np.asarray(image.convert("L"), dtype=np.float32)
    if mode == "L":
        return np.asarray(image, dtype=np.float32)
    if mode in ("LA", "La"):
        notes.append("The alpha (transparency) channel was ignored.")
        return np.asarray(image.getchannel(0), dtype=np.float32)
    if "A" in mode or mode == "PA" or (mode == "P" and "transparency" in image.info):
        notes.append("The alpha (transparency) channel was ignored.")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
    notes.append(
        f"The {mode} image was converted to one channel as luminance 0.299 R + 0.587 G + 0.114 B."
    )
    return rgb @ np.asarray(LUMA, dtype=np.float32)


def read_raster(raw: bytes, name: str, *, plane: int | None, max_pixels: int) -> RasterPlane:
    """One 2-D float32 channel of a PNG, JPEG or TIFF (a multi-page TIFF is a cube of pages)."""
    from PIL import Image

    kind = "PNG, JPEG or TIFF"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes on odd TIFF tags / EXIF
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=["PNG", "JPEG", "TIFF"])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb_error(name, max_pixels) from exc
        except Exception as exc:
            raise InputError(
                f"{name} could not be read as a {kind} image (it is damaged or in another format); export it again as PNG, TIFF or FITS."
            ) from exc
        with image:
            try:
                fmt = PILLOW_FORMATS.get(image.format, "png")
                width, height = image.size
                n_frames = int(getattr(image, "n_frames", 1) or 1)
                shape = (n_frames, height, width) if n_frames > 1 else (height, width)
                layout = plan_layout(shape, name, channels_last_ok=False, max_pixels=max_pixels)
                chosen, notes = resolve_plane(layout, plane, name)
                if chosen:
                    image.seek(chosen)
                image.load()
                mode = image.mode
                data = _to_luminance(image, notes)
            except InputError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _bomb_error(name, max_pixels) from exc
            except MemoryError as exc:
                raise InputError(
                    f"{name} needs more memory to decode than is available; use a smaller image."
                ) from exc
            except Exception as exc:
                kind = PILLOW_FORMATS.get(getattr(image, "format", None), "image").upper()
                raise InputError(
                    f"{name} is a damaged or truncated {kind} image that cannot be decoded; export it again."
                ) from exc
    if data.ndim != 2 or data.shape != (height, width):
        raise InputError(
            f"{name} decoded to an unexpected shape {data.shape}; export it again as a single-channel PNG or TIFF."
        )
    return RasterPlane(
        data=data, source_format=fmt, original_shape=shape, original_dtype=f"{mode}",
        plane=chosen, n_planes=layout.n_planes, notes=notes,
    )  # fmt: skip
