"""EquiScope: `streamlit run app.py`. Page config and navigation only."""

import streamlit as st

st.set_page_config(page_title="EquiScope", page_icon=":telescope:", layout="wide")

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
]

st.navigation(PAGES).run()
