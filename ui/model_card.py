"""What the Equivariance lab says about a model beside one image's error: its cost per image, and the
accuracy-against-angle curve measured on its held-out set when the checkpoint index records one.

The curve is read from the index entry's metrics (`bench.rotation` writes it):
`metrics["rotation_curve"] = {"angles_deg": [...], "score": [...], "metric": "macro_auc"}`.
An entry without one (or with a malformed one) has no curve, and the page shows none.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.resources import loaded_model

METRIC_NAMES = {"macro_auc": "macro AUC", "micro_auc": "micro AUC", "accuracy": "accuracy", "ms_ssim": "MS-SSIM",
                "ssim": "SSIM", "psnr_db": "PSNR (dB)"}


@st.cache_data(max_entries=64, show_spinner="Measuring the model's cost per image (once per server)…")
def cost(name: str, sha256: str | None) -> dict:
    """{parameters, mflop, ms} per image of checkpoint `name` (core.analysis.model_cost), once per server and
    checkpoint file (the sha256 keys it)."""
    from core.analysis.model_cost import model_cost

    c = model_cost(loaded_model(name, sha256))
    return {"parameters": c.parameters, "mflop": c.mflop, "ms": c.ms}


def cost_line(c: dict) -> str:
    """"Cost per image: 31,987 learned parameters · 105 MFLOP · 7.8 ms on this server"."""
    return (f"Cost per image: {c['parameters']:,} learned parameters · {c['mflop']:.3g} MFLOP (one forward pass) · "
            f"{c['ms']:.2g} ms on this server (fastest of a few passes, measured once)")


def rotation_curve(entry: dict, key: str = "rotation_curve") -> dict | None:
    """The entry's measured score against rotation angle (metrics[`key`]: bilinear turns, or another interpolation's,
    core.analysis.equivariance.rotation_curve_key), {angles_deg, score, metric} (numpy arrays, sorted by angle), or
    None when the index records none or a malformed one (unequal lengths, non-numbers)."""
    curve = (entry.get("metrics") or {}).get(key)
    if not isinstance(curve, dict):
        return None
    angles, score, metric = curve.get("angles_deg"), curve.get("score"), curve.get("metric")
    if not isinstance(angles, list) or not isinstance(score, list) or len(angles) != len(score) or len(angles) < 2:
        return None
    try:
        a, s = np.asarray(angles, dtype=float), np.asarray(score, dtype=float)
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(a).all() and np.isfinite(s).all()):
        return None
    order = np.argsort(a, kind="stable")
    return {"angles_deg": a[order], "score": s[order], "metric": str(metric or "score")}


def curves_by_metric(entries: list[dict]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{metric: {checkpoint name: (angles, score)}} of the entries that record a rotation curve."""
    out: dict[str, dict] = {}
    for entry in entries:
        curve = rotation_curve(entry)
        if curve is not None:
            out.setdefault(curve["metric"], {})[entry["name"]] = (curve["angles_deg"], curve["score"])
    return out


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.replace("_", " "))

