import streamlit as st

st.title("Data")
st.info("Upload and simulation arrive with the I/O and simulator work.")
