"""Train: start a small run from the browser on simulations or a labelled upload; a classifier on a small
labelled set starts from a shipped model by default; progress, live loss curve, the result with a warning
when it is at chance; the runs of this server compared by their curves. One run per server."""

import streamlit as st

from core.models.registry import is_equivariant, model_kind
from ui import training, training_panels
from ui.hosting import is_hosted, train_limits

st.title("Train")
if is_hosted():  # app.py leaves this page out; this guards a direct URL on a fresh server (pages/ v1 routing)
    st.info("Training is switched off on this hosted demo; run EquiScope locally to train (`make app`).")
    st.stop()
st.caption("Runs in the background on this server, one at a time, so other visitors keep working. "
           "The finished checkpoint joins every model picker (saved under runs/).")

limits = train_limits()
MODELS = {"Equivariant autoencoder": "equivariant_ae", "CNN autoencoder": "cnn_ae",
          "Equivariant classifier": "equivariant_classifier", "CNN classifier": "cnn_classifier"}
c1, c2, c3 = st.columns(3)
model = MODELS[c1.selectbox("Model", list(MODELS), key="train_model")]
equivariant = is_equivariant(model)

source = training_panels.data_source(model_kind(model), limits)
method, backbones = training_panels.method_choice(model_kind(model), equivariant, source.n_labelled)
scratch = method == "scratch"

family = c2.radio("Group", ["D (rotations and flips)", "C (rotations)"], key="train_family",
                  disabled=not equivariant or not scratch, help="A shipped model keeps its own group.")
order = c3.select_slider("N (rotations by 360/N degrees)", [2, 4, 8, 16], value=4, key="train_order",
                         disabled=not equivariant or not scratch)
group = f"{family[0]}{order}" if equivariant and scratch else None

e1, e2, e3 = st.columns(3)
epochs = e1.number_input("Epochs", 1, limits["epochs"], min(5, limits["epochs"]), key="train_epochs",
                         disabled=method == "probe", help="A linear probe is fitted in one go.")
batch = e2.select_slider("Batch size", [4, 8, 16, 32, 64], value=16, key="train_batch", disabled=method == "probe")
base = f"{model.replace('_', '-')}{'-' + group if group else ''}{'' if scratch else '-' + method}"
name = training_panels.run_name(e3, base)
replace = e3.checkbox("Replace the run of that name", key="train_replace", value=False,
                      disabled=name not in training.run_names())

job = training.current()
running = job is not None and job.running
st.button("Start training", type="primary", disabled=running, key="train_start", on_click=training_panels.start,
          kwargs={"name": name, "model": model, "group": group, "data": source.data, "simulate": source.simulate,
                  "epochs": int(epochs), "batch_size": int(batch), "max_minutes": limits["minutes"],
                  "replace": bool(replace), "method": method, "backbones": backbones,
                  "description": source.description})
training_panels.start_error()
training_panels.show_run(running)
training_panels.compare_runs()
