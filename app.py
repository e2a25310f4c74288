"""EquiScope: `streamlit run app.py`. Page config, navigation, the image list, the models panel, the shared
link and the settings each page keeps."""

import streamlit as st

from ui import image_list_sidebar, models, resources, share, state
from ui.errors import sentence
from ui.hosting import is_hosted

st.set_page_config(page_title="EquiScope", page_icon=":telescope:", layout="wide")

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/reconstruct.py", title="Reconstruct", icon=":material/compare:"),
    st.Page("pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
    st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("pages/equivariance.py", title="Equivariance lab", icon=":material/rotate_right:"),
    st.Page("pages/lenses.py", title="Lenses", icon=":material/blur_circular:"),
    st.Page("pages/batch.py", title="Batch evaluation", icon=":material/fact_check:"),
    st.Page("pages/superres.py", title="Super-resolution", icon=":material/zoom_in:"),
]
if not is_hosted():  # a public demo does not train on the shared server
    PAGES.append(st.Page("pages/train.py", title="Train", icon=":material/model_training:"))

page = st.navigation(PAGES)
share.restore(PAGES, page)  # a shared link's page, image and settings, once per session
state.restore_settings(share.page_name(page))  # the page's widgets as the user left them
image_list_sidebar.sidebar()
models.panel()  # which checkpoints load on this server, and why not
share.note(page)  # what a copied link reopens (never an uploaded file)
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - the last guard: one sentence on the page, the traceback in the log
    st.error(sentence(exc))
finally:
    state.remember_settings(share.page_name(page))
    share.publish(page)  # the address bar now reopens this view
    resources.freeze_after_imports()  # Streamlit's full garbage collection after each run then skips the libraries
