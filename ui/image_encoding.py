"""What the browser gets of an image: cut, stretch and colour map applied here, so a figure carries uint8
display levels, a colour bar whose ticks read the image's units, and compact hover values.

- Display levels 0..LEVELS (uint8): the cut (min-max, percentile clips, IRAF z-scale, or manual limits)
  and the stretch (log, sqrt, asinh) are applied here, so the colour map is spread evenly over the
  levels; the colour bar's ticks sit at round values in the image's units (evenly spaced along the bar).
- Hover values: the image's own values as int16 multiples of 10^E ("5234×10⁻⁴ Jy/beam": 4-5
  significant digits at the brightest pixel), or as float32 (4 significant digits) when that would
  leave the typical pixel fewer than 2 (`hover_exponent`).
- plotly's JSON leaves "/" unescaped (`unescape_slashes`): base64 image data is full of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import plotly.colors

STRETCHES = ("linear", "log", "sqrt", "asinh")
CUTS = ("min–max", "99.9 %", "99.5 %", "99 %", "95 %", "z-scale", "manual")
COLORMAPS = {
    "inferno": plotly.colors.sequential.Inferno,
    "magma": plotly.colors.sequential.Magma,
    "viridis": plotly.colors.sequential.Viridis,
    "cividis": plotly.colors.sequential.Cividis,
    "gray": ["#000000", "#ffffff"],
    "hot": plotly.colors.sequential.Hot,
}
RESIDUAL_COLORMAP = "RdBu_r"
# Display levels 0..LEVELS (uint8). 255 is left out: a run of it is "////" in base64, and plotly's
# JSON writes each "/" as the six characters "\u002f" unless `unescape_slashes` could turn that off.
LEVELS = 254
CONTOUR_LEVELS = 65535  # contours are traced on uint16 levels, linear in value between the cut's limits
COMPACT_MAX = 32767  # compact hover values: int16 q, value = q × 10^E
MIN_TYPICAL = 10  # compact only when the typical pixel keeps >= 2 significant digits (q >= 10)
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
SLASH_SWAP = ("/", "\\u002f")  # the entry of plotly's escape tables that `unescape_slashes` removes


def _is_swap_table(swaps) -> bool:
    """plotly's form of an escape table: a tuple of (character, replacement) string pairs."""
    return isinstance(swaps, tuple) and all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair) for pair in swaps)


def unescape_slashes(module=None) -> bool:
    """Stop plotly.io.to_json (which st.plotly_chart calls) writing every "/" as "\\u002f", six characters,
    for HTML embedding: base64 image data is full of them (a third of the bytes of float32 values in
    [0.5, 1)). "<" and ">" stay escaped, which is what keeps "</script>" out of HTML; in Streamlit's
    messages the figure is plain JSON. The setting is private (plotly.io._json._swap_json and
    _swap_orjson as of plotly 7.1): a table is changed only when it has the expected form and holds
    SLASH_SWAP, anything else is left alone, and tests/test_viewer.py fails if "/" is escaped again.
    Returns whether a table was changed."""
    if module is None:
        try:
            import plotly.io._json as module
        except ImportError:
            return False
    changed = False
    for name in ("_swap_json", "_swap_orjson"):
        swaps = getattr(module, name, None)
        if _is_swap_table(swaps) and SLASH_SWAP in swaps:
            setattr(module, name, tuple(pair for pair in swaps if pair != SLASH_SWAP))
            changed = True
    return changed


unescape_slashes()


# ------------------------------------------------------------------ values, levels and colours



def cut_limits(image: np.ndarray, cut: str, manual: tuple[float, float] | None = None) -> tuple[float, float]:
    """(vmin, vmax) in the image's units for a cut of CUTS; never an empty interval."""
    data = np.asarray(image, dtype=np.float32)
    if cut == "manual" and manual is not None:
        vmin, vmax = float(manual[0]), float(manual[1])
    elif cut == "z-scale":
        from astropy.visualization import ZScaleInterval

        vmin, vmax = (float(v) for v in ZScaleInterval().get_limits(data))
    elif cut.endswith("%"):
        keep = float(cut.split()[0])
        vmin, vmax = (float(v) for v in np.percentile(data, [(100 - keep) / 2, 100 - (100 - keep) / 2]))
    elif cut == "min–max" or cut == "manual":
        vmin, vmax = float(data.min()), float(data.max())
    else:
        raise ValueError(f"Unknown cut {cut!r}; choose one of {', '.join(CUTS)}.")
    if not vmax > vmin:
        vmax = vmin + (abs(vmin) or 1.0) * 1e-6 if vmax == vmin else vmin + 1.0
    return vmin, vmax


def _curve(stretch: str):
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch

    curves = {"linear": LinearStretch, "log": lambda: LogStretch(a=1000.0), "sqrt": SqrtStretch,
              "asinh": lambda: AsinhStretch(a=0.02)}
    if stretch not in curves:
        raise ValueError(f"Unknown stretch {stretch!r}; choose one of {', '.join(STRETCHES)}.")
    return curves[stretch]()


def bar_fraction(values, limits: tuple[float, float], stretch: str) -> np.ndarray:
    """Where `values` sit along the colour bar, 0..1: cut, clip, then the stretch curve."""
    lo, hi = float(limits[0]), float(limits[1])
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t if stretch == "linear" else np.asarray(_curve(stretch)(t, clip=True), dtype=np.float64)


def display_levels(image: np.ndarray, limits: tuple[float, float], stretch: str = "linear") -> np.ndarray:
    """The image as uint8 levels 0..LEVELS: `limits` mapped to 0 and LEVELS through the stretch."""
    return np.rint(bar_fraction(image, limits, stretch) * LEVELS).astype(np.uint8)


def signed_levels(image: np.ndarray, limit: float) -> np.ndarray:
    """A signed image (a residual) as uint8 levels: -limit -> 0, 0 -> LEVELS / 2, +limit -> LEVELS."""
    half = LEVELS / 2
    return np.rint(half + half * np.clip(np.asarray(image, dtype=np.float32) / np.float32(limit), -1, 1)).astype(np.uint8)


def _safe_colour(colour: str) -> str:
    # Streamlit's front end swaps the exact colours of plotly's placeholder palette (e.g. Inferno's
    # first, "#000004" / "rgb(0, 0, 4)") for theme colours: nudge them by one step.
    return {"#000004": "#010005", "rgb(0, 0, 4)": "rgb(1, 0, 5)"}.get(colour, colour)


def colour_scale(colormap: str, n: int = 12) -> list[list]:
    """The colour map as a plotly colour scale spread evenly over the display levels."""
    if colormap not in COLORMAPS:
        raise ValueError(f"Unknown colour map {colormap!r}; choose one of {', '.join(COLORMAPS)}.")
    t = np.linspace(0.0, 1.0, n)
    colours = plotly.colors.sample_colorscale(plotly.colors.make_colorscale(COLORMAPS[colormap]), t.tolist())
    return [[float(p), _safe_colour(c)] for p, c in zip(t, colours, strict=True)]


def _round(value: float, digits: int = 2) -> float:
    """`value` to `digits` significant digits (float noise such as 0.30000000000000004 gone)."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return float(f"{round(value, digits - 1 - math.floor(math.log10(abs(value)))):.12g}") + 0.0


def tick_values(limits: tuple[float, float], stretch: str = "linear", n: int = 5) -> list[float]:
    """Round values for the colour bar's ticks: multiples of a 1-2-2.5-5 step for a linear scale;
    for the other stretches evenly spaced along the bar, rounded to 2 significant digits."""
    lo, hi = float(limits[0]), float(limits[1])
    if stretch == "linear":
        mag = 10.0 ** math.floor(math.log10((hi - lo) / n))
        steps = [m * mag for m in (10, 5, 2.5, 2, 1, 0.5, 0.25, 0.2, 0.1)]
        values: list[float] = []
        for step in steps[next(i for i, s in enumerate(steps) if s < (hi - lo) / n * (1 - 1e-9)) - 1:]:
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            values = [float(f"{k * step:.12g}") + 0.0 for k in range(first, last + 1)]
            if len(values) >= 3:  # a smaller step when the cut holds fewer than three round values
                break
        return values
    fractions = np.linspace(0.0, 1.0, n + 1)
    raw = lo + np.asarray(_curve(stretch).inverse(fractions), dtype=np.float64) * (hi - lo)
    return [v for v in sorted({_round(float(v)) for v in raw}) if lo <= v <= hi]


def tick_labels(values: Sequence[float]) -> list[str]:
    """One style for every tick: plain decimals (as many as the values need), or all in exponent form."""
    nonzero = [abs(v) for v in values if v]
    if not nonzero or (min(nonzero) >= 1e-3 and max(nonzero) < 1e5):
        def plain(v: float) -> str:
            decimals = next((d for d in range(7) if abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v))), 6)
            return f"{v:,.{decimals}f}"

        return [plain(v) for v in values]
    return ["0" if v == 0 else re.sub(r"e([+-])0*(\d)", lambda m: "e" + m[1].replace("+", "") + m[2], f"{v:.1e}")
            for v in values]


def colour_bar(limits: tuple[float, float], stretch: str, title: str, n: int = 5, **extra) -> dict:
    """A colour bar over the display levels whose ticks read the image's units."""
    values = tick_values(limits, stretch, n)
    positions = (bar_fraction(values, limits, stretch) * LEVELS).astype(float).tolist()
    kept, where = [], []
    for value, pos in zip(values, positions, strict=True):  # no two labels on top of each other
        if not where or pos - where[-1] >= 0.07 * LEVELS:
            kept.append(value)
            where.append(pos)
    return {"title": {"text": title, "side": "right"}, "thickness": 12, "tickmode": "array",
            "tickvals": where, "ticktext": tick_labels(kept), **extra}


def signed_colour_bar(limit: float, title: str, n: int = 2, **extra) -> dict:
    """The colour bar of `signed_levels`: ticks at round values between -limit and +limit."""
    values = [v for v in tick_values((-limit, limit), "linear", n) if abs(v) <= limit]
    where = [LEVELS / 2 * (1 + v / limit) for v in values]
    return {"title": {"text": title, "side": "right"}, "thickness": 12, "tickmode": "array",
            "tickvals": where, "ticktext": tick_labels(values), **extra}


# ------------------------------------------------------------------ hover values


def compact_exponent(largest: float) -> int:
    """The smallest E for which every value up to `largest` in magnitude is an int16 multiple of 10^E."""
    if not largest > 0 or not math.isfinite(largest):
        return 0
    exponent = math.ceil(math.log10(largest / COMPACT_MAX))
    return exponent + 1 if round(largest / 10.0**exponent) > COMPACT_MAX else exponent


def hover_exponent(images: Sequence[np.ndarray]) -> int | None:
    """E for compact hover values (int16 multiples of 10^E) of these images, or None (float32) when that
    would show their typical pixel with fewer than 2 significant digits (a few pixels far brighter than
    the rest, e.g. a saturated star)."""
    flat = [np.abs(np.asarray(a, dtype=np.float32)).ravel() for a in images]
    exponent = compact_exponent(max(float(f.max()) for f in flat))
    sample = np.concatenate([f[:: max(1, f.size // 20000)] for f in flat])  # a median of <= ~20k pixels each
    sample = sample[sample > 0]
    typical = float(np.median(sample)) if sample.size else 0.0
    return exponent if typical == 0.0 or typical / 10.0**exponent >= MIN_TYPICAL else None


def power_text(exponent: int) -> str:
    return f"×10{str(exponent).translate(SUPERSCRIPT)}" if exponent else ""


def hover_value(data: np.ndarray, exponent: int | None, unit: str) -> tuple[np.ndarray, str]:
    """(customdata channel, hover text): float32 values read to 4 significant digits, or with
    `exponent` E int16 multiples of 10^E (the figure's trace `meta["scale"]` = 10^E)."""
    if exponent is None:
        return np.asarray(data, dtype=np.float32), f"value %{{customdata[0]:.4g}}{unit}"
    return (np.rint(np.asarray(data, dtype=np.float64) / 10.0**exponent).astype(np.int16),
            f"value %{{customdata[0]:d}}{power_text(exponent)}{unit}")
