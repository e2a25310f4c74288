"""Equivariance lab: transform the input, compare f(g·x) with g·f(x); error vs angle; the orbit on the map."""

import numpy as np
import streamlit as st

from ui import figures, inference, reference, widgets
from ui.errors import call

st.title("Equivariance lab")
st.caption("g acts on the image on the model grid: flip, then rotate about the grid centre, then shift. "
           "An equivariant autoencoder f gives f(g·x) = g·f(x): the difference is zero up to float rounding "
           "for multiples of 90° and flips, and small but not zero for other angles (pixel-grid resampling).")

image = widgets.current_image()
c1, c2 = st.columns(2)
with c1:
    eq_entry = widgets.pick_model("autoencoder", equivariant=True, key="eq_model_eq")
with c2:
    cnn_entry = widgets.pick_model("autoencoder", equivariant=False, key="eq_model_cnn", required=False)
t1, t2, t3, t4 = st.columns([3, 1, 1, 1])
angle = t1.slider("Rotation angle (degrees)", 0.0, 360.0, 90.0, step=1.0, key="eq_angle")
flip = t2.toggle("Flip", key="eq_flip")
dy = t3.number_input("Shift down (px)", -20, 20, 0, key="eq_dy")
dx = t4.number_input("Shift right (px)", -20, 20, 0, key="eq_dx")

entries = [e for e in (eq_entry, cnn_entry) if e is not None]
for entry in entries:
    pair = call(inference.equivariance_pair, entry["name"], entry.get("sha256"), image["data"],
                float(angle), flip, (int(dy), int(dx)))
    st.subheader(f"{entry['name']}: relative error {pair['relative_error']:.2e}")
    cols = st.columns(3)
    lim = float(max(pair["f_gx"].max(), pair["g_fx"].max()))
    cols[0].plotly_chart(figures.image_figure(pair["f_gx"], "f(g·x): transform, then the model", zmin=0, zmax=lim),
                         key=f"eq_fgx_{entry['name']}")
    cols[1].plotly_chart(figures.image_figure(pair["g_fx"], "g·f(x): the model, then transform", zmin=0, zmax=lim),
                         key=f"eq_gfx_{entry['name']}")
    cols[2].plotly_chart(figures.residual_figure(pair["difference"], "f(g·x) − g·f(x)"),
                         key=f"eq_diff_{entry['name']}")

st.subheader("Error against rotation angle")
angles = np.arange(0.0, 361.0, 15.0)
curves = {}
for entry in entries:
    curve = call(inference.equivariance_curve, entry["name"], entry.get("sha256"), image["data"], tuple(angles), flip)
    curves[f"{entry['name']}: reconstruction (equivariance)"] = curve["equivariant"]
    curves[f"{entry['name']}: latent (invariance)"] = curve["invariant"]
st.plotly_chart(figures.curves_figure(
    angles, curves, x_title="rotation angle (degrees)", log_y=True,
    y_title="relative error ‖f(g·x) − g·f(x)‖ / ‖g·f(x)‖ (dimensionless)"), key="eq_curves")

st.subheader("The orbit of rotated copies on the latent map")
orbit_angles = tuple(float(a) for a in np.arange(0.0, 360.0, 30.0))
cols = st.columns(len(entries))
for col, entry in zip(cols, entries, strict=True):
    with col:
        generator = widgets.generator_of(entry)
        ref = widgets.build_with_progress(st.empty(), reference.reference_map, entry["name"], entry.get("sha256"), generator)
        orbit = call(reference.place_orbit, entry["name"], entry.get("sha256"), generator, image["data"], orbit_angles, flip)
        fig = figures.latent_scatter(ref.lmap.coords, ref.latents.labels or ["reference"] * len(ref.lmap.coords),
                                     group_title="class", orbit=orbit,
                                     orbit_labels=[f"rotated {a:g}°" for a in orbit_angles], height=420)
        fig.update_layout(title=entry["name"])
        st.plotly_chart(fig, key=f"eq_orbit_{entry['name']}")
