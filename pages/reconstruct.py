"""Reconstruct: original | reconstruction | residual, metrics, equivariant vs CNN, FITS download."""

import streamlit as st

from ui import figures, images, inference, widgets
from ui.errors import call

st.title("Reconstruct")
st.caption("The autoencoder's output for the disk cut out of the current image and put on the model grid, normalised to [0, 1]. "
           "Original and reconstruction share one stretch; the residual is original − reconstruction.")

image = widgets.current_image()
left, right = st.columns(2)
with left:
    eq_entry = widgets.pick_model("autoencoder", equivariant=True, key="recon_model_eq")
with right:
    cnn_entry = widgets.pick_model("autoencoder", equivariant=False, key="recon_model_cnn", required=False)
stretch = widgets.pick_stretch(key="recon_stretch")
box = widgets.cutout_box(key="recon_box")
widgets.warn_if_other_kind(image, widgets.generator_of(eq_entry))

for entry in (eq_entry, cnn_entry):
    if entry is None:
        continue
    st.subheader(entry["name"])
    st.caption(widgets.model_caption(entry))
    meta = image["meta"]
    result = call(inference.reconstruct, entry["name"], entry.get("sha256"), image["data"], meta.pixel_scale_arcsec, meta.bunit,
                  meta.fill_value, box)
    for warning in result["warnings"]:
        st.warning(warning)
    st.caption("Cutout: " + " ".join(result["notes"]))
    limits = images.stretch_limits(result["original"], stretch)  # shared by both
    cols = st.columns(3)
    for col, what, title in [(cols[0], "original", "Original (model grid)"), (cols[1], "reconstruction", "Reconstruction")]:
        col.plotly_chart(images.stretched_figure(result[what], stretch, title, bunit="normalised flux", limits=limits,
                                                 height=360), key=f"{what}_{entry['name']}")
    cols[2].plotly_chart(figures.residual_figure(result["residual"]), key=f"resid_{entry['name']}")
    m = result["metrics"]
    mcols = st.columns(5)
    mcols[0].metric("MSE", f"{m['mse']:.2e}", help="Mean squared error on the [0, 1] grid.")
    mcols[1].metric("PSNR", f"{m['psnr_db']:.1f} dB", help="Peak signal-to-noise ratio for a data range of 1.")
    mcols[2].metric("SSIM", f"{m['ssim']:.3f}", help="Structural similarity, 1 = identical.")
    mcols[3].metric("MS-SSIM", f"{m['ms_ssim']:.3f}", help="Multi-scale SSIM (5 scales), 1 = identical.")
    with mcols[4]:
        widgets.fits_download(result["reconstruction"], image, entry["name"], key=f"fits_{entry['name']}", box=result["box"])
