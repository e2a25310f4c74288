"""Blinking: two images of one pixel grid in one place, shown in turn by the browser (animation frames
that only switch which image is visible; no server round trip), and the expander under the viewer
that picks the image list's image to blink with."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import plotly.graph_objects as go

from ui.image_encoding import LEVELS, colour_bar, colour_scale
from ui.image_figures import View, image_traces, single_layout

DEFAULT_VIEW = View()  # frozen: one default for every call


def blink_figure(first: np.ndarray, second: np.ndarray, view: View = DEFAULT_VIEW, *, names: tuple[str, str],
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
    layout = single_layout(height, "") | {"title": {"text": names[0], "x": 0.01, "xanchor": "left"},
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
