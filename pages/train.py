"""Train: start a small run from the browser; progress bar and live loss curve; one run per server."""

import numpy as np
import streamlit as st

from core.models.registry import is_equivariant, model_kind
from ui import figures, training
from ui.errors import call
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
family = c2.radio("Group", ["D (rotations and flips)", "C (rotations)"], key="train_family", disabled=not equivariant)
order = c3.select_slider("N (rotations by 360/N degrees)", [2, 4, 8, 16], value=4, key="train_order",
                         disabled=not equivariant)
group = f"{family[0]}{order}" if equivariant else None

sets = training.datasets()
source = st.radio("Data", ["Simulate a small set", "A simulated set on this server"], horizontal=True,
                  key="train_source", index=0)
simulate, data = None, None
if source.startswith("Simulate"):
    d1, d2, d3 = st.columns(3)
    kind = d1.selectbox("Images", ["disks", "lenses"], index=1 if model_kind(model) == "classifier" else 0, key="train_kind")
    n = d2.number_input("How many", 8, limits["images"], min(128, limits["images"]), step=8, key="train_n")
    seed = d3.number_input("Seed", 0, 10**6, 0, key="train_seed")
    simulate = {"kind": kind, "n": int(n), "size": 129 if kind == "disks" else 150, "seed": int(seed)}
elif sets:
    data = str(st.selectbox("Data set", sets, format_func=lambda p: p.name, key="train_data"))
else:
    st.info("No simulated set is on this server yet (folders under data/ with a manifest.json); simulate one.")

e1, e2, e3 = st.columns(3)
epochs = e1.number_input("Epochs", 1, limits["epochs"], min(5, limits["epochs"]), key="train_epochs")
batch = e2.select_slider("Batch size", [4, 8, 16, 32, 64], value=16, key="train_batch")
name = e3.text_input("Run name", f"{model.replace('_', '-')}{'-' + group if group else ''}", key="train_name")

job = training.current()
running = job is not None and job.running
if st.button("Start training", type="primary", disabled=running, key="train_start"):
    call(training.start, name=name.strip(), model=model, group=group, data=data, simulate=simulate,
         epochs=int(epochs), batch_size=int(batch), max_minutes=limits["minutes"])
    st.rerun()


@st.fragment(run_every=1.0 if running else None)
def show_run() -> None:
    job = training.current()
    if job is None:
        return
    st.subheader(f"Run '{job.name}': {job.status}")
    st.caption(job.summary)
    st.progress(job.fraction(), text=job.message or job.status)
    history = job.history
    if history.get("epoch"):
        x = np.arange(1, len(history["epoch"]) + 1)
        series = {k.replace("_", " "): history[k] for k in ("train_loss", "val_loss") if k in history}
        st.plotly_chart(figures.curves_figure(x, series, x_title="epoch (all folds in order)",
                                              y_title="loss (training objective, dimensionless)", log_y=True),
                        key="train_curve")
    if job.running:
        st.button("Stop after this batch", on_click=training.stop, key="train_stop")
    elif job.error:
        st.error(job.error)
    else:
        st.success(job.message)
    if running and not job.running:
        st.rerun()  # the run ended: refresh the whole page once (Start button, pickers)


show_run()
