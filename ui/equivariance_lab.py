"""The Equivariance lab's promise measured: each model's score against rotation angle on its own held-out set, and
its cost per image, as `python -m bench.rotation --record-index` wrote them into the checkpoint index.

Read from an index entry's metrics (nothing is measured here but the live cost of a model without a record):
    rotation_curve: {metric, angles_deg, score, roundtrip: {angles_deg, score}, held_out, n, partner, sha256,
                     date_utc, command, ...}
    rotation_curve_sinc: the same with band-limited turns (`--interp sinc`), shown when the page's turns are sinc
    cost: {parameters, mflop, ms, threads, machine, date_utc}
A curve recorded for another file of the same name (its sha256 differs from the entry's) counts as none.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import model_card, models
from ui.figures import PALETTE
from ui.markdown import markdown_table

TITLE = "The promise measured: score against rotation angle on held-out images"
INTERPS = {"bilinear": "bilinear (as a pipeline's reprojection does)", "sinc": "band-limited (sinc: no smoothing)"}


def resampling_choice() -> str:
    """The page's choice of how turns off the right angles resample: "bilinear" (the default) or "sinc"."""
    from ui.state import SETTINGS

    spec = SETTINGS["eq_interp"]  # its label and choices, which a link's value is checked against
    mode = st.radio(spec.label, spec.choices(), format_func=INTERPS.get, horizontal=True, key="eq_interp")
    st.caption("With bilinear turns part of the change is the resampling's smoothing of the noise, not the model; "
               "band-limited turns isolate the model's own departure from equivariance.")
    return mode


def bench_command(names: list[str], interp: str = "bilinear") -> str:
    """The bench run that records the curves of an equivariant model and its CNN (EQ:CNN) in the index."""
    pair = ":".join(names) if len(names) == 2 else f"{names[0]}:<CNN checkpoint>"
    turns = "" if interp == "bilinear" else f" --interp {interp}"
    return f"python -m bench.rotation --models {pair}{turns} --no-record --record-index"


def measured(entry: dict, interp: str = "bilinear") -> dict | None:
    """The entry's curve recorded with `interp` turns (ui.model_card.rotation_curve) with its round trips and where
    it was measured, or None when there is none, it is malformed, or it was measured on another file of this name."""
    from core.analysis.equivariance import rotation_curve_key

    key = rotation_curve_key(interp)
    curve = model_card.rotation_curve(entry, key)
    if curve is None:
        return None
    raw = entry["metrics"][key]
    if raw.get("sha256") and entry.get("sha256") and raw["sha256"] != entry["sha256"]:
        return None
    trip = raw.get("roundtrip") if isinstance(raw.get("roundtrip"), dict) else {}
    try:
        ta, ts = np.asarray(trip.get("angles_deg") or [], dtype=float), np.asarray(trip.get("score") or [], dtype=float)
    except (TypeError, ValueError):
        ta = ts = np.zeros(0)
    if ta.shape != ts.shape or ta.ndim != 1 or not (np.isfinite(ta).all() and np.isfinite(ts).all()):
        ta = ts = np.zeros(0)  # a malformed round trip: the curve alone
    n = raw.get("n") if isinstance(raw.get("n"), int) else None
    return {**curve, "trip_angles": ta, "trip_score": ts, "n": n, "held_out": str(raw.get("held_out") or ""),
            "date": str(raw.get("date_utc") or "")[:10], "interp": interp}


def recorded_cost(entry: dict) -> dict | None:
    """{parameters, mflop, ms, threads, date} the index records for the entry, or None (none, or malformed)."""
    c = (entry.get("metrics") or {}).get("cost")
    try:
        out = {"parameters": int(c.get("parameters") or 0), "mflop": float(c["mflop"]), "ms": float(c["ms"]),
               "threads": int(c["threads"]), "date": str(c.get("date_utc") or "")[:10]}
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    ok = all(math.isfinite(out[k]) and out[k] > 0 for k in ("mflop", "ms", "threads"))
    return out if ok else None


def cost_caption(entry: dict) -> None:
    """One line on the model's cost per image: the index's record (bench.rotation), else measured here once."""
    c = recorded_cost(entry)
    if c is None:
        price = models.serve(entry, model_card.cost)
        if price is not None:
            st.caption(model_card.cost_line(price))
        return
    params = f"{c['parameters']:,} learned parameters · " if c["parameters"] else ""
    st.caption(f"Cost per image: {params}{c['mflop']:.3g} MFLOP (one forward pass) · {c['ms']:.2g} ms on "
               f"{c['threads']} CPU thread{'s' * (c['threads'] > 1)} (bench.rotation, {c['date'] or 'undated'})")


def figure(curves: dict[str, dict], metric: str, interp: str = "bilinear") -> go.Figure:
    """Score against angle, one line per model (`interp` turns; a model measured otherwise says so); open circles:
    turned and back."""
    name = model_card.metric_name(metric)
    fig = go.Figure()
    for k, (model, c) in enumerate(curves.items()):
        color = PALETTE[k % len(PALETTE)]
        model = model if c["interp"] == interp else f"{model} ({c['interp']})"
        fig.add_trace(go.Scatter(x=c["angles_deg"], y=c["score"], mode="lines+markers", name=model,
                                 line={"color": color}, marker={"size": 4}))
        if len(c["trip_angles"]):
            fig.add_trace(go.Scatter(x=c["trip_angles"], y=c["trip_score"], mode="markers", name=f"{model}: turned and back",
                                     marker={"color": color, "size": 8, "symbol": "circle-open"}))
    turns = "" if interp == "bilinear" else " (band-limited turns)"
    fig.update_layout(title=f"{name} of every held-out image turned by the angle{turns}",
                      yaxis_title=name, height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.12, "font": {"size": 11}})
    fig.update_xaxes(tickvals=list(range(0, 361, 15)), ticktext=[f"{a}°" for a in range(0, 361, 15)], automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


SUMMARY = ("model", "unturned", "worst (angle)", "45° and back", "MFLOP / image", "ms / image (threads)")


def summary_rows(curves: dict[str, dict], entries: list[dict]) -> list[list[str]]:
    """Per model with a curve: its score unturned, at the worst angle, after a 45° turn and back, and the recorded
    cost per image (columns SUMMARY)."""
    rows = []
    for entry in entries:
        c, cost = curves.get(entry["name"]), recorded_cost(entry)
        if c is None:
            continue
        worst = int(np.argmin(c["score"]))
        trip = dict(zip(c["trip_angles"].tolist(), c["trip_score"].tolist(), strict=True)).get(45.0)
        rows.append([entry["name"], f"{c['score'][0]:.4f}", f"{c['score'][worst]:.4f} ({c['angles_deg'][worst]:g}°)",
                     "—" if trip is None else f"{trip:.4f}", "—" if cost is None else f"{cost['mflop']:.3g}",
                     "—" if cost is None else f"{cost['ms']:.2g} ({cost['threads']})"])
    return rows


def _where(name: str, c: dict) -> str:
    """"lenses-model2-cnn-v2: data/dl2-test: first 600 of 3000 (generator dl-1.1), 600 images, 2026-12-07"."""
    parts = [c["held_out"] or "its held-out set"] + ([f"{c['n']} images"] if c["n"] else []) + ([c["date"]] if c["date"] else [])
    return f"{name}: {', '.join(parts)}"


def promise(entries: list[dict], interp: str = "bilinear") -> None:
    """The recorded curves of the equivariant model and its CNN (`entries`) side by side with their costs, with the
    page's `interp` turns where recorded, else bilinear ones and a line that says so; a model without a record is
    one sentence with the bench command."""
    curves = {e["name"]: c for e in entries if (c := measured(e, interp) or measured(e)) is not None}
    missing = [e["name"] for e in entries if e["name"] not in curves]
    command = bench_command([e["name"] for e in entries], interp)
    if not curves:
        names = " and ".join(missing)
        st.caption(f"{names} {'has' if len(missing) == 1 else 'have'} no score-against-angle curve in the checkpoint "
                   f"index yet; measure {'it' if len(missing) == 1 else 'them'} on the held-out set with `{command}`.")
        return
    st.subheader(TITLE)
    left, right = st.columns([3, 2])
    by_metric: dict[str, dict] = {}
    for name, c in curves.items():
        by_metric.setdefault(c["metric"], {})[name] = c
    for metric, group in by_metric.items():
        left.plotly_chart(figure(group, metric, interp), key=f"eq_promise_{metric}")
    right.markdown(markdown_table(summary_rows(curves, entries), SUMMARY))
    where = "; ".join(_where(name, c) for name, c in curves.items())
    recorded = "--interp sinc --record-index" if interp == "sinc" else "--record-index"
    st.caption(f"Every image of each model's own held-out set turned by the angle (open circles: turned and back), as "
               f"`python -m bench.rotation {recorded}` recorded it ({where})"
               + (f"; {' and '.join(missing)} has no such record yet: measure it with `{command}`." if missing else "."))
    bilinear = [name for name, c in curves.items() if c["interp"] != interp]
    if bilinear:
        its = "its bilinear curve is" if len(bilinear) == 1 else "their bilinear curves are"
        st.caption(f"No band-limited measurement is recorded for {' and '.join(bilinear)}: {its} shown (record "
                   f"{'one' if len(bilinear) == 1 else 'them'} with `{command}`).")
