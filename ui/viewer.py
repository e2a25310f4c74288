"""The image viewer: true pixel coordinates, RA/Dec, cuts, stretches, colour maps, beam, contours.

Every image the app shows goes through `view_figure` (one image) or `linked_figure` (panels
that zoom and pan together, e.g. original | reconstruction | residual). Conventions:
- Axes are the image's own pixel indices, 0-based, (0, 0) at the lower left as FITS viewers
  draw it; hovering the centre of a 512 x 512 image reads x = 255-256, y = 255-256.
- Images up to FULL_RES_PIXELS are sent at full resolution, so zooming in the browser shows
  every pixel. Larger ones are block-averaged for the overview (hover then names the block
  centre) and `region` draws any window at full resolution.
- The plotted values are the image's own values (hover and colour bar in its units); the
  stretch (log, sqrt, asinh) is applied to the colour scale instead, so the colour bar's
  ticks are evenly spaced numbers in one format and never overlap.
- Cuts: min-max, percentile clips, IRAF z-scale, or manual limits.
- The beam (BMAJ, BMIN, BPA, with the pixel scale) is drawn as an ellipse in the lower left;
  contours optionally on top.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

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
STOPS = 48  # colour-scale stops that carry the stretch


@dataclass(frozen=True)
class View:
    """How to draw an image: stretch curve, cut (interval), colour map, contours, beam."""

    stretch: str = "linear"  # one of STRETCHES
    cut: str = "min–max"  # one of CUTS
    manual: tuple[float, float] | None = None  # (vmin, vmax) in the image's units when cut == "manual"
    colormap: str = "inferno"  # key of COLORMAPS
    contours: int = 0  # number of contour levels (0 = none)
    beam: bool = True  # draw the beam ellipse when the header gives one


# ------------------------------------------------------------------ values and colours


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


def _safe_colour(colour: str) -> str:
    # Streamlit's front end swaps the exact colours of plotly's placeholder palette (e.g. Inferno's
    # first, "#000004" / "rgb(0, 0, 4)") for theme colours: nudge them by one step.
    return {"#000004": "#010005", "rgb(0, 0, 4)": "rgb(1, 0, 5)"}.get(colour, colour)


def stretched_colorscale(colormap: str, stretch: str, n: int = STOPS) -> list[list]:
    """A plotly colour scale over the linear value range whose colours follow `stretch`.

    Stop i sits at the value fraction where the stretch reaches i/(n-1) and carries the colour
    map's colour for i/(n-1): colours are exact at the stops and interpolated in between.
    """
    if colormap not in COLORMAPS:
        raise ValueError(f"Unknown colour map {colormap!r}; choose one of {', '.join(COLORMAPS)}.")
    t = np.linspace(0.0, 1.0, n if stretch != "linear" else 12)
    positions = np.clip(np.asarray(_curve(stretch).inverse(t), dtype=np.float64), 0.0, 1.0)
    positions[0], positions[-1] = 0.0, 1.0
    positions = np.maximum.accumulate(positions)
    colours = plotly.colors.sample_colorscale(plotly.colors.make_colorscale(COLORMAPS[colormap]), t.tolist())
    return [[float(p), _safe_colour(c)] for p, c in zip(positions, colours, strict=True)]


def number_format(lo: float, hi: float) -> str:
    """One d3 number format for every tick between lo and hi: fixed decimals, or exponent notation."""
    top = max(abs(lo), abs(hi))
    span = abs(hi - lo) or top or 1.0
    if top == 0 or 1e-2 <= top < 1e5:
        decimals = min(max(0, -math.floor(math.log10(span / 5))), 4)
        return f",.{decimals}f"
    return ".1e"


# ------------------------------------------------------------------ geometry


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


def sky_grid(cards, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(RA, Dec) in degrees (len(ys), len(xs)) of 0-based pixel positions, or None without a celestial WCS."""
    from core.io.meta import celestial_wcs

    header = header_of(cards)
    wcs = celestial_wcs(header) if header is not None else None
    if wcs is None:
        return None
    gx, gy = np.meshgrid(xs, ys)
    ra, dec = wcs.wcs_pix2world(gx, gy, 0)  # origin 0: numpy indices
    return np.asarray(ra), np.asarray(dec)


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
    return pts[0], pts[1]


# ------------------------------------------------------------------ figures


def _hovertemplate(unit: str, factor: int, sky: bool) -> str:
    where = "x %{x} px, y %{y} px" if factor == 1 else f"x %{{x:.1f}} px, y %{{y:.1f}} px (mean of {factor}×{factor})"
    text = f"{where}<br>value %{{z:.4g}}{unit}"
    if sky:
        text += "<br>RA %{customdata[0]:.6f}°, Dec %{customdata[1]:.6f}°"
    return text + "<extra></extra>"


def image_traces(image: np.ndarray, view: View = View(), *, meta=None, bunit: str | None = None,
                 coloraxis: str = "coloraxis", region: tuple[int, int, int, int] | None = None,
                 limits: tuple[float, float] | None = None) -> tuple[list, tuple[float, float]]:
    """The heatmap (plus contour and beam traces) of one image and the cut limits used.

    `region` = (x0, x1, y0, y1) in original pixels (end exclusive) shows that window at full
    resolution; `limits` overrides the cut (panels that share one colour scale).
    """
    image = np.asarray(image, dtype=np.float32)
    x_off = y_off = 0
    if region is not None:
        x0, x1, y0, y1 = (int(v) for v in region)
        x0, y0 = max(x0, 0), max(y0, 0)
        image, x_off, y_off = image[y0:y1, x0:x1], x0, y0
    data, xs, ys, factor = overview(image)
    xs, ys = xs + x_off, ys + y_off
    vmin, vmax = limits if limits is not None else cut_limits(image, view.cut, view.manual)
    cards = getattr(meta, "header", None) if meta is not None and getattr(meta, "has_wcs", False) else None
    sky = sky_grid(cards, xs, ys) if cards else None
    unit = f" {bunit}" if bunit else ""
    heat = go.Heatmap(z=data, x=xs, y=ys, coloraxis=coloraxis, hovertemplate=_hovertemplate(unit, factor, sky is not None))
    if sky is not None:
        heat.customdata = np.stack(sky, axis=-1).astype(np.float64)
    traces = [heat]
    if view.contours:
        small, cx, cy, _ = overview(image, max_pixels=CONTOUR_SIDE ** 2, side=CONTOUR_SIDE)
        traces.append(go.Contour(z=small, x=cx + x_off, y=cy + y_off, showscale=False, hoverinfo="skip",
                                 contours={"coloring": "none", "start": vmin + (vmax - vmin) / (view.contours + 1),
                                           "end": vmax, "size": (vmax - vmin) / (view.contours + 1)},
                                 line={"color": "rgba(255,255,255,0.8)", "width": 1}, name="contours"))
    if view.beam and meta is not None and region is None:
        outline = beam_outline(getattr(meta, "beam", None), getattr(meta, "pixel_scale_arcsec", None), image.shape)
        if outline is not None:
            bmaj, bmin, bpa = meta.beam
            traces.append(go.Scatter(x=outline[0], y=outline[1], mode="lines", fill="toself", name="beam",
                                     line={"color": "white", "width": 1.5}, fillcolor="rgba(255,255,255,0.35)",
                                     hovertemplate=f"beam {bmaj:.3g}″ × {bmin:.3g}″, PA {bpa:.0f}°<extra></extra>",
                                     showlegend=False))
    return traces, (vmin, vmax)


def _coloraxis(view: View, limits: tuple[float, float], title: str, **colorbar) -> dict:
    return {"colorscale": stretched_colorscale(view.colormap, view.stretch), "cmin": limits[0], "cmax": limits[1],
            "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12, "nticks": 6,
                         "tickformat": number_format(*limits), **colorbar}}


def _pixel_axes(n: int, spacing: float = 0.03) -> dict:
    """Layout entries of `n` side-by-side pixel-axis panels (shared axes, square pixels), built as one dict:
    plotly's make_subplots and per-axis update calls cost several times the whole figure otherwise."""
    common = {"tickformat": "d", "showgrid": False, "zeroline": False, "constrain": "domain", "ticks": "outside"}
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


def view_figure(image: np.ndarray, view: View = View(), *, meta=None, title: str = "", bunit: str | None = None,
                height: int = 420, region: tuple[int, int, int, int] | None = None,
                limits: tuple[float, float] | None = None, box: tuple[int, int, int, int] | None = None,
                box_label: str = "cutout") -> go.Figure:
    """One image with its colour bar (in `bunit`), hover in original pixels (and RA/Dec with a WCS);
    `box` (row0, row1, col0, col1) is outlined, e.g. the cutout a disk model sees."""
    traces, lims = image_traces(image, view, meta=meta, bunit=bunit, region=region, limits=limits)
    colour = _coloraxis(view, lims, bunit or "value")  # on the trace itself: one image, one colour bar
    traces[0].update(coloraxis=None, colorscale=colour["colorscale"], zmin=lims[0], zmax=lims[1],
                     colorbar=colour["colorbar"])
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
              "showlegend": False, **_pixel_axes(1)}
    if title:
        layout["title"] = {"text": title}
    fig = go.Figure(traces, layout)
    if box is not None:
        add_box(fig, box, box_label)
    return fig


def residual_figure(residual: np.ndarray, *, title: str = "", height: int = 300, unit: str = "Δ") -> go.Figure:
    """A residual on a diverging colour map symmetric about 0, hover in original pixels."""
    limit = float(np.nanmax(np.abs(residual))) or 1.0
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, **_pixel_axes(1)}
    if title:
        layout["title"] = {"text": title}
    return go.Figure(go.Heatmap(z=residual, colorscale=RESIDUAL_COLORMAP, zmin=-limit, zmax=limit,
                                colorbar={"title": {"text": unit, "side": "bottom"},
                                          "tickformat": number_format(-limit, limit)},
                                hovertemplate="x %{x}, y %{y}<br>%{z:.4g}<extra></extra>"), layout)


def linked_figure(panels: Sequence[tuple[np.ndarray, str]], view: View = View(), *,
                  residual: tuple[np.ndarray, str] | None = None, bunit: str | None = None,
                  residual_unit: str = "Δ", meta=None, height: int = 400,
                  limits: tuple[float, float] | None = None) -> go.Figure:
    """Images side by side that zoom and pan together (shared axes): `panels` on one colour
    scale (the first panel's cut), then an optional signed `residual` on a diverging scale
    symmetric about zero. Colour bars sit under their panels, horizontal."""
    n = len(panels) + (residual is not None)
    titles = [t for _, t in panels] + ([residual[1]] if residual is not None else [])
    lims = limits if limits is not None else cut_limits(panels[0][0], view.cut, view.manual)
    data = []
    for i, (image, _) in enumerate(panels):
        traces, _ = image_traces(image, view, meta=meta, bunit=bunit, limits=lims)
        for trace in traces:
            trace.update(xaxis=f"x{i + 1 if i else ''}", yaxis=f"y{i + 1 if i else ''}")
        data += traces
    share = len(panels) / n
    bar = {"orientation": "h", "y": -0.2, "yanchor": "top", "thickness": 10, "len": share * 0.9,
           "x": share / 2, "xanchor": "center", "tickangle": 0}  # below the x-axis titles, labels never slanted
    layout = {"coloraxis": _coloraxis(view, lims, bunit or "value", **bar)}
    if residual is not None:
        limit = float(np.max(np.abs(residual[0]))) or 1.0
        traces, _ = image_traces(residual[0], View(contours=0, beam=False), bunit=residual_unit,
                                 coloraxis="coloraxis2", limits=(-limit, limit))
        traces[0].update(xaxis=f"x{n}", yaxis=f"y{n}")
        data.append(traces[0])
        short = number_format(-limit, limit).replace(".1e", ".0e")  # a narrow bar: "-5e-07", not "-5.0e-07"
        layout["coloraxis2"] = {"colorscale": RESIDUAL_COLORMAP, "cmin": -limit, "cmax": limit,
                                "colorbar": {**bar, "len": 0.9 / n, "x": 1 - 0.5 / n, "nticks": 3,
                                             "tickformat": short, "title": {"text": residual_unit, "side": "bottom"}}}
    layout["coloraxis"]["colorbar"]["title"]["side"] = "bottom"
    layout.update(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 110}, showlegend=False,
                  annotations=_panel_titles(titles), **_pixel_axes(n))
    return go.Figure(data, layout)


# ------------------------------------------------------------------ Streamlit controls


def controls(key: str, image: np.ndarray | None = None, *, contours: bool = True) -> View:
    """The display settings (stretch, cut, manual limits, colour map, contours) in one compact row."""
    import streamlit as st

    a, b, c, d = st.columns(4)  # selects, not buttons: the row fits a narrow column (the Data page's) unclipped
    stretch = a.selectbox("Stretch", STRETCHES, key=f"{key}_stretch",
                          help="The colour scale's curve: log, sqrt and asinh lift faint emission.")
    cut = b.selectbox("Cut", CUTS, key=f"{key}_cut",
                      help="The value range the colours span: all, a central percentile, IRAF z-scale or your own.")
    colormap = c.selectbox("Colour map", list(COLORMAPS), key=f"{key}_cmap")
    levels = d.number_input("Contours", 0, 12, 0, key=f"{key}_contours", help="Levels, evenly spaced inside the cut.") \
        if contours else 0
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


def show(image: np.ndarray, *, key: str, meta=None, bunit: str | None = None, title: str = "",
         height: int = 480, box: tuple[int, int, int, int] | None = None, box_label: str = "cutout") -> View:
    """Controls, then the image (a region at full resolution when asked) with `box` outlined; returns the settings."""
    import streamlit as st

    view = controls(key, image)
    region = region_controls(key, np.shape(image))
    st.plotly_chart(view_figure(image, view, meta=meta, bunit=bunit, title=title, height=height, region=region,
                                box=box, box_label=box_label),
                    key=f"{key}_fig", config={"displaylogo": False, "scrollZoom": True})
    return view
