"""Brightness stretches as figures show images, and what an input is: linear physical or figure-like.

Stretches map a display value t in [0, 1] (the image clipped to its display range [vmin, vmax] and scaled)
onto [0, 1], each with its own parameter `s`:
  linear t | sqrt t^0.5 | power t^s | asinh asinh(t / s) / asinh(1 / s) | log log(1 + s t) / log(1 + s).
`apply_stretch` and `undo_stretch` are exact inverses on [0, 1].

`assume_brightness(data, meta)` says which of two kinds an input is (core.io.meta.ImageMeta tells how it came):
- linear physical: a FITS whose BUNIT is a brightness (Jy/beam, Jy/pixel, K) or that carries a restoring beam, and
  any other array whose values are not normalised (e.g. noise around zero, as interferometric images have);
- figure-like: a PNG or JPEG, or an array normalised to [0, 1] (or whole numbers in [0, 255]); its histogram hints
  at the display: a floor of clipped pixels (`floor_share`), a stretched spread of brightness (`stretch_score`).
It returns an `Assumption` (kind and reason), and `model_input` applies it and says so in one sentence for the user
(used as shown for a model trained on figure-like renderings too, else an approximate stretch undone).
`brightness_input(data, meta, model_saw_figures)` does both; `saw_figures(entry)` says, from a checkpoint's index entry
(or its `data` record), whether its training disks held figure-like renderings (preset dsharp-figures). Every disk
page (ui.disk_input, the Reconstruct page) and `python -m core reconstruct` go through
core.analysis.reconstruct.model_cutout, which calls brightness_input before the cutout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STRETCHES = ("linear", "sqrt", "power", "asinh", "log")
BRIGHTNESS_UNITS = ("jy", "k", "mjy", "erg", "w/m", "mag", "counts", "electrons", "adu")
FLOOR_SHARE = 0.05  # a display clips at least this share of the pixels to its minimum
STRETCHED_SCORE = 0.3  # stretch_score above this: the brightness looks stretched (a hint: see stretch_score)
SCORE_PIXELS = 256 * 256  # undo_softening scores at most this many pixels per trial softening
UNDO_TARGET = 0.14  # median stretch_score of the linear simulated disks of core.data.dsharp


def apply_stretch(t: np.ndarray, kind: str, s: float = 0.0) -> np.ndarray:
    """The stretch `kind` of display values t (clipped to [0, 1] first), in [0, 1]."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if kind == "linear":
        return t
    if kind == "sqrt":
        return np.sqrt(t)
    if kind == "power":
        return t**s
    if kind == "asinh":
        return np.arcsinh(t / s) / math.asinh(1.0 / s)
    if kind == "log":
        return np.log1p(s * t) / math.log1p(s)
    raise ValueError(f"Unknown stretch {kind!r}; choose one of {', '.join(STRETCHES)}.")


def undo_stretch(v: np.ndarray, kind: str, s: float = 0.0) -> np.ndarray:
    """The display values t whose stretch is v (clipped to [0, 1]): apply_stretch's inverse."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    if kind == "linear":
        return v
    if kind == "sqrt":
        return v**2
    if kind == "power":
        return v ** (1.0 / s)
    if kind == "asinh":
        return s * np.sinh(v * math.asinh(1.0 / s))
    if kind == "log":
        return np.expm1(v * math.log1p(s)) / s
    raise ValueError(f"Unknown stretch {kind!r}; choose one of {', '.join(STRETCHES)}.")


def render_figure(image: np.ndarray, kind: str, s: float, vmin: float, vmax: float, bits: int = 0) -> np.ndarray:
    """`image` as a figure shows it: clipped to [vmin, vmax], stretched, in [0, 1]; `bits` = 8 quantises to 256
    levels as an 8-bit PNG does (0: float). float64."""
    out = apply_stretch((np.asarray(image, dtype=np.float64) - vmin) / (vmax - vmin), kind, s)
    if bits:
        levels = 2**bits - 1
        out = np.round(out * levels) / levels
    return out


# ---------------------------------------------------------------------------- what an input is


@dataclass
class Assumption:
    """What an input was taken to be, and why."""

    kind: str  # "linear" (physical brightness) | "figure" (a display: normalised, maybe stretched)
    reason: str  # the clue, as a phrase: "a FITS in Jy/beam", "an 8-bit PNG", ...
    stretch: str = "linear"  # the stretch a figure seems to carry: linear | stretched (kind unknown)
    score: float = 0.0  # stretch_score of the image

    @property
    def figure(self) -> bool:
        return self.kind == "figure"


def _is_brightness_unit(bunit: str | None) -> bool:
    text = (bunit or "").strip().lower().replace(" ", "")
    return bool(text) and any(text.startswith(u) or f"/{u}" in text or u in text.split("/") for u in BRIGHTNESS_UNITS)


def _normalised(data: np.ndarray) -> str | None:
    """"[0, 1]" or "[0, 255]" when every pixel lies in that range (255: whole numbers), else None."""
    lo, hi = float(data.min()), float(data.max())
    if lo >= 0.0 and hi <= 1.0:
        return "[0, 1]"
    if lo >= 0.0 and hi <= 255.0 and np.all(data == np.round(data)):
        return "[0, 255]"
    return None


def floor_share(data: np.ndarray) -> float:
    """Share of the pixels sitting at the image's minimum (a display clips the background to it)."""
    lo, hi = float(data.min()), float(data.max())
    return float(np.mean(data <= lo + 1e-6 * max(hi - lo, 1e-30)))


def stretch_score(data: np.ndarray) -> float:
    """How stretched the brightness of an image looks, about 0-1: the median level of its emission (pixels above 3
    times the 99th percentile of a 2-pixel border, clamped to 2-50 % of the range), in units of the range above the
    border's median. A hint only. On 200 disks of core.data.dsharp (preset dsharp-figures): linear ones 0.03-0.66
    (median 0.14; 16 % above STRETCHED_SCORE, mostly the 2.1 family's ring-only disks), asinh / sqrt / log / power
    figures medians 0.49-0.67 (67-96 % above it); the real HD 163296 (ALMA B7) 0.12 linear, 0.45 in an asinh
    (a = 0.02) figure, 0.38 sqrt, 0.78 log."""
    d = np.asarray(data, dtype=np.float64)
    border = np.concatenate([d[:2].ravel(), d[-2:].ravel(), d[:, :2].ravel(), d[:, -2:].ravel()])
    floor, top = float(np.median(border)), float(d.max())
    if not top > floor:
        return 0.0
    t = (d - floor) / (top - floor)
    emission = t[t > max(0.02, min(0.5, 3.0 * (float(np.percentile(border, 99)) - floor) / (top - floor)))]
    return float(np.median(emission)) if emission.size else 0.0


def assume_brightness(data: np.ndarray, meta=None) -> Assumption:
    """Linear physical or figure-like, from the file's facts (`meta`: core.io.meta.ImageMeta, or None) and its pixels:
    a FITS with a brightness unit or a beam is linear; a PNG / JPEG, or values within [0, 1] or whole numbers within
    [0, 255], is a figure (`stretch` says whether its brightness looks stretched); anything else is linear."""
    data = np.asarray(data, dtype=np.float64)
    fmt = getattr(meta, "source_format", None)
    bunit, beam = getattr(meta, "bunit", None), getattr(meta, "beam", None)
    score = stretch_score(data)
    if fmt == "fits" and (_is_brightness_unit(bunit) or beam is not None):
        what = f"a FITS in {bunit}" if _is_brightness_unit(bunit) else "a FITS with a restoring beam"
        return Assumption("linear", what, score=score)
    scale, floor = _normalised(data), floor_share(data)
    clues = [f"a {fmt.upper()} picture"] if fmt in ("png", "jpeg") else [f"values in {scale}"] if scale else []
    if clues:
        if floor >= FLOOR_SHARE:
            clues.append(f"{floor:.0%} of the pixels clipped to the minimum")
        # a stretch is called only with a display's mark beside the histogram: a clipped floor, or a picture's
        # 8-bit levels. A min-max normalised linear disk has no floor, and 43 % of them score above STRETCHED_SCORE.
        displayed = floor >= FLOOR_SHARE or fmt in ("png", "jpeg") or scale == "[0, 255]"
        stretched = score > STRETCHED_SCORE and displayed
        if stretched:
            clues.append("a stretched brightness histogram")
        return Assumption("figure", ", ".join(clues), "stretched" if stretched else "linear", score)
    if fmt == "fits":
        return Assumption("linear", "a FITS without a brightness unit, whose values are not normalised", score=score)
    noise = " with noise around zero" if float(data.min()) < 0.0 and _negative_background(data) else ""
    return Assumption("linear", f"an array of physical-looking values{noise} (not normalised to [0, 1] or [0, 255])", score=score)


def _negative_background(data: np.ndarray) -> bool:
    """The negative pixels look like noise around a zero background: at least 5 % of the pixels, none far below."""
    negative = data[data < 0]
    return negative.size >= 0.05 * data.size and float(-negative.min()) < 0.5 * float(data.max())


def undo_softening(data: np.ndarray) -> float:
    """The asinh softening whose inverse brings the image's stretch_score to that of linear disks (UNDO_TARGET);
    0 unless it looks stretched (STRETCHED_SCORE). A rough guess: a figure does not say which stretch it carries.
    Scored on every k-th pixel of a large image (at most SCORE_PIXELS; the score is a median of levels)."""
    if stretch_score(data) <= STRETCHED_SCORE:
        return 0.0
    values = np.asarray(data, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    step = max(1, int(np.ceil(np.sqrt(values.size / SCORE_PIXELS))))
    t = (values[::step, ::step] - lo) / (hi - lo)
    peak = np.unravel_index(int(np.argmax(values)), values.shape)
    t[peak[0] // step, peak[1] // step] = 1.0  # the sample keeps the image's peak, the top of every score
    grid = np.geomspace(1e-3, 3.0, 60)  # strong to almost linear
    scores = [stretch_score(undo_stretch(t, "asinh", a)) for a in grid]
    return float(grid[int(np.argmin(np.abs(np.asarray(scores) - UNDO_TARGET)))])


def model_input(data: np.ndarray, assumption: Assumption, model_saw_figures: bool) -> tuple[np.ndarray, str]:
    """(the image for the model, one sentence saying what was assumed and done). A figure goes in as shown when the
    model was trained on figure-like renderings too (`model_saw_figures`), else its stretch is undone approximately.
    An image used as it is comes back as the very array given (same values and dtype, no copy)."""
    head = f"Assumed a {'figure-like image' if assumption.figure else 'linear physical image'} ({assumption.reason})"
    if not assumption.figure:
        return data, head + "; its brightness was used as it is, normalised to its own range like the training images."
    if model_saw_figures or assumption.stretch == "linear":
        why = ("the model's training disks include renderings normalised and stretched the same ways"
               if model_saw_figures else "its brightness shows no sign of a display stretch")
        return data, head + f"; it was used as shown, since {why}."
    values = np.asarray(data, dtype=np.float64)
    a = undo_softening(values)
    if a == 0.0:
        return data, head + "; it was used as shown, since its brightness shows no sign of a display stretch."
    lo, hi = float(values.min()), float(values.max())
    return (undo_stretch((values - lo) / (hi - lo), "asinh", a),
            head + f"; an asinh stretch (softening {a:.2g}) was undone approximately, so it resembles the linear images "
                   "the model was trained on.")


def saw_figures(record: dict | None) -> bool:
    """Whether a disk checkpoint saw figure-like renderings in training: its index entry (`{"name", "data": {...}}`)
    or that entry's `data` record has the preset dsharp-figures (the v2 and v3 disk models; v1 ones were trained on
    linear simulated disks only)."""
    if not isinstance(record, dict):
        return False
    data = record.get("data") if isinstance(record.get("data"), dict) else record
    return data.get("preset") == "dsharp-figures"


def brightness_input(data: np.ndarray, meta, model_saw_figures: bool) -> tuple[np.ndarray, str]:
    """assume_brightness then model_input: (the image for the model, the one sentence). `meta`: anything with
    source_format / bunit / beam (core.io.meta.ImageMeta), or None. A linear image comes back unchanged (the same
    array), so a model sees exactly what it saw before this step existed."""
    return model_input(data, assume_brightness(data, meta), model_saw_figures)
