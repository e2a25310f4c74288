"""The only Streamlit-aware helpers: cached resources, shared widgets, figures."""
