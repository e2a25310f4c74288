"""Batch evaluation: a labelled zip or the list's labelled images -> confusion matrix, ROC/AUC, per-file table, misclassified gallery, CSV."""

import streamlit as st

from core.analysis.evaluate import rows_csv
from ui import batch_data, batch_model, batch_results, figures, models
from ui.share import stop_page

st.title("Batch evaluation")
st.caption("Evaluate a model on a labelled data set: the labelled images of the image list, or a zip with one "
           "folder per class (this project's `no_sub/ cdm/ vortex/` or DeepLense's `no/ sphere/ vort/`), or a flat folder with `labels.csv` (columns `file,label`). "
           "Classifiers: confusion matrix, ROC, and every file with its prediction; autoencoders: reconstruction "
           "scores per file and the worst reconstructions. The latent distance says how far each image lies from "
           "the model's reference set (its percentile among the reference images' own distances). "
           "Same code path as `python -m core evaluate --csv`.")

source = batch_data.source_picker()
entry = batch_model.pick_model(source)  # follows the data's kind, image size and preset; keeps your own pick if it fits
if source is None:
    st.info("Upload a zip to evaluate the model on it (or load a zip of class folders on the Data page: its "
            "labelled images can be evaluated from the image list).")
    stop_page()
result = models.attempt(entry, batch_results.evaluate, source, entry, st.empty()) if models.working(entry) else None
if result is None:  # the model does not load (said under the picker) or failed on these files (said here)
    stop_page()
n = len(result.files)
stem = source.name
if result.kind == "classifier":
    m = result.metrics
    cols = st.columns(4)
    cols[0].metric("Images", n)
    cols[1].metric("Accuracy", f"{m['accuracy']:.3f}")
    cols[2].metric("Macro AUC", "—" if m["macro_auc"] is None else f"{m['macro_auc']:.4f}",
                   help="Mean of the one-vs-rest AUCs of the classes present.")
    cols[3].metric("Micro AUC", "—" if m["micro_auc"] is None else f"{m['micro_auc']:.4f}")
    for note in m.get("notes", []):
        st.caption(note)
    left, right = st.columns(2)
    left.plotly_chart(figures.confusion_figure(m["confusion"], result.classes, "Confusion matrix"), key="batch_cm")
    right.plotly_chart(figures.roc_figure(batch_results.roc_curves(result), "ROC, one class against the rest"),
                       key="batch_roc")
else:
    m = result.metrics
    cols = st.columns(5)
    cols[0].metric("Images", n)
    cols[1].metric("Mean MSE", f"{m['mse']:.2e}")
    cols[2].metric("Mean PSNR", f"{m['psnr_db']:.1f} dB")
    cols[3].metric("Mean SSIM", f"{m['ssim']:.3f}")
    cols[4].metric("Mean MS-SSIM", f"{m['ms_ssim']:.3f}")
flagged = sum(1 for r in result.rows if r.get("kind_flag"))  # core.analysis.kind: out of kind, or an unconfirmed 'lens'
if flagged:
    st.warning(f"{flagged} of {n} images are flagged by the kind check (column kind_flag: of another kind than the "
               "model's training data, or a lens finder's 'lens' it does not confirm); never counted familiar.")
unfamiliar = sum(1 for r in result.rows if r.get("familiar") is False and not r.get("kind_flag"))
if unfamiliar:
    st.warning(f"{unfamiliar} of {n} images lie outside what the model was trained on (latent distance above the "
               "99th percentile of its reference images'); their answers are extrapolations.")

st.subheader("Per file")
st.dataframe(batch_results.table(result), key="batch_table", hide_index=True)
st.download_button("Download the table as CSV", rows_csv(result.rows), file_name=f"{stem}_{entry['name']}.csv",
                   mime="text/csv", key="batch_csv")

if result.kind == "classifier":
    wrong = result.misclassified()
    st.subheader(f"Misclassified: {len(wrong)} of {n}")
    rows = result.rows
    batch_results.gallery(result, wrong, lambda i: f"{result.files[i]} · {rows[i]['true']} → "
                                                   f"{rows[i]['predicted']} ({rows[i]['probability']:.2f})")
    batch_results.inspect(result, wrong, source)
else:
    worst = result.worst()
    st.subheader("The worst reconstructions (input | reconstruction)")
    batch_results.gallery(result, worst, lambda i: f"{result.files[i]} · MSE {result.rows[i]['mse']:.2e}", n_cols=4,
                          outputs=True)
    batch_results.inspect(result, worst, source)
