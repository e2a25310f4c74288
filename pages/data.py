"""Data: upload files or zips, pick a shipped example or simulate one; all join the image list (sidebar)."""

import streamlit as st

from ui import data_panels, state

st.title("Data")
badge = st.container()  # filled last: a "Use this image" in this run may change the current image
upload, examples, simulate = st.tabs(["Upload", "Examples", "Simulate"])
with upload:
    data_panels.upload_tab()
with examples:
    data_panels.examples_tab()
with simulate:
    data_panels.simulate_tab()
state.current_image_badge(badge)
