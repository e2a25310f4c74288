"""Plotly figures of astronomical images: `view_figure` (one image), `linked_figure` (panels that zoom
and pan together, e.g. original | reconstruction | residual) and `residual_figure`; blinking two images
is ui/blink.py, the Streamlit viewer around them ui/viewer.py. Conventions:
- Axes are the image's own pixel indices, 0-based, (0, 0) at the lower left as FITS viewers
  draw it; hovering the centre of a 512 x 512 image reads x = 255-256, y = 255-256.
- Images up to FULL_RES_PIXELS are sent at full resolution, so zooming in the browser shows
  every pixel. Larger ones are block-averaged for the overview (hover then names the block
  centre) and `region` draws any window at full resolution.
- Each image is sent as uint8 display levels with its colour bar and compact hover values
  (ui/image_encoding.py). Pixel positions are sent as x0/dx, never as arrays; no array is float64.
- With a celestial WCS (ui/image_wcs.py) the hover gives each pixel's offset from the image centre
  (in mas, or arcsec with float32 values), the centre itself in sexagesimal.
- The beam (BMAJ, BMIN, BPA, with the pixel scale) is drawn as an ellipse in the lower left;
  contours optionally on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ui.image_encoding import (
    CONTOUR_LEVELS,
    LEVELS,
    RESIDUAL_COLORMAP,
    bar_fraction,
    colour_bar,
    colour_scale,
    compact_exponent,
    cut_limits,
    display_levels,
    hover_exponent,
    hover_value,
    power_text,
    signed_colour_bar,
    signed_levels,
)
from ui.image_wcs import axis_names, beam_outline, celestial, sky_offsets, sky_position

FULL_RES_PIXELS = 640 * 640  # images up to this many pixels are sent whole (a 600 x 600 ALMA disk)
OVERVIEW_SIDE = 320  # longest side of the block-averaged overview of larger images
CONTOUR_SIDE = 200  # contours are traced on a copy at most this large (the browser draws them)


@dataclass(frozen=True)
class View:
    """How to draw an image: stretch curve, cut (interval), colour map, contours, beam."""

    stretch: str = "linear"  # one of STRETCHES
    cut: str = "min–max"  # one of CUTS
    manual: tuple[float, float] | None = None  # (vmin, vmax) in the image's units when cut == "manual"
    colormap: str = "inferno"  # key of COLORMAPS
    contours: int = 0  # number of contour levels (0 = none)
    beam: bool = True  # draw the beam ellipse when the header gives one


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




def _where(factor: int) -> str:
    return "x %{x} px, y %{y} px" if factor == 1 else f"x %{{x:.1f}} px, y %{{y:.1f}} px (mean of {factor}×{factor})"


def _sky_hover(wcs, meta, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int],
               compact: bool) -> tuple[list[np.ndarray], str]:
    """The two customdata channels of each pixel's offset from the image centre, and their hover text:
    float32 arcsec, or `compact` int16 in mas (10^E arcsec when the image is wider than ±32.767″)."""
    east, north = sky_offsets(wcs, xs, ys, ((shape[1] - 1) / 2, (shape[0] - 1) / 2))
    names = axis_names(wcs)
    centre = sky_position(wcs, (shape[1] - 1) / 2, (shape[0] - 1) / 2)
    degrees = "{} {:.6f}°, {} {:+.6f}°".format(names[0], centre["degrees"][0], names[1], centre["degrees"][1])
    anchor = centre["hmsdms"] if names[0] == "RA" and centre["hmsdms"] else degrees
    if compact:
        exponent = max(compact_exponent(float(max(np.abs(east).max(), np.abs(north).max()))), -3)
        unit = " mas" if exponent == -3 else f"{power_text(exponent)}″"
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
        zc = np.rint(bar_fraction(small, (vmin, vmax), "linear") * CONTOUR_LEVELS).astype(np.uint16)
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


def single_layout(height: int, title: str) -> dict:
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
    fig = go.Figure(traces, single_layout(height, title))
    if box is not None:
        add_box(fig, box, box_label)
    return fig


def residual_figure(residual: np.ndarray, *, title: str = "", height: int = 300, unit: str = "Δ") -> go.Figure:
    """A residual on a diverging colour map symmetric about 0, hover in original pixels."""
    heat, limit = residual_trace(residual, unit=unit)
    heat.update(colorscale=RESIDUAL_COLORMAP, zmin=0, zmax=LEVELS,
                colorbar=signed_colour_bar(limit, unit, n=4) | {"title": {"text": unit, "side": "bottom"}})
    return go.Figure(heat, single_layout(height, title))


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
