"""EquiScope core: data, models, training and analysis. Never imports streamlit."""

__version__ = "0.1.0"
