"""Data: upload files or zips, pick a shipped example or simulate one; all join the image list (sidebar)."""

import streamlit as st

from ui import examples_tab, simulate_tab, state, upload_tab

st.title("Data")
badge = st.container()  # filled last: a "Use this image" in this run may change the current image
upload, examples, simulate = st.tabs(["Upload", "Examples", "Simulate"])
with upload:
    upload_tab.draw()
with examples:
    examples_tab.draw()
with simulate:
    simulate_tab.draw()
state.current_image_badge(badge)
