"""Latent map: t-SNE beside PCA of a reference set; the current image, uploads and the image list placed;
neighbours; the clicked point's picture and the current image's familiarity beside the maps; search."""

from contextlib import nullcontext

import streamlit as st

from ui import disk_input, figures, label_map, map_placements, models, reference, state, widgets
from ui.errors import call
from ui.jobs import fingerprint, heavy_job
from ui.markdown import md_escape
from ui.share import stop_page

st.title("Latent map")
st.caption("Each point is one simulated reference image, placed by t-SNE (left) and by PCA (right, linear: "
           "distances mean the same everywhere) of the model's invariant latent vector. Lasso or box a point to "
           "see its image beside the maps (or click it in the toolbar's Pan or Zoom mode); every selected image is "
           "shown below the maps. The current image and any "
           "images you add (stars) are placed into the fixed maps without refitting; numbered rings mark the current "
           "image's nearest neighbours in latent space, the ones listed below. When t-SNE puts a star away from most "
           "of its neighbours, the star is shown among them and a hollow star marks t-SNE's position. Label a few points "
           "(below the maps) and a linear probe colours the whole map by predicted class.")

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
with c1:
    entry = widgets.pick_model(None, equivariant=None, key="map_model", label="Model", extra_kinds=("encoder",))
generator = widgets.generator_of(entry)
linked = state.SETTINGS  # each widget's label and bounds, which a link's values are checked against
colour = c2.radio(linked["map_colour"].label, linked["map_colour"].choices(), key="map_colour")
method = c3.selectbox(linked["map_method"].label, linked["map_method"].choices(), key="map_method")
k = c4.number_input(linked["map_k"].label, **linked["map_k"].bounds(), key="map_k")
s1, s2, s3 = st.columns([1, 2, 1], vertical_alignment="bottom")
query = s1.text_input(linked["map_search"].label, key="map_search", placeholder="e.g. cdm/0001")
uploads = s2.file_uploader("Place more images (each labelled by its file name)", accept_multiple_files=True,
                           key="map_uploads")

if not models.working(entry):  # said under the picker; the settings above stay for the next model
    stop_page()
ref = call(widgets.build_with_progress, st.empty(), reference.reference_map, entry["name"], entry.get("sha256"), generator)
found = call(reference.clusters, entry["name"], entry.get("sha256"), generator, method, int(k) or None)
pca = call(reference.pca_map, entry["name"], entry.get("sha256"), generator)

image = widgets.current_image(required=False)
if image is not None:
    widgets.warn_if_other_kind(image, generator)
listed = map_placements.list_button(s3, generator, image.get("id") if image is not None else None)
placed_names, placed_images = reference.read_uploads(uploads or [])
placed_images = call(disk_input.model_images, entry, [{"data": a, "meta": None} for a in placed_images])
n_uploaded = len(placed_images)
seen = None
if image is not None:  # as every page's model sees it: a disk model's cutout (the shared box), as on Reconstruct
    seen = call(disk_input.model_image, entry, image, stop=False)
    if seen is not None:
        placed_names, placed_images = [image["name"], *placed_names], [seen.data, *placed_images]
placed = None
if placed_images:  # uploads: one heavy job (queued on a hosted demo) unless this session placed them already
    job = ("place", entry["name"], entry.get("sha256"), generator, fingerprint(placed_images))
    with heavy_job("image placement", key=job) if n_uploaded else nullcontext():
        placed = call(reference.place_images, entry["name"], entry.get("sha256"), generator, placed_images, stop=False)
list_placed = map_placements.place_list(entry, generator, listed)
matches = reference.search(ref, query)

lab = label_map.labelling(entry, ref)
groups, view = label_map.colouring(lab, colour, found["labels"], ref.latents.labels, reference.hover_texts(ref))
current = placed is not None and seen is not None
common = {**view, "marked_label": placed_names[0] if len(placed_names) == 1 else "placed images",
          "marked_text": placed_names, "labelled_text": lab.overlay("tsne")[1], "highlighted": matches,
          "neighbours": placed["neighbours"][0] if current else (), "height": 520}
overlay = {"placed": placed, "names": placed_names, "current": current, "listed": listed, "list_placed": list_placed}
left, right, side = st.columns([5, 5, 2])
with left:
    fig = figures.latent_scatter(ref.lmap.coords, groups, marked=placed["coords"] if placed else None,
                                 labelled=lab.overlay("tsne")[0], **common)
    map_placements.overlay(fig, ref, "coords", ref.lmap.coords, **overlay)
    event = st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))
with right:
    ex = pca.explained
    fig = figures.latent_scatter(pca.coords, groups, marked=placed["pca"] if placed else None,
                                 labelled=lab.overlay("pca")[0],
                                 axis_titles=(f"PC 1 ({100 * ex[0]:.0f} % of the variance)",
                                              f"PC 2 ({100 * ex[1]:.0f} % of the variance)"), **common)
    map_placements.overlay(fig, ref, "pca", pca.coords, **overlay)
    event_pca = st.plotly_chart(fig, key="map_pca", on_select="rerun", selection_mode=("points", "box", "lasso"))
selected = sorted(set(widgets.selected_indices(event)) | set(widgets.selected_indices(event_pca)))
map_placements.side_panel(side, ref, selected, image, placed, entry, generator)
map_placements.placement_notes(placed, current, list_placed)
if current and seen.brightness_note:  # linear or figure-like, as every disk page says it
    st.caption(disk_input.brightness_line(seen.brightness_note))

m = st.columns(4)
m[0].metric("Clusters", found["k"])
m[1].metric("Silhouette", f"{found['silhouette']:.3f}", help="−1..1 on the standardised latents; higher = better separated.")
if found["agreement"]:
    m[2].metric("ARI", f"{found['agreement']['ari']:.3f}", help="Adjusted Rand index against the true labels: 0 = chance, 1 = identical.")
    m[3].metric("NMI", f"{found['agreement']['nmi']:.3f}", help="Normalised mutual information with the true labels, 0..1.")
for note in ref.notes:
    st.caption(note)

if current:
    st.subheader(f"Nearest neighbours of {md_escape(image['name'])}")
    reference.neighbour_gallery(ref, image["data"], image["name"], placed["neighbours"][0], placed["distances"][0],
                                n_cols=len(placed["neighbours"][0]) + 1)
if query:
    st.subheader(f"{len(matches)} reference images match “{md_escape(query)}”")
    if matches:
        widgets.gallery(ref, matches)
if selected:
    st.subheader(f"{len(selected)} selected images")
    widgets.gallery(ref, selected)
label_map.panel(lab, ref, pca, entry, generator, selected, (placed_names, placed_images))

table = label_map.with_predictions(reference.table(ref, found["labels"], pca.coords), lab)
st.download_button("Download the map as CSV", table.to_csv(index=False),
                   file_name=f"latent_map_{entry['name']}_{generator}.csv", mime="text/csv", key="map_csv")
if placed is not None or list_placed is not None:
    st.dataframe(map_placements.placed_table(placed, placed_names, current, list_placed, listed, entry, generator),
                 key="map_placed", hide_index=True)
