"""Lenses: class probabilities for the current image; the lens finder; ROC, AUC and confusion of the classifiers; the group zoo."""

import streamlit as st

from core.analysis.familiarity import disagreement
from ui import familiarity, figures, finder, inference, models, reference, resources, state, widgets

st.title("Lenses")
st.caption("Dark-matter substructure classes of a strong-lens image: no_sub (smooth halo), "
           "cdm (subhalos) and vortex (a line of small masses).")

c1, c2 = st.columns(2)
with c1:
    eq_entry = widgets.pick_model("classifier", equivariant=True, key="lens_model_eq", generator="lenses")
with c2:
    cnn_entry = widgets.pick_model("classifier", equivariant=False, key="lens_model_cnn", required=False, generator="lenses")
entries = models.working(eq_entry, cnn_entry)  # a model that does not load said so under its picker
classes = eq_entry.get("classes") or ["no_sub", "cdm", "vortex"]
for entry in entries:
    st.caption(widgets.training_caption(entry))

st.subheader("The current image")
image = widgets.current_image(required=False)
if image is None:
    st.info("No current image: simulate a lens or upload one on the Data page to see its class probabilities.")
else:
    finder.pixel_scale_field(image)
    truth = state.true_label(image)
    views = {e["name"]: inference.grid_view(e, image) for e in entries}  # each model's training grid
    answers = {e["name"]: models.serve(e, inference.class_probabilities, views[e["name"]].data) for e in entries}
    probs = {name: p for name, p in answers.items() if p is not None}
    if probs:
        st.plotly_chart(figures.probability_bars(probs, classes), key="lens_probs")
    clash = disagreement(*probs.values(), classes, tuple(probs)) if len(probs) == 2 else None
    for entry in (e for e in entries if e["name"] in probs):  # each answer with its familiarity; the clash once
        view = views[entry["name"]]
        st.markdown(finder.answer_line(entry["name"], entry.get("classes") or classes, probs[entry["name"]], truth))
        if view.note:
            st.caption(view.note)
        familiarity.answer_notes(entry, {**image, "data": view.data}, clash if entry is eq_entry else None)

finder.panel(image)

st.subheader("On simulated reference lenses (each classifier's own training simulator)")
spec = state.SETTINGS["lens_evaluate"]  # its label and default, which a link's value is checked against
if st.toggle(spec.label, value=spec.default, key="lens_evaluate") and entries:
    cols = st.columns(len(entries))
    for col, entry in zip(cols, entries, strict=True):
        with col:
            report = models.attempt(entry, widgets.build_with_progress, st.empty(), reference.classifier_report,
                                    entry["name"], entry.get("sha256"))
            if report is None:
                continue
            roc = report["roc"]
            st.markdown(f"**{entry['name']}** — micro AUC {roc.micro_auc:.4f}, macro AUC {roc.macro_auc:.4f}, "
                        f"accuracy {report['accuracy']:.3f} on {report['n']} images")
            curves = {c.class_name: (c.fpr, c.tpr, c.auc) for c in roc.curves}
            st.plotly_chart(figures.roc_figure(curves, "ROC, one class against the rest"), key=f"lens_roc_{entry['name']}")
            st.plotly_chart(figures.confusion_figure(report["confusion"], report["classes"], "Confusion matrix"),
                            key=f"lens_cm_{entry['name']}")

st.subheader("Group zoo")
zoo = resources.classifier_zoo()
if len(zoo) < 2:
    st.caption("Only one classifier checkpoint exists; train others (different groups C_N / D_N) to compare them here.")
else:
    st.caption("Each checkpoint's own held-out metrics, as recorded when it was trained.")
    st.plotly_chart(figures.table_figure(zoo), key="lens_zoo")
