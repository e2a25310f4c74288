"""Super-resolution: an LR image in; bicubic | equivariant | baseline x2 out; the HR image when known."""

from contextlib import nullcontext

import streamlit as st

from core.io import SUPPORTED_EXTENSIONS, read_image
from core.settings import settings
from ui import image_figures, images, models, state, superres, widgets
from ui.errors import call
from ui.jobs import fingerprint, heavy_job
from ui.share import stop_page

st.title("Super-resolution")
st.caption("x2 upscaling of a low-resolution (LR) image: bicubic, the D4-equivariant network and a plain-CNN baseline. "
           "Each model sees the LR image normalised by its own range and answers on the same flux scale. Scores against a "
           "known high-resolution (HR) image scale both by the HR image's range to [0, 1].")

linked = state.SETTINGS  # each widget's label and bounds, which a link's values are checked against
source = st.radio(linked["sr_source"].label, linked["sr_source"].choices(), key="sr_source",
                  horizontal=True, help="The simulated pair renders one sky through the HR instrument (64 px, 0.101\", noiseless) "
                                        "and a 2x coarser one (32 px, 0.202\", PSF FWHM 0.32\", Euclid noise): core.data.pairs.")
hr = None
if source.startswith("Simulated"):
    c1, c2 = st.columns(2)
    seed = c1.number_input(linked["sr_seed"].label, **linked["sr_seed"].bounds(), key="sr_seed")
    sub = c2.selectbox(linked["sr_sub"].label, linked["sr_sub"].choices(), key="sr_sub")
    lr, hr = call(superres.simulated_pair, int(seed), sub)
    name = f"simulated_pair_seed{seed}"
elif source == "Current image":
    image = widgets.current_image()
    lr, name = image["data"], image["name"]
else:
    up = st.file_uploader("LR image", type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS], key="sr_lr_upload")
    if up is None:
        st.info("Upload a low-resolution image (FITS, .npy, PNG, ...).")
        stop_page()
    lr, name = call(read_image, up.getvalue(), up.name, max_pixels=settings().max_pixels).data, up.name
if hr is None:
    hr_up = st.file_uploader("HR image (optional, exactly twice the LR size)", type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
                             key="sr_hr_upload")
    hr = call(read_image, hr_up.getvalue(), hr_up.name, max_pixels=settings().max_pixels).data if hr_up is not None else None
hr = call(superres.check_hr, lr, hr)
lr, hr, note = superres.crop_pair(lr, hr)
if note:
    st.caption(note)

left, right = st.columns(2)
with left:
    eq_entry = widgets.pick_model("superres", equivariant=True, key="sr_model_eq")
with right:
    base_entry = widgets.pick_model("superres", equivariant=False, key="sr_model_base", required=False)
stretch = widgets.pick_stretch(key="sr_stretch")

outputs = {"bicubic": superres.bicubic(lr)}
entries = []  # the models that load and answer; one that does not said so under its picker
working = models.working(eq_entry, base_entry)
job = (fingerprint([lr]), *[(e["name"], e.get("sha256")) for e in working])  # the results are cached per job
with heavy_job("super-resolution", key=("upscale", *job)) if working else nullcontext():  # queued on a hosted demo
    for entry in working:
        out = models.serve(entry, superres.upscaled, lr)
        if out is not None:
            outputs[entry["name"]] = out
            entries.append(entry)
panels = {f"LR ({lr.shape[1]}×{lr.shape[0]})": lr, **outputs} | ({f"HR ({hr.shape[1]}×{hr.shape[0]})": hr} if hr is not None else {})
limits = images.stretch_limits(hr if hr is not None else outputs["bicubic"], stretch)
cols = st.columns(len(panels))
for col, (title, panel) in zip(cols, panels.items(), strict=True):
    col.plotly_chart(images.stretched_figure(panel, stretch, title, limits=limits, height=300), key=f"sr_{title}")

if hr is not None:
    st.subheader("Against the HR image")
    st.dataframe(superres.scores(outputs, hr), hide_index=True)
    cols = st.columns(len(outputs))
    for col, (method, out) in zip(cols, outputs.items(), strict=True):
        col.plotly_chart(image_figures.residual_figure(out - hr, title=f"{method} − HR", height=300), key=f"sr_res_{method}")
else:
    st.caption("No HR image: upload one of twice the LR size, or use the simulated pair, to see residuals, PSNR and SSIM.")

st.subheader("Rotate the input or rotate the output")
action = st.selectbox(linked["sr_action"].label, linked["sr_action"].choices(), key="sr_action")
flip, angle = superres.GROUP_ACTIONS[action]
cols, checks = st.columns(2), []
with heavy_job("equivariance check", key=("equivariance", action, *job)) if entries else nullcontext():
    for col, entry in zip(cols, entries, strict=False):
        with col:
            checks.append(models.serve(entry, superres.equivariance_check, lr, flip, angle))
for col, entry, check in zip(cols, entries, checks, strict=False):
    if check is None:
        continue
    col.metric(f"{entry['name']}: ‖f(g·x) − g·f(x)‖ / ‖g·f(x)‖", f"{check['relative_error']:.1e}",
               help="Exact equivariance under 90° turns and mirrors gives float rounding (about 1e-7).")
    pair = col.columns(2)
    pair[0].plotly_chart(images.stretched_figure(check["f(g·x)"], stretch, "f(g·x)", limits=limits, height=260),
                         key=f"sr_eq_a_{entry['name']}")
    pair[1].plotly_chart(images.stretched_figure(check["g·f(x)"], stretch, "g·f(x)", limits=limits, height=260),
                         key=f"sr_eq_b_{entry['name']}")
