"""Latent map: t-SNE of a simulated reference set; select points to see them; the current image placed."""

import streamlit as st

from ui import figures, reference, widgets
from ui.errors import call

st.title("Latent map")
st.caption("Each point is one simulated reference image, placed by t-SNE of the model's invariant latent "
           "vector. Box- or lasso-select points to see their images. The current image (star) is placed "
           "into the fixed map without refitting; rings mark its nearest neighbours in latent space.")

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
with c1:
    entry = widgets.pick_model(None, equivariant=None, key="map_model", label="Model")
generator = widgets.generator_of(entry)
colour = c2.radio("Colour by", ["cluster", "true label"], key="map_colour")
method = c3.selectbox("Clustering", ["spectral", "kmeans", "hdbscan"], key="map_method")
k = c4.number_input("Clusters (0 = choose by silhouette)", 0, 12, 0, key="map_k")

bar = st.empty()
ref = widgets.build_with_progress(bar, reference.reference_map, entry["name"], entry.get("sha256"), generator)
found = call(reference.clusters, entry["name"], entry.get("sha256"), generator, method, int(k) or None)

image = widgets.current_image(required=False)
placed = None
if image is not None:
    widgets.warn_if_other_kind(image, generator)
    placed = call(reference.place_images, entry["name"], entry.get("sha256"), generator, [image["data"]], stop=False)

labels = ref.latents.labels
by_cluster = colour == "cluster" or not labels
fig = figures.latent_scatter(
    ref.lmap.coords, found["labels"] if by_cluster else labels, group_title="cluster" if by_cluster else "class",
    hover=reference.hover_texts(ref),
    marked=placed["coords"] if placed else None, marked_label=image["name"] if image else "",
    neighbours=placed["neighbours"][0] if placed else ())
event = st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))

m = st.columns(4)
m[0].metric("Clusters", found["k"])
m[1].metric("Silhouette", f"{found['silhouette']:.3f}", help="−1..1 on the standardised latents; higher = better separated.")
if found["agreement"]:
    m[2].metric("ARI", f"{found['agreement']['ari']:.3f}", help="Adjusted Rand index against the true labels: 0 = chance, 1 = identical.")
    m[3].metric("NMI", f"{found['agreement']['nmi']:.3f}", help="Normalised mutual information with the true labels, 0..1.")
for note in ref.notes:
    st.caption(note)

selected = widgets.selected_indices(event)
if placed is not None and not selected:
    st.subheader(f"Nearest neighbours of {image['name']}")
    widgets.gallery(ref, placed["neighbours"][0])
if selected:
    st.subheader(f"{len(selected)} selected images")
    widgets.gallery(ref, selected)

st.download_button("Download the map as CSV", reference.table(ref, found["labels"]).to_csv(index=False),
                   file_name=f"latent_map_{entry['name']}_{generator}.csv", mime="text/csv", key="map_csv")
