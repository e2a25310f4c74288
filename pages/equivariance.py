"""Equivariance lab: transform the input; autoencoders f(g·x) vs g·f(x), classifiers f(g·x) vs f(x); curves."""

import numpy as np
import streamlit as st

from ui import disk_input, figures, image_figures, inference, models, reference, state, widgets
from ui.equivariance_lab import cost_caption, promise, resampling_choice

st.title("Equivariance lab")
st.caption("g acts on the image on the model grid: flip, then rotate about the grid centre, then shift. "
           "An equivariant autoencoder f gives f(g·x) = g·f(x); an invariant classifier gives f(g·x) = f(x). "
           "Both hold up to float rounding for multiples of 90° and flips, and approximately for other angles "
           "(pixel-grid resampling).")

image = widgets.current_image()
c1, c2 = st.columns(2)
with c1:
    eq_entry = widgets.pick_model(None, equivariant=True, key="eq_model_eq", label="Equivariant model")
generator = widgets.generator_of(eq_entry)
kind = eq_entry["kind"]
with c2:
    cnn_entry = widgets.pick_model(kind, equivariant=False, key="eq_model_cnn", required=False, generator=generator,
                                   label="CNN for contrast")
widgets.warn_if_other_kind(image, generator)
t1, t2, t3, t4 = st.columns([3, 1, 1, 1])
linked = state.SETTINGS  # each widget's label and bounds, which a link's values are checked against
angle = t1.slider(linked["eq_angle"].label, **linked["eq_angle"].bounds(), key="eq_angle")
flip = t2.toggle(linked["eq_flip"].label, key="eq_flip")
dy = t3.number_input(linked["eq_dy"].label, **linked["eq_dy"].bounds(), key="eq_dy")
dx = t4.number_input(linked["eq_dx"].label, **linked["eq_dx"].bounds(), key="eq_dx")
interp = resampling_choice()  # "bilinear" or "sinc", for every turn below

if any(disk_input.sees_cutout(e) for e in (eq_entry, cnn_entry) if e is not None):
    widgets.cutout_box(key="eq_box")  # the one box of the Data and Reconstruct pages

entries, seen = [], {}  # the models that load and answer, and the image each saw; one that fails said so in its place
for entry in models.working(eq_entry, cnn_entry):
    given = models.attempt(entry, disk_input.model_image, entry, image)  # a disk model: the Reconstruct page's cutout
    pair = None if given is None else models.serve(entry, inference.equivariance_pair, given.data, float(angle), flip,
                                                   (int(dy), int(dx)), interp)
    if pair is None:
        continue
    entries.append(entry)
    seen[entry["name"]] = given.data
    st.subheader(f"{entry['name']}: relative error {pair['relative_error']:.2e}")
    if given.caption:
        st.caption(given.caption)
    cost_caption(entry)  # the index's record (bench.rotation), else measured here once
    if kind == "classifier":
        left, right = st.columns([3, 2])
        left.plotly_chart(image_figures.linked_figure([(pair["x"], "x: the input"),
                                                       (pair["gx"], "g·x: the transformed input")], height=340),
                          key=f"eq_inputs_{entry['name']}")
        classes = entry.get("classes") or [str(i) for i in range(len(pair["probs_x"]))]
        right.plotly_chart(figures.probability_bars({"f(x)": pair["probs_x"], "f(g·x)": pair["probs_gx"]}, classes),
                           key=f"eq_probs_{entry['name']}")
        st.caption("Relative error = ‖f(g·x) − f(x)‖ / ‖f(x)‖ of the logits.")
    else:
        st.plotly_chart(image_figures.linked_figure(
            [(pair["gx"], "g·x: the transformed input"), (pair["f_gx"], "f(g·x): transform, then the model"),
             (pair["g_fx"], "g·f(x): the model, then transform")],
            image_figures.View(cut="manual", manual=(0.0, 1.0)), residual=(pair["difference"], "f(g·x) − g·f(x)"),
            bunit="normalised flux", height=380), key=f"eq_pair_{entry['name']}")

promise([e for e in (eq_entry, cnn_entry) if e is not None], interp)  # recorded by bench.rotation

st.subheader("Against rotation angle")
angles = tuple(float(a) for a in np.arange(15.0, 360.0, 15.0))  # the identity (0°) is exact by definition
if st.toggle(linked["eq_curves_on"].label, value=linked["eq_curves_on"].default, key="eq_curves_on"):
    row = 1 if flip else 0  # both flips are measured together; the toggle only picks one
    curves = {}
    for entry in entries:
        errors = models.serve(entry, inference.equivariance_curves, seen[entry["name"]], angles, interp)
        if errors is None:
            continue
        main = "logits" if kind == "classifier" else "reconstruction"
        formula = "‖f(g·x) − f(x)‖ / ‖f(x)‖" if kind == "classifier" else "‖f(g·x) − g·f(x)‖ / ‖g·f(x)‖"
        curves[f"{entry['name']}: {main} {formula}"] = errors[main][row]
        curves[f"{entry['name']}: latent ‖z(g·x) − z(x)‖ / ‖z(x)‖"] = errors["latent"][row]
    fig = figures.curves_figure(np.array(angles), curves, x_title="rotation angle (degrees)", log_y=True,
                                y_title="relative error (dimensionless)", title="flip, then rotation" if flip else "")
    st.plotly_chart(fig, key="eq_curves")
    st.caption("Measured inside 80 % of the inscribed disc; errors below 1e-10 are drawn at 1e-10.")
    scores = None
    if kind == "classifier" and eq_entry in entries:
        scores = models.serve(eq_entry, inference.class_scores, seen[eq_entry["name"]], angles, interp)
    if scores is not None:
        classes = eq_entry.get("classes") or [str(k) for k in range(scores["probs"].shape[-1])]
        a, b = st.columns(2)
        a.plotly_chart(figures.curves_figure(np.array(angles), {c: scores["probs"][row, :, k] for k, c in enumerate(classes)},
                                             x_title="rotation angle (degrees)", y_title="probability",
                                             title=f"{eq_entry['name']}: class probabilities"), key="eq_class_probs")
        b.plotly_chart(figures.curves_figure(np.array(angles), {c: scores["logits"][row, :, k] for k, c in enumerate(classes)},
                                             x_title="rotation angle (degrees)", y_title="logit (dimensionless)",
                                             title=f"{eq_entry['name']}: logits"), key="eq_class_logits")

st.subheader("The orbit of rotated copies on the latent map")
if st.toggle(linked["eq_orbit_on"].label, key="eq_orbit_on") and entries:
    cols = st.columns(len(entries))
    for col, entry in zip(cols, entries, strict=True):
        with col:
            ref = models.attempt(entry, widgets.build_with_progress, st.empty(), reference.reference_map, entry["name"],
                                 entry.get("sha256"), generator)
            orbit = None if ref is None else models.serve(entry, inference.orbit, generator, seen[entry["name"]], 30.0,
                                                          True, interp)
            if orbit is None:
                continue
            fig = figures.latent_scatter(ref.lmap.coords, ref.latents.labels or ["reference"] * len(ref.lmap.coords),
                                         group_title="class", orbit=orbit["coords"], orbit_labels=orbit["labels"],
                                         height=420)
            fig.update_layout(title=entry["name"])
            st.plotly_chart(fig, key=f"eq_orbit_{entry['name']}")
            st.caption(f"Spread of the copies (rotations every 30°, with and without a flip): "
                       f"{orbit['map_spread']:.3f} of the map's own spread; {orbit['latent_spread']:.2e} relative in "
                       "latent space.")
