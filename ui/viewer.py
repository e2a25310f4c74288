"""The image viewer: true pixel coordinates, RA/Dec, cuts, stretches, colour maps, beam, contours,
a pixel readout with region statistics, and blinking two images.

Every image the app shows goes through `view_figure` (one image), `linked_figure` (panels that zoom
and pan together, e.g. original | reconstruction | residual) or `blink_figure` (two images in one
place, shown in turn). Conventions:
- Axes are the image's own pixel indices, 0-based, (0, 0) at the lower left as FITS viewers
  draw it; hovering the centre of a 512 x 512 image reads x = 255-256, y = 255-256.
- Images up to FULL_RES_PIXELS are sent at full resolution, so zooming in the browser shows
  every pixel. Larger ones are block-averaged for the overview (hover then names the block
  centre) and `region` draws any window at full resolution.
- What the browser gets (small figures): each image as uint8 display levels 0..LEVELS, the cut and
  the stretch (log, sqrt, asinh) applied here, so the colour map is spread evenly over the levels;
  the colour bar's ticks sit at round values in the image's units (evenly spaced along the bar).
  The hover reads the image's own values from `customdata`, as int16 multiples of 10^E ("5234×10⁻⁴
  Jy/beam": 4-5 significant digits at the brightest pixel), or as float32 (4 significant digits)
  when that would leave the typical pixel fewer than 2 (`hover_exponent`). Pixel positions are sent
  as x0/dx, never as arrays; no array is float64. Exact values: the pixel readout (`readout`).
- With a celestial WCS the hover gives each pixel's offset from the image centre (in mas, or arcsec
  with float32 values), the centre itself in sexagesimal; the readout gives any pixel's RA/Dec in
  degrees and sexagesimal, and statistics of a box or circle (core.analysis.regions).
- Cuts: min-max, percentile clips, IRAF z-scale, or manual limits.
- The beam (BMAJ, BMIN, BPA, with the pixel scale) is drawn as an ellipse in the lower left;
  contours optionally on top.
- `blink_figure` shows two images of one grid in turn in the browser (animation frames that only
  switch which trace is visible; no server round trip).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import plotly.colors
import plotly.graph_objects as go

FULL_RES_PIXELS = 640 * 640  # images up to this many pixels are sent whole (a 600 x 600 ALMA disk)
OVERVIEW_SIDE = 320  # longest side of the block-averaged overview of larger images
CONTOUR_SIDE = 200  # contours are traced on a copy at most this large (the browser draws them)
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
# JSON writes each "/" as the six characters "\u002f".
LEVELS = 254
CONTOUR_LEVELS = 65535  # contours are traced on uint16 levels, linear in value between the cut's limits
COMPACT_MAX = 32767  # compact hover values: int16 q, value = q × 10^E
MIN_TYPICAL = 10  # compact only when the typical pixel keeps >= 2 significant digits (q >= 10)
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")




def _json_without_slash_escapes() -> None:
    """plotly.io.to_json (which st.plotly_chart calls) writes every "/" as "\\u002f", six characters, for
    HTML embedding; base64 image data is full of them (a third of the bytes of float32 values in
    [0.5, 1)). "<" and ">" stay escaped, which is what keeps "</script>" out of HTML; in Streamlit's
    messages the figure is plain JSON. Leave "/" as it is."""
    import plotly.io._json as plotly_json

    for name in ("_swap_json", "_swap_orjson"):
        swaps = getattr(plotly_json, name, None)
        if isinstance(swaps, tuple):
            setattr(plotly_json, name, tuple(pair for pair in swaps if pair[0] != "/"))


_json_without_slash_escapes()


@dataclass(frozen=True)
class View:
    """How to draw an image: stretch curve, cut (interval), colour map, contours, beam."""

    stretch: str = "linear"  # one of STRETCHES
    cut: str = "min–max"  # one of CUTS
    manual: tuple[float, float] | None = None  # (vmin, vmax) in the image's units when cut == "manual"
    colormap: str = "inferno"  # key of COLORMAPS
    contours: int = 0  # number of contour levels (0 = none)
    beam: bool = True  # draw the beam ellipse when the header gives one


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


def _fraction(values, limits: tuple[float, float], stretch: str) -> np.ndarray:
    """Where `values` sit along the colour bar, 0..1: cut, clip, then the stretch curve."""
    lo, hi = float(limits[0]), float(limits[1])
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t if stretch == "linear" else np.asarray(_curve(stretch)(t, clip=True), dtype=np.float64)


def display_levels(image: np.ndarray, limits: tuple[float, float], stretch: str = "linear") -> np.ndarray:
    """The image as uint8 levels 0..LEVELS: `limits` mapped to 0 and LEVELS through the stretch."""
    return np.rint(_fraction(image, limits, stretch) * LEVELS).astype(np.uint8)


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
    positions = (_fraction(values, limits, stretch) * LEVELS).astype(float).tolist()
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


def _power(exponent: int) -> str:
    return f"×10{str(exponent).translate(SUPERSCRIPT)}" if exponent else ""


def hover_value(data: np.ndarray, exponent: int | None, unit: str) -> tuple[np.ndarray, str]:
    """(customdata channel, hover text): float32 values read to 4 significant digits, or with
    `exponent` E int16 multiples of 10^E (the figure's trace `meta["scale"]` = 10^E)."""
    if exponent is None:
        return np.asarray(data, dtype=np.float32), f"value %{{customdata[0]:.4g}}{unit}"
    return (np.rint(np.asarray(data, dtype=np.float64) / 10.0**exponent).astype(np.int16),
            f"value %{{customdata[0]:d}}{_power(exponent)}{unit}")


# ------------------------------------------------------------------ geometry and the sky


def overview(image: np.ndarray, max_pixels: int = FULL_RES_PIXELS, side: int = OVERVIEW_SIDE):
    """(data, xs, ys, factor): the image itself when small enough, else block means with the
    original pixel coordinates of each block's centre."""
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    factor = 1 if h * w <= max_pixels else int(math.ceil(max(h, w) / side))
    if factor == 1:
        return image, np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64), 1
    hh, ww = (h // factor) * factor, (w // factor) * factor
    data = image[:hh, :ww].reshape(hh // factor, factor, ww // factor, factor).mean(axis=(1, 3))
    centre = (factor - 1) / 2
    return data, np.arange(ww // factor) * factor + centre, np.arange(hh // factor) * factor + centre, factor


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


def _axis_names(wcs) -> tuple[str, str]:
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
    names = _axis_names(wcs)
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


# ------------------------------------------------------------------ figures


def _where(factor: int) -> str:
    return "x %{x} px, y %{y} px" if factor == 1 else f"x %{{x:.1f}} px, y %{{y:.1f}} px (mean of {factor}×{factor})"


def _sky_hover(wcs, meta, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int],
               compact: bool) -> tuple[list[np.ndarray], str]:
    """The two customdata channels of each pixel's offset from the image centre, and their hover text:
    float32 arcsec, or `compact` int16 in mas (10^E arcsec when the image is wider than ±32.767″)."""
    east, north = sky_offsets(wcs, xs, ys, ((shape[1] - 1) / 2, (shape[0] - 1) / 2))
    names = _axis_names(wcs)
    centre = sky_position(wcs, (shape[1] - 1) / 2, (shape[0] - 1) / 2)
    degrees = "{} {:.6f}°, {} {:+.6f}°".format(names[0], centre["degrees"][0], names[1], centre["degrees"][1])
    anchor = centre["hmsdms"] if names[0] == "RA" and centre["hmsdms"] else degrees
    if compact:
        exponent = max(compact_exponent(float(max(np.abs(east).max(), np.abs(north).max()))), -3)
        unit = " mas" if exponent == -3 else f"{_power(exponent)}″"
        channels = [np.rint(a / 10.0**exponent).astype(np.int16) for a in (east, north)]
        fmt = "+d"
    else:
        scale = getattr(meta, "pixel_scale_arcsec", None) or 0.01
        unit, fmt = "″", f"+.{min(max(math.ceil(-math.log10(scale / 10)), 0), 4)}f"  # a tenth of a pixel
        channels = [a.astype(np.float32) for a in (east, north)]
    text = (f"<br>Δ{names[0]} %{{customdata[1]:{fmt}}}{unit}, Δ{names[1]} %{{customdata[2]:{fmt}}}{unit}"
            f" from the centre ({anchor})")
    return channels, text


def image_traces(image: np.ndarray, view: View = View(), *, meta=None, bunit: str | None = None,
                 coloraxis: str = "coloraxis", region: tuple[int, int, int, int] | None = None,
                 limits: tuple[float, float] | None = None,
                 exponent: int | None | str = "auto") -> tuple[list, tuple[float, float]]:
    """The heatmap (plus contour and beam traces) of one image and the cut limits used.

    `region` = (x0, x1, y0, y1) in original pixels (end exclusive) shows that window at full
    resolution; `limits` overrides the cut (panels that share one colour scale). Hover values are
    int16 multiples of 10^`exponent`, float32 when `exponent` is None; "auto" lets `hover_exponent`
    choose from this image. With a celestial WCS the hover adds the offset from the image centre.
    """
    image = np.asarray(image, dtype=np.float32)
    full_shape, x_off, y_off = image.shape, 0, 0
    if region is not None:
        x0, x1, y0, y1 = (int(v) for v in region)
        x0, y0 = max(x0, 0), max(y0, 0)
        image, x_off, y_off = image[y0:y1, x0:x1], x0, y0
    data, xs, ys, factor = overview(image)
    xs, ys = xs + x_off, ys + y_off
    vmin, vmax = limits if limits is not None else cut_limits(image, view.cut, view.manual)
    if isinstance(exponent, str):  # "auto": compact unless that loses the typical pixel
        exponent = hover_exponent([data])
    unit = f" {bunit}" if bunit else ""
    value, text = hover_value(data, exponent, unit)
    channels = [value]
    wcs = celestial(meta)
    if wcs is not None:
        sky, where = _sky_hover(wcs, meta, xs, ys, full_shape, compact=exponent is not None)
        channels += sky
        text += where
    heat = go.Heatmap(z=display_levels(data, (vmin, vmax), view.stretch), x0=float(xs[0]), dx=factor,
                      y0=float(ys[0]), dy=factor, customdata=np.stack(channels, axis=-1), coloraxis=coloraxis,
                      hovertemplate=f"{_where(factor)}<br>{text}<extra></extra>",
                      meta={"cut": [vmin, vmax], "scale": None if exponent is None else 10.0**exponent,
                            "unit": bunit or ""})
    traces = [heat]
    if view.contours:
        small, cx, cy, step = overview(image, max_pixels=CONTOUR_SIDE ** 2, side=CONTOUR_SIDE)
        size = CONTOUR_LEVELS / (view.contours + 1)  # levels evenly spaced in value inside the cut
        zc = np.rint(_fraction(small, (vmin, vmax), "linear") * CONTOUR_LEVELS).astype(np.uint16)
        traces.append(go.Contour(z=zc, x0=float(cx[0] + x_off), dx=step, y0=float(cy[0] + y_off), dy=step,
                                 showscale=False, hoverinfo="skip", name="contours",
                                 contours={"coloring": "none", "start": size, "end": size * view.contours, "size": size},
                                 line={"color": "rgba(255,255,255,0.8)", "width": 1}))
    if view.beam and meta is not None and region is None:
        outline = beam_outline(getattr(meta, "beam", None), getattr(meta, "pixel_scale_arcsec", None), image.shape)
        if outline is not None:
            bmaj, bmin, bpa = meta.beam
            traces.append(go.Scatter(x=outline[0], y=outline[1], mode="lines", fill="toself", name="beam",
                                     line={"color": "white", "width": 1.5}, fillcolor="rgba(255,255,255,0.35)",
                                     hovertemplate=f"beam {bmaj:.3g}″ × {bmin:.3g}″, PA {bpa:.0f}°<extra></extra>",
                                     showlegend=False))
    return traces, (vmin, vmax)


def residual_trace(residual: np.ndarray, *, unit: str = "Δ", coloraxis: str | None = None) -> tuple[go.Heatmap, float]:
    """A signed image on levels symmetric about zero (LEVELS / 2 = 0), and its limit |max|."""
    data, xs, ys, factor = overview(residual)
    limit = float(np.max(np.abs(data))) or 1.0
    exponent = hover_exponent([data])
    value, text = hover_value(data, exponent, f" {unit}" if unit else "")
    heat = go.Heatmap(z=signed_levels(data, limit), x0=float(xs[0]), dx=factor, y0=float(ys[0]), dy=factor,
                      customdata=value[..., None], hovertemplate=f"{_where(factor)}<br>{text}<extra></extra>",
                      meta={"cut": [-limit, limit], "scale": None if exponent is None else 10.0**exponent,
                            "unit": unit})
    if coloraxis:
        heat.coloraxis = coloraxis
    return heat, limit


def _pixel_axes(n: int, spacing: float = 0.03) -> dict:
    """Layout entries of `n` side-by-side pixel-axis panels (shared axes, square pixels), built as one dict:
    plotly's make_subplots and per-axis update calls cost several times the whole figure otherwise."""
    common = {"tickformat": "d", "showgrid": False, "zeroline": False, "constrain": "domain", "ticks": "outside",
              "automargin": True}  # room for the tick labels under a single image (its bottom margin is 10 px)
    width = (1.0 - spacing * (n - 1)) / n
    layout = {}
    for i in range(n):
        suffix = "" if i == 0 else str(i + 1)
        x, y = {**common, "title": {"text": "x (px)"}}, {**common}
        if n > 1:
            x0 = i * (width + spacing)
            x.update(anchor=f"y{suffix}", domain=[x0, x0 + width])
            y.update(anchor=f"x{suffix}", domain=[0.0, 1.0])
        if i:  # linked panels: zoom and pan together, tick labels on the first panel only
            x["matches"], y["matches"] = "x", "y"
            y.update(showticklabels=False, title={"text": ""})
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = x, y
    layout["yaxis"].update(scaleanchor="x", title={"text": "y (px)"})  # square pixels; linked panels follow through `matches`
    return layout


def _panel_titles(titles: Sequence[str], spacing: float = 0.03) -> list[dict]:
    n = len(titles)
    width = (1.0 - spacing * (n - 1)) / n
    return [{"text": t, "x": i * (width + spacing) + width / 2, "y": 1.0, "xref": "paper", "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}}
            for i, t in enumerate(titles)]


def add_box(fig: go.Figure, box: tuple[int, int, int, int], label: str = "cutout") -> None:
    """Outline `box` = (row0, row1, col0, col1) (input pixels, half-open, as core.data.cutout gives it)
    on the image's pixel axes, with `label` at its upper left corner."""
    r0, r1, c0, c1 = (int(v) for v in box)
    x0, x1, y0, y1 = c0 - 0.5, c1 - 0.5, r0 - 0.5, r1 - 0.5  # pixel edges: pixel i spans i - 0.5 .. i + 0.5
    fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, name=label, xref="x", yref="y",
                  line={"color": "#00e5ff", "width": 2, "dash": "dash"})
    fig.add_annotation(x=x0, y=y1, text=label, showarrow=False, xanchor="left", yanchor="bottom",
                       font={"color": "#00e5ff", "size": 12})


def add_region(fig: go.Figure, region) -> None:
    """Outline a core.analysis.regions.Region (box or circle) on the first panel."""
    fig.add_shape(**region.outline(), name="region", xref="x", yref="y",
                  line={"color": "#7CFC00", "width": 2, "dash": "dot"})


def _single_layout(height: int, title: str) -> dict:
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
              "showlegend": False, **_pixel_axes(1)}
    if title:
        layout["title"] = {"text": title}
    return layout


def view_figure(image: np.ndarray, view: View = View(), *, meta=None, title: str = "", bunit: str | None = None,
                height: int = 420, region: tuple[int, int, int, int] | None = None,
                limits: tuple[float, float] | None = None, box: tuple[int, int, int, int] | None = None,
                box_label: str = "cutout") -> go.Figure:
    """One image with its colour bar (in `bunit`), hover in original pixels with the values to 4
    significant digits (and the sky offset with a WCS); `box` (row0, row1, col0, col1) is outlined,
    e.g. the cutout a disk model sees."""
    traces, lims = image_traces(image, view, meta=meta, bunit=bunit, region=region, limits=limits)
    traces[0].update(coloraxis=None, colorscale=colour_scale(view.colormap), zmin=0, zmax=LEVELS,
                     colorbar=colour_bar(lims, view.stretch, bunit or "value"))  # one image: the bar on the trace
    fig = go.Figure(traces, _single_layout(height, title))
    if box is not None:
        add_box(fig, box, box_label)
    return fig


def residual_figure(residual: np.ndarray, *, title: str = "", height: int = 300, unit: str = "Δ") -> go.Figure:
    """A residual on a diverging colour map symmetric about 0, hover in original pixels."""
    heat, limit = residual_trace(residual, unit=unit)
    heat.update(colorscale=RESIDUAL_COLORMAP, zmin=0, zmax=LEVELS,
                colorbar=signed_colour_bar(limit, unit, n=4) | {"title": {"text": unit, "side": "bottom"}})
    return go.Figure(heat, _single_layout(height, title))


def linked_figure(panels: Sequence[tuple[np.ndarray, str]], view: View = View(), *,
                  residual: tuple[np.ndarray, str] | None = None, bunit: str | None = None,
                  residual_unit: str = "Δ", meta=None, height: int = 400,
                  limits: tuple[float, float] | None = None) -> go.Figure:
    """Images side by side that zoom and pan together (shared axes): `panels` on one colour
    scale (the first panel's cut) with one colour bar, then an optional signed `residual` on a
    diverging scale symmetric about zero. Colour bars sit under their panels, horizontal. Hover
    values are compact (int16, one power of ten for the panels, another for the residual)."""
    n = len(panels) + (residual is not None)
    titles = [t for _, t in panels] + ([residual[1]] if residual is not None else [])
    lims = limits if limits is not None else cut_limits(panels[0][0], view.cut, view.manual)
    exponent = hover_exponent([image for image, _ in panels])  # one power of ten for the panels
    data = []
    for i, (image, _) in enumerate(panels):
        traces, _ = image_traces(image, view, meta=meta, bunit=bunit, limits=lims, exponent=exponent)
        for trace in traces:
            trace.update(xaxis=f"x{i + 1 if i else ''}", yaxis=f"y{i + 1 if i else ''}")
        data += traces
    share = len(panels) / n
    bar = {"orientation": "h", "y": -0.2, "yanchor": "top", "thickness": 10, "len": share * 0.9,
           "x": share / 2, "xanchor": "center", "tickangle": 0}  # below the x-axis titles, labels never slanted
    layout = {"coloraxis": {"colorscale": colour_scale(view.colormap), "cmin": 0, "cmax": LEVELS,
                            "colorbar": colour_bar(lims, view.stretch, bunit or "value", **bar)}}
    if residual is not None:
        heat, limit = residual_trace(residual[0], unit=residual_unit, coloraxis="coloraxis2")
        heat.update(xaxis=f"x{n}", yaxis=f"y{n}")
        data.append(heat)
        layout["coloraxis2"] = {"colorscale": RESIDUAL_COLORMAP, "cmin": 0, "cmax": LEVELS,
                                "colorbar": signed_colour_bar(limit, residual_unit, **{**bar, "len": 0.9 / n, "x": 1 - 0.5 / n})}
        layout["coloraxis2"]["colorbar"]["title"]["side"] = "bottom"
    layout["coloraxis"]["colorbar"]["title"]["side"] = "bottom"
    layout.update(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 110}, showlegend=False,
                  annotations=_panel_titles(titles), **_pixel_axes(n))
    return go.Figure(data, layout)


def blink_figure(first: np.ndarray, second: np.ndarray, view: View = View(), *, names: tuple[str, str],
                 bunits: tuple[str | None, str | None] = (None, None), metas: tuple = (None, None),
                 height: int = 480, shared: bool = False,
                 region: tuple[int, int, int, int] | None = None) -> go.Figure:
    """Two images of one pixel grid in one place, shown in turn by the browser (no server round trip):
    "▶ Blink" plays them alternately, the name buttons show one. Each keeps its own cut unless `shared`
    (the first one's). Both images are sent once; the animation frames only switch which one shows."""
    if np.shape(first) != np.shape(second):
        raise ValueError(f"Blinking needs two images of one size; these are {np.shape(first)} and {np.shape(second)} px.")
    view = replace(view, contours=0)  # a contour of one image over the other would mislead
    a, lims = image_traces(first, view, meta=metas[0], bunit=bunits[0], region=region)
    b, _ = image_traces(second, view, meta=metas[1], bunit=bunits[1], region=region, coloraxis="coloraxis2",
                        limits=lims if shared else None)
    b_lims = tuple(b[0].meta["cut"])
    b[0].visible = False
    layout = _single_layout(height, "") | {"title": {"text": names[0], "x": 0.01, "xanchor": "left"},
        "coloraxis": {"colorscale": colour_scale(view.colormap), "cmin": 0, "cmax": LEVELS,
                      "colorbar": colour_bar(lims, view.stretch, bunits[0] or "value")},
        "coloraxis2": {"colorscale": colour_scale(view.colormap), "cmin": 0, "cmax": LEVELS, "showscale": False,
                       "colorbar": colour_bar(b_lims, view.stretch, bunits[1] or "value")}}

    def shows(which: int) -> dict:  # what a frame changes: the visible image, its colour bar, the title
        return {"name": "ab"[which], "traces": [0, 1],  # the type, or plotly.py makes them scatter traces
                "data": [{"type": "heatmap", "visible": which == 0}, {"type": "heatmap", "visible": which == 1}],
                "layout": {"coloraxis": {"showscale": which == 0}, "coloraxis2": {"showscale": which == 1},
                           "title": {"text": names[which]}}}

    step = {"frame": {"duration": 700, "redraw": True}, "transition": {"duration": 0}, "mode": "immediate"}
    buttons = [{"label": "▶ Blink", "method": "animate", "args": [["b", "a"] * 30, step]},
               {"label": "■ Stop", "method": "animate", "args": [[None], {**step, "frame": {"duration": 0, "redraw": False}}]},
               {"label": names[0], "method": "animate", "args": [["a"], step]},
               {"label": names[1], "method": "animate", "args": [["b"], step]}]
    layout["updatemenus"] = [{"type": "buttons", "direction": "left", "showactive": False, "x": 1, "xanchor": "right",
                              "y": 1.0, "yanchor": "bottom", "pad": {"b": 4}, "buttons": buttons}]
    layout["margin"]["t"] = 70
    return go.Figure(a[:1] + b[:1] + a[1:], layout, frames=[shows(0), shows(1)])


# ------------------------------------------------------------------ Streamlit controls


def controls(key: str, image: np.ndarray | None = None, *, contours: bool = True) -> View:
    """The display settings (stretch, cut, manual limits, colour map, contours) in one compact row. Labels,
    choices and bounds are ui.state.SETTINGS' (the Reconstruct page's specs, which a shared link is checked
    against), so the widgets and the links cannot drift apart."""
    import streamlit as st

    from ui.state import SETTINGS

    stretch_spec, cut_spec, cmap_spec, levels_spec = (SETTINGS[f"recon_{n}"] for n in ("stretch", "cut", "cmap", "contours"))
    a, b, c, d = st.columns(4)  # selects, not buttons: the row fits a narrow column (the Data page's) unclipped
    stretch = a.selectbox(stretch_spec.label, stretch_spec.choices(), key=f"{key}_stretch",
                          help="The colour scale's curve: log, sqrt and asinh lift faint emission.")
    cut = b.selectbox(cut_spec.label, cut_spec.choices(), key=f"{key}_cut",
                      help="The value range the colours span: all, a central percentile, IRAF z-scale or your own.")
    colormap = c.selectbox(cmap_spec.label, cmap_spec.choices(), key=f"{key}_cmap")
    levels = d.number_input(levels_spec.label, **levels_spec.bounds(), key=f"{key}_contours",
                            help="Levels, evenly spaced inside the cut.") if contours else 0
    manual = None
    if cut == "manual":
        lo, hi = cut_limits(image, "min–max") if image is not None else (0.0, 1.0)
        m1, m2 = st.columns(2)
        manual = (m1.number_input("Lower limit", value=lo, format="%.4g", key=f"{key}_vmin"),
                  m2.number_input("Upper limit", value=hi, format="%.4g", key=f"{key}_vmax"))
    return View(stretch=stretch, cut=cut, manual=manual, colormap=colormap, contours=int(levels))


def region_controls(key: str, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """For an image larger than FULL_RES_PIXELS: a window (x0, x1, y0, y1) to draw at full resolution, or None."""
    import streamlit as st

    h, w = shape
    if h * w <= FULL_RES_PIXELS:
        return None
    if not st.toggle(f"Full resolution of a region (the overview averages {math.ceil(max(h, w) / OVERVIEW_SIDE)}² "
                     "pixels per point)", key=f"{key}_region"):
        return None
    a, b, c = st.columns(3)
    size = a.slider("Window (px)", 32, min(h, w, 640), min(h, w, 256), key=f"{key}_rsize")
    cx = b.slider("Centre x (px)", 0, w - 1, w // 2, key=f"{key}_rx")
    cy = c.slider("Centre y (px)", 0, h - 1, h // 2, key=f"{key}_ry")
    x0, y0 = min(max(cx - size // 2, 0), w - size), min(max(cy - size // 2, 0), h - size)
    return x0, x0 + size, y0, y0 + size


def _forget_outside(key: str, low: int, high: int) -> None:
    """Drop a number input's kept value that the current image's bounds no longer allow (another image)."""
    import streamlit as st

    value = st.session_state.get(key)
    if value is not None and not low <= value <= high:
        del st.session_state[key]


def pixel_line(image: np.ndarray, x: int, y: int, *, meta=None, bunit: str | None = None) -> str:
    """One line: the pixel's value, and with a celestial WCS its RA/Dec in degrees and sexagesimal."""
    parts = [f"Pixel ({x}, {y}): {float(image[y, x]):.6g}{f' {bunit}' if bunit else ''}"]
    wcs = celestial(meta)
    if wcs is not None:
        pos = sky_position(wcs, x, y)
        (lon_name, lat_name), (lon, lat) = pos["names"], pos["degrees"]
        parts.append(f"{lon_name} {lon:.7f}°, {lat_name} {lat:+.7f}°")
        if pos["hmsdms"]:
            parts.append(pos["hmsdms"])
    return " · ".join(parts)


def stats_rows(stats: dict, bunit: str | None) -> list[tuple[str, str]]:
    """core.analysis.regions.region_stats as table rows."""
    unit = f" {bunit}" if bunit else ""
    rows = [("pixels", f"{stats['n']:,}")]
    rows += [(name, f"{stats[name]:.6g}{unit}") for name in ("sum", "mean", "std", "min", "max")]
    rows.append(("peak at (x, y)", "({}, {})".format(*stats["peak"])))
    if stats["flux_jy"] is not None:
        rows.append(("flux density (sum / beam area)", f"{stats['flux_jy']:.6g} Jy"))
        rows.append(("beam area", f"{stats['beam_pixels']:.4g} px"))
    return rows


def readout(key: str, image: np.ndarray, *, meta=None, bunit: str | None = None):
    """An expander: one pixel's value and sky position (degrees and sexagesimal), and the statistics of a
    box or circle centred on it (core.analysis.regions). Returns the region to outline on the image, or None."""
    import streamlit as st

    from core.analysis.regions import SHAPES, Region, region_stats
    from ui.markdown import markdown_table, md_escape

    data = np.asarray(image, dtype=np.float32)
    h, w = data.shape
    peak_y, peak_x = np.unravel_index(int(np.argmax(data)), data.shape)
    keys = [f"{key}_{name}" for name in ("px", "py", "pshape", "psize")]
    for k, high in ((keys[0], w - 1), (keys[1], h - 1), (keys[3], max(h, w))):
        _forget_outside(k, 0 if k != keys[3] else 1, high)
    with st.expander("Pixel readout and region statistics"):
        a, b, c, d = st.columns(4)
        x = a.number_input("Pixel x", 0, w - 1, int(peak_x), key=keys[0], help="0-based, as the axes; starts at the brightest pixel.")
        y = b.number_input("Pixel y", 0, h - 1, int(peak_y), key=keys[1])
        shape = c.selectbox("Region around it", ("none", *SHAPES), key=keys[2],
                            help="A box (its side) or a circle (its radius) centred on the pixel, outlined on the image.")
        size = d.number_input("Side / radius (px)", 1, max(h, w), min(9, max(h, w)), key=keys[3])
        st.markdown(md_escape(pixel_line(data, int(x), int(y), meta=meta, bunit=bunit)))
        if shape == "none":
            return None
        region = Region(shape, float(x), float(y), float(size))
        try:
            stats = region_stats(data, region, bunit=bunit, beam=getattr(meta, "beam", None),
                                 pixel_scale_arcsec=getattr(meta, "pixel_scale_arcsec", None))
        except ValueError as exc:
            st.caption(str(exc))
            return region
        st.markdown(markdown_table(stats_rows(stats, bunit), ("region statistics", "value")))
        if stats["flux_note"]:
            st.caption(stats["flux_note"][0].upper() + stats["flux_note"][1:] + ".")
    return region


def blink_partner(key: str, image: np.ndarray) -> tuple | None:
    """An expander offering the image list's other images of the same size to blink with:
    (data, name, meta, shared colour scale) of the one chosen, or None."""
    import streamlit as st

    from ui import image_list

    shape = np.shape(image)
    others = [e for e in image_list.image_list() if e.loaded.data.shape == shape and e.loaded.data is not image
              and not np.array_equal(e.loaded.data, image)]
    with st.expander("Blink with another image"):
        if not others:
            st.caption(f"No other image of {shape[0]} × {shape[1]} px in the image list (sidebar): blinking needs "
                       "two images of one size.")
            return None
        on = st.toggle("Blink", key=f"{key}_blink", help="Both images go to the browser once: ▶ Blink above the image "
                       "shows them in turn, their names show one of them.")
        names = [e.name for e in others]
        choice = st.selectbox("With", names, key=f"{key}_blink_with", disabled=not on)
        shared = st.checkbox("One colour scale (this image's cut)", key=f"{key}_blink_shared", disabled=not on)
    if not on:
        return None
    entry = others[names.index(choice)]
    return entry.loaded.data, entry.name, entry.loaded.meta, shared


def show(image: np.ndarray, *, key: str, meta=None, bunit: str | None = None, title: str = "",
         height: int = 480, box: tuple[int, int, int, int] | None = None, box_label: str = "cutout") -> View:
    """Controls, then the image (a region at full resolution when asked) with `box` outlined, then the pixel
    readout with region statistics and the blink choice (both under the image); returns the settings."""
    import streamlit as st

    view = controls(key, image)
    region = region_controls(key, np.shape(image))
    chart = st.container()  # drawn last: the readout's region is outlined on it
    outline = readout(key, image, meta=meta, bunit=bunit)
    partner = blink_partner(key, image)
    if partner is None:
        fig = view_figure(image, view, meta=meta, bunit=bunit, title=title, height=height, region=region,
                          box=box, box_label=box_label)
    else:
        other, other_name, other_meta, shared = partner
        name = title or getattr(meta, "filename", "") or "this image"
        fig = blink_figure(image, other, view, names=(name, other_name), bunits=(bunit, getattr(other_meta, "bunit", None)),
                           metas=(meta, other_meta), height=height, shared=shared, region=region)
        if box is not None:
            add_box(fig, box, box_label)
    if outline is not None:
        add_region(fig, outline)
    chart.plotly_chart(fig, key=f"{key}_fig", config={"displaylogo": False, "scrollZoom": True})
    return view
