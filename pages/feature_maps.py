"""Feature maps: one regular field's maps laid out by group element; rotating the input cycles them."""

import streamlit as st

from ui import disk_input, figures, inference, models, resources, state, widgets

st.title("Feature maps")
st.caption("A regular field of a C_N / D_N layer holds one map per group element (columns: rotations; "
           "second row of a D_N layer: the same after a flip). Rotating the input by 360/N degrees "
           "rotates every map and moves each one to the next column. A CNN's channels have no such order.")

image = widgets.current_image()
c1, c2 = st.columns(2)
with c1:
    eq_entry = widgets.pick_model(None, equivariant=True, key="fm_model_eq", label="Equivariant model")
generator = widgets.generator_of(eq_entry)
with c2:
    cnn_entry = widgets.pick_model(eq_entry["kind"], equivariant=False, key="fm_model_cnn", label="CNN for contrast",
                                   required=False, generator=generator)
widgets.warn_if_other_kind(image, generator)
group = (eq_entry.get("config") or {}).get("group", "C4")
elements = resources.group_elements(group)
step = int(round(360 / resources.rotation_order(group)))
if st.session_state.get("fm_angle", 0) not in range(0, 360, step):  # kept or linked (0..359) for another group's steps
    del st.session_state["fm_angle"]
bounds = state.Number(state.SETTINGS["fm_angle"].label, 0, 360 - step, 0, step)  # a link's 0..359, on this group's steps
angle = st.slider(bounds.label, **bounds.bounds(), key="fm_angle", help=f"One step = {step}°, one rotation of {group}.")
flip = st.toggle(state.SETTINGS["fm_flip"].label, key="fm_flip", disabled=not group.startswith("D"))
if any(disk_input.sees_cutout(e) for e in (eq_entry, cnn_entry) if e is not None):
    widgets.cutout_box(key="fm_box")  # the one box of the Data and Reconstruct pages

for entry in models.working(eq_entry, cnn_entry):  # a model that does not load said so under its picker
    is_eq = entry is eq_entry
    st.subheader(entry["name"])
    st.caption(widgets.model_caption(entry))
    seen = models.attempt(entry, disk_input.model_image, entry, image)  # a disk model: the Reconstruct page's cutout
    if seen is None:
        continue
    if seen.caption:
        st.caption(seen.caption)
    layers = models.serve(entry, inference.feature_maps, seen.data, float(angle), flip)
    if not layers:
        continue
    if is_eq:
        layers = [layer for layer in layers if layer["group_order"]] or layers
    names = [layer["name"] for layer in layers]
    a, b = st.columns([3, 1])
    layer = layers[names.index(a.selectbox("Layer", names, key=f"fm_layer_{is_eq}"))]
    n_fields = layer["maps"].shape[0] // (layer["group_order"] or 1)
    label = "Field" if layer["group_order"] else "First channel (16 shown)"
    field = b.number_input(label, 0, max(n_fields - 1, 0), 0, key=f"fm_field_{is_eq}")
    st.plotly_chart(figures.feature_field_grid(layer, int(field), elements), key=f"fm_grid_{is_eq}")
