"""The Data page's parts: the current image's panel, and the Upload / Examples / Simulate tabs.

Every image the user takes (an upload, a file of an uploaded zip, an example, a simulation) joins
the session's image list (ui.image_list), shown in the sidebar of every page. Uploads are read
from their bytes only (`core.io.read_image(bytes, name)`): a file name a user sends is a label,
never a path on this server. The uploader is a drop zone: once its files are in the list it is
emptied, so the list is the one place that says what the session holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np
import streamlit as st

from core import paths
from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS, LoadedImage, fits_bytes, read_image
from core.io.archive import is_zip, zip_images
from core.settings import settings
from ui import image_list, viewer, widgets
from ui.errors import call
from ui.images import pixel_statistics
from ui.markdown import markdown_table, md_escape

EXAMPLES_DIR = paths.EXAMPLES_DIR
UPLOAD_TYPES = [ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS] + ["gz", "zip"]  # gz: gzipped FITS / .npy
UPLOAD_GEN_KEY = "data_upload_gen"  # the uploader's key is data_upload_<gen>: a new gen empties it
MESSAGES_KEY = "data_upload_messages"  # (level, text) of the last upload, shown under the uploader
USE_MESSAGE_KEY = "data_use_message"  # (tab, text): "Use this image" refused
HEADER_ROWS_SHOWN = 12  # a longer header scrolls inside a box of fixed height
MAX_ERRORS_SHOWN = 5
SUM = "sum of bands"
KIND_NAMES = {"disk": "a protoplanetary disk", "lens": "a strong lens", "other": "something else"}


# ---------------------------------------------------------------- one image


def guess_kind(meta, label: str | None = None) -> str | None:
    """A first guess of what an image shows: a lens or disk class folder decides; else FITS with a
    beam or Jy -> disk, a .npy -> lens."""
    from core.data.datasets import DISK_CLASSES, LENS_CLASSES

    if label in LENS_CLASSES:
        return "lens"
    if label in DISK_CLASSES:
        return "disk"
    if meta.beam is not None or (meta.bunit or "").lower().startswith("jy"):
        return "disk"
    if meta.source_format in ("npy", "npz"):
        return "lens"
    return "disk" if meta.source_format == "fits" else None


def _fmt(value: float | None, unit: str, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g} {unit}".strip()


def facts_rows(meta, shape: tuple[int, int]) -> list[tuple[str, str]]:
    """What the file says about itself: format, shapes, units, pixel scale, beam, WCS, filled pixels."""
    beam = "—"
    if meta.beam is not None:
        bmaj, bmin, bpa = meta.beam
        beam = f'{bmaj:.4g}" × {bmin:.4g}", PA {bpa:.4g}°'
    where = f"HDU {meta.hdu_index}" if meta.hdu_index is not None else ""
    if meta.n_planes > 1:
        where += f"{', ' if where else ''}plane {meta.plane if meta.plane is not None else 'sum'} of {meta.n_planes}"
    rows = [
        ("format", meta.source_format.upper() + (f" ({where})" if where else "")),
        ("stored shape / type", f"{meta.original_shape} {meta.original_dtype}"),
        ("image shown", f"{shape[0]} × {shape[1]} px, float32"),
        ("unit (BUNIT)", meta.bunit or "—"),
        ("pixel scale", _fmt(meta.pixel_scale_arcsec, "arcsec/px")),
        ("beam (FWHM)", beam),
        ("sky coordinates (WCS)", "yes" if meta.has_wcs else "no"),
        (
            "NaN/Inf pixels filled",
            f"{meta.n_nonfinite:,}"
            + ("" if meta.fill_value is None else f" with {meta.fill_value:.4g}"),
        ),
    ]
    return rows


def search_cards(cards, query: str) -> list:
    """The header cards whose keyword, value or comment contains `query` (case-insensitive)."""
    query = query.strip().lower()
    if not query:
        return list(cards)
    return [card for card in cards if any(query in str(part).lower() for part in card)]


def header_panel(cards, key: str) -> None:
    """The FITS header: collapsed, with a search box; a long header scrolls in a box of fixed height."""
    with st.expander(f"FITS header ({len(cards)} cards)", expanded=False):
        query = st.text_input("Search the header", key=f"{key}-header-q", placeholder="keyword, value or comment",
                              help="For example BMAJ, CDELT or a word of a comment.")
        rows = search_cards(cards, query)
        if query.strip():
            st.caption(f"{len(rows)} of {len(cards)} cards match.")
        if not rows:
            return
        box = st.container(height=420) if len(rows) > HEADER_ROWS_SHOWN else st.container()
        box.markdown(markdown_table(rows, ("keyword", "value", "comment")))


def image_panel(loaded: LoadedImage, key: str, name: str, *, kind: str | None, kind_fixed: bool = False,
                selectors: Callable[[], None] | None = None, current: bool = False,
                on_use: Callable | None = None, use_args: tuple = (), on_kind: Callable | None = None) -> None:
    """Stretch chooser, image with colour bar, facts, statistics, header, and the actions.

    `selectors` draws extra widgets (HDU / plane) under the image; `kind` is the preselected image
    kind ("disk", "lens" or None), fixed for examples and simulations. `on_use(*use_args)` adds the
    image to the list as the current one ("Use this image"); `on_kind(kind)` relabels it.
    """
    meta, data = loaded.meta, loaded.data
    left, right = st.columns([3, 2], gap="medium")
    with left:
        cut, problem = None, None
        if kind == "disk":
            try:
                cut = disk_cutout(data, meta.pixel_scale_arcsec, meta.fill_value, widgets.shared_cutout_box())
            except ValueError as exc:  # e.g. a box in arcsec without a pixel scale: said under the box, not as an error
                problem = str(exc)
        viewer.show(data, key=key, meta=meta, bunit=meta.bunit,  # zoom, cuts, colour maps, WCS hover, beam
                    box=cut["box"] if cut else None, box_label=f"cutout ({cut['source']})" if cut else "cutout")
        if kind == "disk":
            widgets.cutout_box(f"{key}-box")
            if cut:
                st.caption("The dashed square is what the disk models see (Reconstruct uses the same box): "
                           + " ".join(cut["notes"][-2:-1]))
            elif problem:
                st.caption(f"No cutout box: {problem}")
        if selectors is not None:
            selectors()
    with right:
        st.markdown(markdown_table(facts_rows(meta, data.shape), ("file", "value")))
        unit = f" ({meta.bunit})" if meta.bunit else ""
        stats = [(stat, f"{value:.4g}") for stat, value in pixel_statistics(data).items()]
        st.markdown(markdown_table(stats, ("pixel statistics" + unit, "value")))
    for note in meta.notes:
        st.caption(note)
    if meta.header:
        header_panel(meta.header, key)
    a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
    kind_key = f"{key}-kind"
    options = ["disk", "lens", "other"]
    a.selectbox("This image shows", options, index=options.index(kind or "other"), key=kind_key,
                disabled=kind_fixed, format_func=KIND_NAMES.get,
                on_change=(lambda: on_kind(_kind_value(kind_key))) if on_kind else None)  # fmt: skip
    if on_use is not None or current:
        b.button("Current image ✓" if current else "Use this image", key=f"{key}-use", type="primary",
                 disabled=current, on_click=on_use, args=use_args,
                 help="Adds it to the image list (sidebar) as the current image: every other page works on it.")  # fmt: skip
    stem = PurePosixPath(name).name.rsplit(".", 1)[0]
    c.download_button("Download as FITS", lambda: fits_bytes(data, meta.header), file_name=f"{stem}.fits",
                      mime="application/fits", key=f"{key}-download", on_click="ignore",
                      help="The image shown (float32, NaN/Inf filled) with the original header cards.")  # fmt: skip


@st.cache_data(max_entries=32, show_spinner=False)
def disk_cutout(data: np.ndarray, pixel_scale_arcsec: float | None, fill_value: float | None,
                box: tuple | None) -> dict:
    """The square a disk model sees (core.data.cutout, as the Reconstruct page cuts it): {box, source, notes};
    `box` is the user's (side, unit, _, _, distance_pc) or None (automatic)."""
    from core.analysis.reconstruct import valid_pixels
    from core.data.cutout import CutoutBox, cutout

    user = CutoutBox(box[0], box[1], None, box[4]) if box is not None else None
    cut = cutout(data, box=user, pixel_scale_arcsec=pixel_scale_arcsec, mask=valid_pixels(data, fill_value))
    return {"box": cut.box, "source": cut.source, "notes": cut.notes}


def _kind_value(kind_key: str) -> str | None:
    kind = st.session_state.get(kind_key)
    return None if kind == "other" else kind


# ---------------------------------------------------------------- Upload tab


def _read(raw: bytes, name: str, hdu: int | None = None, plane: int | None = None) -> LoadedImage:
    try:
        return read_image(raw, name, hdu=hdu, plane=plane, max_pixels=settings().max_pixels)
    except MemoryError as exc:
        raise InputError(f"{name} needs more memory than this server has; upload a smaller image.") from exc


def _add_upload(raw: bytes, file_name: str, shown_name: str, label: str | None) -> image_list.Entry:
    """Read one uploaded file (or zip member) and add it to the list, not yet current."""
    loaded = _read(raw, file_name)
    meta = loaded.meta
    several = meta.n_planes > 1 or len(meta.image_hdus) > 1
    identity = f"upload:{shown_name}:{hashlib.sha256(raw).hexdigest()}"
    return image_list.add_image(loaded, shown_name, kind=guess_kind(meta, label), source="upload", label=label,
                                raw=raw if several else None, origin={"file": file_name}, identity=identity,
                                make_current=False)


def _zip_label(folder: str) -> str | None:
    """A class label from the innermost folder of a zip member or of a folder upload (DeepLense names mapped)."""
    from core.data.datasets import canonical_class

    return canonical_class(PurePosixPath(folder).name) if folder else None


def ingest(files) -> tuple[list[image_list.Entry], list[tuple[str, str]]]:
    """Add uploaded files (name, bytes getter) and the image files of uploaded zips to the list.

    Returns (entries added or found, messages as (level, text)). A bad file gets its one sentence and
    the others still go in; once the list is full the rest are counted in one message.
    """
    added: list[image_list.Entry] = []
    errors: list[str] = []
    refused: list[str] = []
    for name, getvalue in files:
        if refused:
            refused.append(name)
            continue
        try:
            if not is_zip(name):  # a folder upload names files by their path in the folder
                folder, _, base = name.replace("\\", "/").rpartition("/")
                added.append(_add_upload(getvalue(), base, name, _zip_label(folder)))
                continue
            archive = zip_images(getvalue(), name)
            for k, member in enumerate(archive.members):
                try:
                    added.append(_add_upload(archive.read(member), member.name, f"{name}/{member.path}",
                                             _zip_label(member.folder)))
                except InputError as exc:
                    if image_list.room_left() == 0:
                        refused += [f"{name}/{m.path}" for m in archive.members[k:]]
                        break
                    errors.append(str(exc))
        except InputError as exc:
            if image_list.room_left() == 0:
                refused.append(name)
            else:
                errors.append(str(exc))
    messages = [("error", md_escape(text)) for text in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        messages.append(("error", f"{len(errors) - MAX_ERRORS_SHOWN} more files could not be read."))
    if refused:
        cap = settings().max_files_per_session
        first = md_escape(refused[0]) + (f" and {len(refused) - 1} more files" if len(refused) > 1 else "")
        messages.append(("error", f"{first} not added: the image list holds {cap} images, the limit of this "
                                  "session; remove some (✕ in the sidebar) to make room, then upload again."))
    return added, messages


def _on_upload(widget_key: str) -> None:
    """The uploader's callback: files into the list, the first new one current, the uploader emptied."""
    files = st.session_state.get(widget_key) or []
    added, messages = ingest([(f.name, f.getvalue) for f in files])
    if added:
        image_list.select(added[0].id)
        labelled = sum(1 for e in added if e.label)
        messages.insert(0, ("info", f"{len(added)} image{'s' if len(added) > 1 else ''} in the list"
                                    + (f" ({labelled} with a class label from their folder)" if labelled else "")
                                    + "; click one in the sidebar to make it current."))
    st.session_state[MESSAGES_KEY] = messages
    st.session_state[UPLOAD_GEN_KEY] = st.session_state.get(UPLOAD_GEN_KEY, 0) + 1


def _forget_plane(key: str) -> None:
    """Another HDU may have other planes (or none): start again from its default."""
    for suffix in ("-plane", "-bands"):
        st.session_state.pop(f"{key}{suffix}", None)


def _reread(entry_id: str, key: str, hdu_changed: bool = False) -> None:
    """The current upload read again with the HDU / plane its selectors now show."""
    entry = image_list.current_entry()
    if entry is None or entry.id != entry_id or entry.raw is None:
        return
    if hdu_changed:
        _forget_plane(key)
    hdu = st.session_state.get(f"{key}-hdu")
    choice = st.session_state.get(f"{key}-plane")
    plane = None if choice in (None, SUM) else int(choice)
    try:
        image_list.update_current(_read(entry.raw, entry.origin.get("file", entry.name), hdu, plane))
    except InputError as exc:
        st.session_state[MESSAGES_KEY] = [("error", md_escape(str(exc)))]


def _plane_selectors(entry: image_list.Entry, key: str) -> Callable[[], None]:
    meta = entry.loaded.meta

    def draw() -> None:
        cols = st.columns(2)
        if len(meta.image_hdus) > 1:
            st.session_state.setdefault(f"{key}-hdu", meta.hdu_index)
            cols[0].selectbox("FITS HDU", meta.image_hdus, key=f"{key}-hdu", on_change=_reread,
                              args=(entry.id, key, True))  # fmt: skip
        if meta.n_planes > 1:
            if meta.plane is None:  # read without a plane and not a cube: bands that can be summed
                st.session_state[f"{key}-bands"] = True
            bands = st.session_state.get(f"{key}-bands", False)
            options = ([SUM] if bands else []) + list(range(meta.n_planes))
            st.session_state[f"{key}-plane"] = SUM if meta.plane is None else meta.plane
            cols[1].selectbox("Plane" if not bands else "Band", options, key=f"{key}-plane",
                              on_change=_reread, args=(entry.id, key))  # fmt: skip

    return draw


def upload_panel(entry: image_list.Entry) -> None:
    """The current upload: its name with folder / zip path, the image panel, its plane selectors."""
    key = f"up-{entry.id}"
    with st.container(border=True):
        st.markdown(f"**{md_escape(entry.name)}**" + (f" · class `{entry.label}`" if entry.label else ""))
        image_panel(entry.loaded, key, entry.name, kind=entry.kind, current=True,
                    selectors=_plane_selectors(entry, key) if entry.raw is not None else None,
                    on_kind=lambda kind: image_list.update_current(kind=kind))  # fmt: skip
        st.button("Remove from the list", key=f"{key}-remove", on_click=image_list.remove, args=(entry.id,),
                  type="tertiary")


def upload_tab() -> None:
    limits = settings()
    gen = st.session_state.setdefault(UPLOAD_GEN_KEY, 0)
    widget_key = f"data_upload_{gen}"
    st.file_uploader(
        "Drop FITS, NumPy or image files, or a zip of them", type=UPLOAD_TYPES, accept_multiple_files=True,
        key=widget_key, on_change=_on_upload, args=(widget_key,), max_upload_size=limits.max_upload_mb,
        help=f"Up to {limits.max_upload_mb} MB per file; the image list holds {limits.max_files_per_session} images. "
        "A zip may hold one folder per class (DeepLense's no/sphere/vort or no_sub/cdm/vortex): the folder "
        "becomes the image's label. FITS cubes and multi-band arrays let you pick a plane.",
    )  # fmt: skip
    folder_key = f"data_folder_{gen}"
    with st.expander("Or upload a whole folder (its sub-folders become class labels)"):
        st.file_uploader("Folder of images", type=UPLOAD_TYPES, accept_multiple_files="directory", key=folder_key,
                         on_change=_on_upload, args=(folder_key,), max_upload_size=limits.max_upload_mb,
                         label_visibility="collapsed")  # fmt: skip
    for level, text in st.session_state.get(MESSAGES_KEY, []):
        (st.error if level == "error" else st.caption)(text)
    entry = image_list.current_entry()
    if entry is not None and entry.source == "upload":
        upload_panel(entry)
    else:
        n = sum(1 for e in image_list.image_list() if e.source == "upload")
        st.caption(f"{n} uploaded images are in the list (sidebar): click one to show it here." if n
                   else "Or open the Examples or Simulate tab.")


# ---------------------------------------------------------------- Examples tab


def example_entries() -> list[dict]:
    """Entries of examples/manifest.json whose file exists."""
    manifest = EXAMPLES_DIR / "manifest.json"
    if not manifest.exists():
        return []
    entries = json.loads(manifest.read_text()).get("examples", [])
    return [e for e in entries if (EXAMPLES_DIR / e["file"]).is_file()]


def example_identity(file: str) -> str:
    return f"example:{file}"


def add_example(file: str) -> image_list.Entry:
    """The shipped example `file` (a name in examples/manifest.json) into the list as the current image."""
    entries = {e["file"]: e for e in example_entries()}
    if file not in entries:
        raise InputError(f"There is no shipped example named {file!r}; pick one on the Data page.")
    entry = entries[file]
    loaded = read_image(EXAMPLES_DIR / file)
    return image_list.add_image(loaded, file, kind=entry.get("kind"), source="example", identity=example_identity(file),
                                origin={"example": file, "widgets": {"data_example": entry["title"]}})


def _use(tab: str, add: Callable, *args) -> None:
    """A "Use this image" callback: add to the list; a refusal (list full) is shown in its tab."""
    try:
        add(*args)
        st.session_state.pop(USE_MESSAGE_KEY, None)
    except InputError as exc:
        st.session_state[USE_MESSAGE_KEY] = (tab, md_escape(str(exc)))


def _current_identity() -> str | None:
    entry = image_list.current_entry()
    return entry.identity if entry is not None else None


def _refusal_here(tab: str) -> None:
    """A refusal of "Use this image" (list full) shown in the tab where the user clicked."""
    where, text = st.session_state.get(USE_MESSAGE_KEY) or (None, "")
    if where == tab:
        st.error(text)


def examples_tab() -> None:
    entries = example_entries()
    if not entries:
        st.info(
            "No example files are shipped in this build; run `python -m examples.make_examples`."
        )
        return
    titles = [e["title"] for e in entries]
    title = st.selectbox("Example", titles, key="data_example")
    entry = entries[titles.index(title)]
    st.caption(entry.get("description", ""))
    _refusal_here("examples")
    loaded = call(read_image, EXAMPLES_DIR / entry["file"], stop=False)
    if loaded is not None:
        image_panel(loaded, f"ex-{entry['file']}", entry["file"], kind=entry.get("kind"), kind_fixed=True,
                    current=_current_identity() == example_identity(entry["file"]),
                    on_use=_use, use_args=("examples", add_example, entry["file"]))  # fmt: skip


# ---------------------------------------------------------------- Simulate tab


@st.cache_data(max_entries=32, show_spinner="Simulating…")
def _simulate(kind: str, params_json: str, extra_json: str) -> LoadedImage:
    from core.data.simulated import disk_image, lens_image

    params, extra = json.loads(params_json), json.loads(extra_json)
    if kind == "disk":
        from core.data.disks import DiskParams

        return disk_image(DiskParams.from_dict(params), **extra)[0]
    from core.data.lenses import LensParams

    return lens_image(LensParams.from_dict(params), **extra)[0]


class _Values:
    """Stands in for `st` in the simulation controls: each widget returns its value from a dict
    (a shared link's parameters, a list entry) or its default, and draws nothing."""

    def __init__(self, values: dict):
        self.values = values

    def columns(self, spec, **_):
        return [self] * (spec if isinstance(spec, int) else len(spec))

    def slider(self, label, min_value, max_value, value, step=None, *, key, **_):
        return type(value)(self.values.get(key, value))

    def number_input(self, label, min_value, max_value, value, *, key, **_):
        return type(value)(self.values.get(key, value))

    def selectbox(self, label, options, index=0, *, key, **_):
        chosen = self.values.get(key, options[index])
        if chosen not in options:
            raise InputError(f"{chosen!r} is not a choice of '{label}'; use one of {', '.join(map(str, options))}.")
        return chosen

    def caption(self, *_, **__):
        return None


def _disk_controls(ui) -> tuple[dict, dict]:
    from core.data.disks import DiskParams

    d = DiskParams()
    c1, c2, c3 = ui.columns(3)
    n = c1.slider("Planets", 0, 3, 1, key="sim_disk_n")
    radii, masses = [], []
    for k in range(n):
        radii.append(c2.slider(f"Planet {k + 1} orbit (au)", 10.0, 150.0, [35.0, 70.0, 100.0][k], 1.0,
                               key=f"sim_disk_r{k}"))  # fmt: skip
        masses.append(c3.slider(f"Planet {k + 1} mass (M_Jup)", 0.1, 10.0, [1.0, 2.0, 0.5][k], 0.1,
                                key=f"sim_disk_m{k}"))  # fmt: skip
    c1, c2, c3, c4, c5 = ui.columns(5)
    fov_au = c5.slider("Field of view (au)", 100.0, 400.0, 220.0, 10.0, key="sim_disk_fov",
                       help=f"Image width at {d.distance_pc:g} pc; sets the pixel scale of the 129-px image.")  # fmt: skip
    params = {
        **d.to_dict(),
        "pixel_scale_arcsec": fov_au / d.distance_pc / 129,
        "planet_radii_au": radii,
        "planet_masses_mjup": masses,
        "planet_azimuths_deg": [90.0 * k for k in range(n)],
        "inclination_deg": c1.slider("Inclination (deg)", 0.0, 80.0, 30.0, 1.0, key="sim_disk_inc"),
        "position_angle_deg": c2.slider("Position angle (deg)", 0.0, 180.0, 30.0, 1.0, key="sim_disk_pa"),
        "beam_fwhm_arcsec": c3.slider("Beam FWHM (arcsec)", 0.02, 0.2, 0.04, 0.01, key="sim_disk_beam"),
        "snr": c4.slider("Peak SNR", 5.0, 200.0, 50.0, 5.0, key="sim_disk_snr"),
    }
    params.pop("n_planets", None)
    seed = ui.columns(5)[0].number_input("Noise seed", 0, 10**6, 0, key="sim_disk_seed")
    return params, {"size": 129, "seed": int(seed)}


def _lens_controls(ui) -> tuple[dict, dict]:
    from core.data.lenses import SUBSTRUCTURES, LensParams

    c1, c2, c3 = ui.columns(3)
    theta_e = c1.slider("Einstein radius θ_E (arcsec)", 0.5, 2.0, 1.2, 0.05, key="sim_lens_theta")
    ellipticity = c2.slider("Ellipticity |e|", 0.0, 0.4, 0.1, 0.01, key="sim_lens_e")
    e_angle = np.radians(c3.slider("Ellipticity angle (deg)", 0.0, 180.0, 0.0, 5.0, key="sim_lens_phi"))
    c1, c2, c3 = ui.columns(3)
    shear = c1.slider("External shear |γ|", 0.0, 0.2, 0.03, 0.01, key="sim_lens_g")
    g_angle = np.radians(c2.slider("Shear angle (deg)", 0.0, 180.0, 45.0, 5.0, key="sim_lens_gphi"))
    snr = c3.slider("SNR", 5.0, 100.0, 25.0, 1.0, key="sim_lens_snr")
    c1, c2, c3 = ui.columns(3)
    substructure = c1.selectbox("Substructure", SUBSTRUCTURES, index=1, key="sim_lens_sub",
                                format_func={"no_sub": "none", "cdm": "CDM subhalos", "vortex": "vortex"}.get)  # fmt: skip
    amount = None
    if substructure == "cdm":
        amount = c2.slider("Number of subhalos", 1, 20, 5, key="sim_lens_n")
    elif substructure == "vortex":
        c2.caption("The vortex line's mass, length and position are drawn from the seed.")
    seed = c3.number_input("Seed", 0, 10**6, 0, key="sim_lens_seed")
    params = {
        **LensParams().to_dict(),
        "theta_E_arcsec": theta_e,
        "e1": float(ellipticity * np.cos(2 * e_angle)),
        "e2": float(ellipticity * np.sin(2 * e_angle)),
        "gamma1": float(shear * np.cos(2 * g_angle)),
        "gamma2": float(shear * np.sin(2 * g_angle)),
        "snr": snr,
    }
    return params, {"substructure": substructure, "n_subhalos": amount, "seed": int(seed), "size": 150}


CONTROLS = {"disk": _disk_controls, "lens": _lens_controls}


def sim_name(kind: str, params: dict, extra: dict) -> str:
    """simulated_lens_vortex_seed7.fits, simulated_disk_2_planets_seed0.fits"""
    detail = f"{len(params['planet_radii_au'])}_planets" if kind == "disk" else extra["substructure"]
    return f"simulated_{kind}_{detail}_seed{extra['seed']}.fits"


def sim_widget_values(kind: str) -> dict:
    """The simulation controls' current values ({widget key: value}) of one kind."""
    prefix = f"sim_{kind}_"
    return {k: st.session_state[k] for k in sorted(st.session_state) if str(k).startswith(prefix)}


def add_simulation(kind: str, values: dict, make_current: bool = True) -> image_list.Entry:
    """The simulated image of these control values ({widget key: value}; missing ones take their
    defaults) into the list; the same values give the same entry."""
    if kind not in CONTROLS:
        raise InputError(f"Simulations are of a 'disk' or a 'lens', not {kind!r}.")
    params, extra = CONTROLS[kind](_Values(values))
    params_json, extra_json = json.dumps(params, sort_keys=True), json.dumps(extra, sort_keys=True)
    loaded = _simulate(kind, params_json, extra_json)
    return image_list.add_image(
        loaded, sim_name(kind, params, extra), kind=kind, source="simulation",
        identity=f"sim:{kind}:{params_json}:{extra_json}", make_current=make_current,
        origin={"sim": kind, "widgets": {"sim_kind": kind, **values}},
    )


def simulate_tab() -> None:
    kind = st.radio("Simulate", ["disk", "lens"], horizontal=True, key="sim_kind",
                    format_func={"disk": "a protoplanetary disk", "lens": "a strong lens"}.get)  # fmt: skip
    params, extra = CONTROLS[kind](st)
    try:
        params_json, extra_json = json.dumps(params, sort_keys=True), json.dumps(extra, sort_keys=True)
        loaded = _simulate(kind, params_json, extra_json)
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    _refusal_here("simulate")
    values = sim_widget_values(kind)
    identity = f"sim:{kind}:{params_json}:{extra_json}"
    image_panel(loaded, f"sim-{kind}", sim_name(kind, params, extra), kind=kind, kind_fixed=True, current=_current_identity() == identity,
                on_use=_use, use_args=("simulate", add_simulation, kind, values))
