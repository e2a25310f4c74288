"""The image viewer as the pages draw it: display controls, the image, then the pixel readout with region
statistics and the blink choice under it (`show`). Its parts:
- ui/image_figures.py: the figures (`view_figure`, `linked_figure`, `residual_figure`), true pixel
  coordinates, full resolution or an overview with a full-resolution `region`, beam, contours;
- ui/image_encoding.py: what the browser gets (cuts, stretches, uint8 display levels, colour bars, compact
  hover values);
- ui/image_wcs.py: RA/Dec, offsets from the centre and the beam ellipse from the header;
- ui/pixel_readout.py: a pixel's exact value and sky position, box/circle statistics;
- ui/blink.py: two images of one grid shown in turn in the browser.
"""

from __future__ import annotations

import math

import numpy as np

from ui.blink import blink_figure, blink_partner
from ui.image_encoding import cut_limits
from ui.image_figures import FULL_RES_PIXELS, OVERVIEW_SIDE, View, add_box, add_region, view_figure
from ui.pixel_readout import readout


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
