"""Data: upload files or zips, pick a shipped example or simulate one; all join the image list (sidebar)."""

import streamlit as st

from ui import examples_tab, simulate_tab, state, upload_tab

TABS = {"Upload": upload_tab.draw, "Examples": examples_tab.draw, "Simulate": simulate_tab.draw}
KEPT = ("sim_", "data_example")  # the closed tabs' widgets: their values outlive the runs that do not draw them

st.title("Data")
for key in [k for k in st.session_state if str(k).startswith(KEPT)]:
    st.session_state[key] = st.session_state[key]  # Streamlit forgets an undrawn widget's value unless it is set
badge = st.container()  # filled last: a "Use this image" in this run may change the current image
for tab, draw in zip(st.tabs(list(TABS), key="data_tab", on_change="rerun"), TABS.values()):
    if tab.open:  # only the open tab is drawn: one image panel per run, not three (upload -> map latency)
        with tab:
            draw()
state.current_image_badge(badge)
