"""Reconstruct: original | reconstruction | residual (zoomed together), metrics, familiarity, FITS download."""

import streamlit as st

from core.io.stretch import saw_figures
from ui import blink, disk_input, familiarity, image_figures, inference, models, viewer, widgets

st.title("Reconstruct")
st.caption("The autoencoder's output for the disk cut out of the current image and put on the model grid, normalised to [0, 1]. "
           "Original and reconstruction share one colour scale; the residual is original − reconstruction. "
           "The three panels zoom and pan together (drag a box; double-click to reset).")

image = widgets.current_image()
left, right = st.columns(2)
with left:
    eq_entry = widgets.pick_model("autoencoder", equivariant=True, key="recon_model_eq")
with right:
    cnn_entry = widgets.pick_model("autoencoder", equivariant=False, key="recon_model_cnn", required=False)
view = viewer.controls("recon", contours=True)
box = widgets.cutout_box(key="recon_box")

for entry in models.working(eq_entry, cnn_entry):  # a model that does not load said so under its picker
    st.subheader(entry["name"])
    st.caption(widgets.model_caption(entry))
    if (grid := inference.grid_caption(entry)) is not None:
        st.caption(grid)
    meta = image["meta"]
    result = models.serve(entry, inference.reconstruct, image["data"], meta.pixel_scale_arcsec, meta.bunit,
                          meta.fill_value, box, disk_input.brightness_facts(image), saw_figures(entry))
    if result is None:
        continue
    for warning in result["warnings"]:
        st.warning(warning)
    st.caption(disk_input.cutout_caption(result["notes"], result["brightness"]))  # as every disk page says it
    familiarity.answer_notes(entry, image)
    fig = image_figures.linked_figure([(result["original"], "Original (model grid)"),
                                       (result["reconstruction"], "Reconstruction")],
                                      view, residual=(result["residual"], "Residual (original − reconstruction)"),
                                      bunit="normalised flux", residual_unit="Δ normalised flux", height=430)
    st.plotly_chart(fig, key=f"recon_{entry['name']}", config={"displaylogo": False, "scrollZoom": True})
    if st.toggle("Blink original and reconstruction", key=f"recon_blink_{entry['name']}"):  # in the browser, one scale
        st.plotly_chart(blink.blink_figure(result["original"], result["reconstruction"], view, shared=True, height=430,
                                           names=("original", "reconstruction"), bunits=("normalised flux",) * 2),
                        key=f"recon_blink_fig_{entry['name']}", config={"displaylogo": False, "scrollZoom": True})
    m = result["metrics"]
    mcols = st.columns(5)
    mcols[0].metric("MSE", f"{m['mse']:.2e}", help="Mean squared error on the [0, 1] grid.")
    mcols[1].metric("PSNR", f"{m['psnr_db']:.1f} dB", help="Peak signal-to-noise ratio for a data range of 1.")
    mcols[2].metric("SSIM", f"{m['ssim']:.3f}", help="Structural similarity, 1 = identical.")
    mcols[3].metric("MS-SSIM", f"{m['ms_ssim']:.3f}", help="Multi-scale SSIM (5 scales), 1 = identical.")
    with mcols[4]:
        widgets.fits_download(result["reconstruction"], image, entry["name"], key=f"fits_{entry['name']}", box=result["box"])
