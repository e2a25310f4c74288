"""Plotly figures for the pages: feature-map grids, latent maps, curves, tables (single images and
linked image panels: ui/image_figures.py).

Images are shown with the pixel (0, 0) at the lower left, as FITS viewers do. Every curve
has axis titles with units. Figures take plain numpy arrays and lists; no model code here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.image_encoding import LEVELS, colour_bar, display_levels, hover_exponent, hover_value

# Plotly's Inferno starts at "#000004", a colour Streamlit's front end swaps for a theme colour
# (its plotly placeholder CATEGORY_3): the darkest pixels showed violet. Start at "#010005".
IMAGE_COLORSCALE = [[i / 9, c] for i, c in enumerate(["#010005", *plotly.colors.sequential.Inferno[1:]])]
MAX_DISPLAY_PIXELS = 256  # longest side of a small-multiple panel (image_grid); full images go through ui/image_figures
LOG_FLOOR = 1e-10  # smallest value drawn on a logarithmic axis
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def display_array(image: np.ndarray, max_side: int = MAX_DISPLAY_PIXELS) -> np.ndarray:
    """Block-average a 2-D image so that its longest side is at most `max_side` pixels."""
    image = np.asarray(image, dtype=np.float32)
    factor = int(np.ceil(max(image.shape) / max_side))
    if factor <= 1:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str], n_cols: int, *,
               colorscale: str = IMAGE_COLORSCALE, symmetric: bool = False,
               height_per_row: int = 150, title: str = "") -> go.Figure:
    """Small heatmaps on one shared colour scale (one colour bar), laid out row by row: uint8 display
    levels, the hover reading each map's values (ui.image_encoding: compact int16 or float32)."""
    n_rows = int(np.ceil(len(images) / n_cols))
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=list(titles),
                        horizontal_spacing=0.01, vertical_spacing=0.06)
    stack = np.stack([display_array(im, 96) for im in images])
    lo, hi = float(stack.min()), float(stack.max())
    if symmetric:
        hi = max(abs(lo), abs(hi)) or 1.0
        lo = -hi
    if not hi > lo:
        hi = lo + 1.0
    levels, exponent = display_levels(stack, (lo, hi)), hover_exponent([stack])
    for i, im in enumerate(stack):
        r, c = i // n_cols + 1, i % n_cols + 1
        value, text = hover_value(im, exponent, "")
        fig.add_trace(go.Heatmap(z=levels[i], customdata=value[..., None], coloraxis="coloraxis",
                                 hovertemplate=text.replace("value ", "value=") + "<extra></extra>",
                                 meta={"cut": [lo, hi], "scale": None if exponent is None else 10.0**exponent}),
                      row=r, col=c)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    for i in range(len(images)):
        axis = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{axis}"].scaleanchor = f"x{axis}"
    fig.update_layout(coloraxis={"colorscale": colorscale, "cmin": 0, "cmax": LEVELS,
                                 "colorbar": colour_bar((lo, hi), "linear", "", thickness=10)},
                      height=height_per_row * n_rows + 60, title=title,
                      margin={"l": 5, "r": 5, "t": 60 if title else 30, "b": 5})
    fig.update_annotations(font_size=10)
    return fig


def latent_scatter(coords: np.ndarray, groups: Sequence[str], *, group_title: str,
                   hover: Sequence[str] | None = None, marked: np.ndarray | None = None,
                   marked_label: str = "current image", marked_text: Sequence[str] = (),
                   highlighted: Sequence[int] = (), neighbours: Sequence[int] = (),
                   orbit: np.ndarray | None = None, orbit_labels: Sequence[str] = (),
                   opacity: np.ndarray | None = None, labelled: np.ndarray | None = None,
                   labelled_text: Sequence[str] = (),
                   axis_titles: tuple[str, str] = ("t-SNE 1 (arbitrary units)", "t-SNE 2 (arbitrary units)"),
                   height: int = 560) -> go.Figure:
    """A 2-D map (t-SNE) of the reference set, one trace per group (cluster or label).

    Each reference point carries its index in `customdata`, so a box or lasso selection
    maps back to the images whatever trace it hits. `marked` (M, 2) are placed points such
    as the current image, `orbit` (K, 2) the rotated copies of it. `opacity` (N,) sets each
    reference point's opacity (a probe's confidence); `labelled` (L, 2) rings the points a user
    labelled, with `labelled_text` as their hover labels.
    """
    coords = np.asarray(coords)
    groups = np.asarray([str(g) for g in groups])
    hover = np.asarray(hover if hover is not None else [str(i) for i in range(len(coords))])
    fig = go.Figure()
    # SVG draws a few hundred points faster than WebGL's start-up (measured: bench/app_latency);
    # WebGL only pays off for large reference sets.
    scatter = go.Scatter if len(coords) <= 2000 else go.Scattergl
    for k, name in enumerate(sorted(set(groups.tolist()), key=_natural_key)):
        idx = np.flatnonzero(groups == name)
        fig.add_trace(scatter(
            x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=f"{group_title} {name}",
            customdata=idx, text=hover[idx],
            marker={"size": 6, "color": PALETTE[k % len(PALETTE)], "opacity": 0.8 if opacity is None else opacity[idx]},
            hovertemplate="%{text}<extra>%{fullData.name}</extra>"))
    if len(neighbours):
        nb = np.asarray(list(neighbours))
        fig.add_trace(go.Scatter(
            x=coords[nb, 0], y=coords[nb, 1], mode="markers", name="nearest neighbours",
            marker={"size": 13, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}},
            hoverinfo="skip"))
    if labelled is not None and len(labelled):
        fig.add_trace(go.Scatter(
            x=labelled[:, 0], y=labelled[:, 1], mode="markers", name="labelled", text=list(labelled_text),
            marker={"size": 11, "symbol": "diamond-open", "color": "black", "line": {"width": 1.5}},
            hovertemplate="%{text}<extra>labelled</extra>"))
    if orbit is not None and len(orbit):
        fig.add_trace(go.Scatter(
            x=orbit[:, 0], y=orbit[:, 1], mode="lines+markers", name="rotated copies",
            text=list(orbit_labels), marker={"size": 9, "symbol": "diamond", "color": "#444"},
            line={"dash": "dot", "color": "#444"}, hovertemplate="%{text}<extra></extra>"))
    if len(highlighted):
        hi = np.asarray(list(highlighted))
        fig.add_trace(go.Scatter(
            x=coords[hi, 0], y=coords[hi, 1], mode="markers", name="search matches", text=hover[hi],
            marker={"size": 12, "symbol": "square-open", "color": "#d62728", "line": {"width": 2}},
            hovertemplate="%{text}<extra>search match</extra>"))
    if marked is not None and len(marked):
        text = list(marked_text) if len(marked_text) == len(marked) else [marked_label] * len(marked)
        fig.add_trace(go.Scatter(
            x=marked[:, 0], y=marked[:, 1], mode="markers+text" if len(marked) > 1 else "markers", name=marked_label,
            text=text, textposition="top center",
            marker={"size": 18, "symbol": "star", "color": "gold", "line": {"width": 1.5, "color": "black"}},
            hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(height=height, dragmode="lasso", legend={"itemsizing": "constant"},
                      xaxis_title=f"{axis_titles[0]}", yaxis_title=f"{axis_titles[1]}",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def _natural_key(name: str):
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def curves_figure(x: np.ndarray, series: dict[str, np.ndarray], *, x_title: str, y_title: str,
                  title: str = "", log_y: bool = False, height: int = 380) -> go.Figure:
    """Lines sharing one x axis; `series` maps a legend name to its y values.

    On a log axis values below LOG_FLOOR (exact zeros included) are drawn at LOG_FLOOR.
    """
    fig = go.Figure()
    for k, (name, y) in enumerate(series.items()):
        if log_y:
            y = np.maximum(np.asarray(y, dtype=np.float64), LOG_FLOOR)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name,
                                 line={"color": PALETTE[k % len(PALETTE)]}))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=height,
                      margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def xy_curves_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], *, x_title: str, y_title: str,
                     title: str = "", height: int = 340) -> go.Figure:
    """Lines each with its own x values; `series` maps a legend name to (x, y)."""
    fig = go.Figure()
    for k, (name, (x, y)) in enumerate(series.items()):
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line={"color": PALETTE[k % len(PALETTE)]}))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=height,
                      margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10})
    return fig


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str = "") -> go.Figure:
    """ROC curves: `curves` maps a name to (false positive rate, true positive rate, AUC)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"))
    for k, (name, (fpr, tpr, auc)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {auc:.3f})",
                                 line={"color": PALETTE[k % len(PALETTE)]}))
    fig.update_layout(title=title, height=380, xaxis_title="false positive rate (fraction)",
                      yaxis_title="true positive rate (fraction)",
                      margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], title: str = "") -> go.Figure:
    """Confusion matrix counts: rows are true classes, columns predicted classes."""
    matrix = np.asarray(matrix)
    fig = go.Figure(go.Heatmap(z=matrix, x=list(classes), y=list(classes), colorscale="Blues",
                               text=matrix, texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=title, height=340, xaxis_title="predicted class",
                      yaxis_title="true class", margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10})
    fig.update_yaxes(autorange="reversed")
    return fig


def probability_bars(probabilities: dict[str, Sequence[float]], classes: Sequence[str]) -> go.Figure:
    """Class probabilities per model, grouped bars."""
    fig = go.Figure()
    for k, (name, p) in enumerate(probabilities.items()):
        fig.add_trace(go.Bar(x=list(classes), y=list(p), name=name, marker_color=PALETTE[k % len(PALETTE)],
                             text=[f"{v:.2f}" for v in p], textposition="outside"))
    fig.update_layout(barmode="group", height=340, xaxis_title="class",
                      yaxis_title="probability", margin={"l": 10, "r": 10, "t": 20, "b": 10})
    fig.update_yaxes(range=[0, 1.1])
    return fig


def feature_field_grid(layer: dict, field: int, elements: Sequence[tuple[bool, float]]) -> go.Figure:
    """The maps of one regular field, one panel per group element (columns: rotations, rows: flip).

    `layer` is {"name", "maps" (C, H, W), "group_order"}; `elements` the (flip, angle_deg) of
    each group element in channel order. A layer of plain channels shows 16 channels from `field`.
    """
    maps, order = layer["maps"], layer["group_order"]
    if order and order == len(elements):
        block = maps[field * order:(field + 1) * order]
        titles = [("flip · " if f else "") + f"{a:g}°" for f, a in elements]
        n_cols = order // 2 if any(f for f, _ in elements) else order
        title = f"{layer['name']}: field {field}, one map per group element"
    else:
        block = maps[field:field + 16]
        titles = [f"channel {field + i}" for i in range(len(block))]
        n_cols = 8
        title = f"{layer['name']}: channels {field}–{field + len(block) - 1}"
    return image_grid(list(block), titles, n_cols, title=title, colorscale="Viridis")


def table_figure(rows: Sequence[dict], height: int | None = None) -> go.Figure:
    """A plain table of dict rows (numbers to 4 significant digits); missing values shown as —."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(v):
        if v is None:
            return "—"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    values = [[cell(row.get(c)) for row in rows] for c in columns]
    widths = [max(len(str(c)), *(len(v) for v in col)) + 2 for c, col in zip(columns, values, strict=True)]
    fig = go.Figure(go.Table(header={"values": columns, "align": "left"}, columnwidth=widths,
                             cells={"values": values, "align": "left"}))
    fig.update_layout(height=height or 60 + 30 * len(rows), margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig
