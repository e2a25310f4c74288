"""The Data page's parts: one panel per image, and the Upload / Examples / Simulate tabs.

Uploads are read from their bytes only (`core.io.read_image(bytes, name)`): a file name a user
sends is a label, never a path on this server. Decoded uploads are kept per session (not in a
cache shared between visitors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import streamlit as st

from core import paths
from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS, LoadedImage, fits_bytes, read_image
from core.settings import settings
from ui import state
from ui.errors import call
from ui.images import STRETCH_HELP, STRETCHES, pixel_statistics, stretched_figure

EXAMPLES_DIR = paths.EXAMPLES_DIR
UPLOAD_TYPES = [ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS]
SEEN_KEY = "data_uploads_seen"  # file ids uploaded in this session, in order
DECODED_KEY = "data_uploads_decoded"  # (file id, hdu, plane) -> LoadedImage, this session only
MAX_DECODED_BYTES = 256 * 2**20  # decoded pixels kept per session; older ones are decoded again
SUM = "sum of bands"
MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>$~:]")


# ---------------------------------------------------------------- one image


def guess_kind(meta) -> str | None:
    """A first guess of what an image shows: FITS with a beam or Jy -> disk, a .npy -> lens."""
    if meta.beam is not None or (meta.bunit or "").lower().startswith("jy"):
        return "disk"
    if meta.source_format in ("npy", "npz"):
        return "lens"
    return "disk" if meta.source_format == "fits" else None


def _fmt(value: float | None, unit: str, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g} {unit}".strip()


def md_escape(text: str) -> str:
    """Text from a user's file shown literally in Markdown: no links, images, LaTeX or formatting."""
    return MD_SPECIAL.sub(r"\\\g<0>", str(text).replace("\n", " "))


def markdown_table(rows, columns: tuple[str, ...]) -> str:
    """A Markdown table (st.dataframe needs pyarrow, which does not import beside numpy 1.26)."""

    def cell(value) -> str:
        return md_escape(value) or " "

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


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


def _use(loaded: LoadedImage, name: str, kind_key: str) -> None:
    kind = st.session_state.get(kind_key)
    state.set_current_image(loaded.data, loaded.meta, name, None if kind == "other" else kind)


def image_panel(loaded: LoadedImage, key: str, name: str, *, kind: str | None,
                kind_fixed: bool = False, selectors: Callable[[], None] | None = None) -> None:  # fmt: skip
    """Stretch chooser, image with colour bar, facts, statistics, header, and the actions.

    `selectors` draws extra widgets (HDU / plane) under the image; `kind` is the preselected
    image kind for "Use this image" ("disk", "lens" or None), fixed for simulations.
    """
    meta, data = loaded.meta, loaded.data
    left, right = st.columns([3, 2], gap="medium")
    with left:
        stretch = st.segmented_control("Stretch", STRETCHES, default=STRETCHES[0], key=f"{key}-stretch",
                                       help=STRETCH_HELP) or STRETCHES[0]  # fmt: skip
        fig = stretched_figure(data, stretch, bunit=meta.bunit)
        st.plotly_chart(fig, key=f"{key}-fig", config={"displaylogo": False})
        if selectors is not None:
            selectors()
    with right:
        st.markdown(markdown_table(facts_rows(meta, data.shape), ("file", "value")))
        unit = f" ({meta.bunit})" if meta.bunit else ""
        stats = [(name, f"{value:.4g}") for name, value in pixel_statistics(data).items()]
        st.markdown(markdown_table(stats, ("pixel statistics" + unit, "value")))
    for note in meta.notes:
        st.caption(note)
    if meta.header:
        with st.expander(f"FITS header ({len(meta.header)} cards)"):
            st.markdown(markdown_table(meta.header, ("keyword", "value", "comment")))
    a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
    kind_key = f"{key}-kind"
    options = ["disk", "lens", "other"]
    a.selectbox("This image shows", options, index=options.index(kind or "other"), key=kind_key,
                disabled=kind_fixed, format_func=lambda k: {"disk": "a protoplanetary disk", "lens": "a strong lens",
                                                             "other": "something else"}[k])  # fmt: skip
    current = state.is_current(name, data)
    b.button("Current image ✓" if current else "Use this image", key=f"{key}-use", type="primary",
             disabled=current, on_click=_use, args=(loaded, name, kind_key),
             help="Every other page (Reconstruct, Feature maps, ...) works on the current image.")  # fmt: skip
    stem = name.rsplit(".", 1)[0]
    c.download_button("Download as FITS", lambda: fits_bytes(data, meta.header), file_name=f"{stem}.fits",
                      mime="application/fits", key=f"{key}-download", on_click="ignore",
                      help="The image shown (float32, NaN/Inf filled) with the original header cards.")  # fmt: skip


# ---------------------------------------------------------------- Upload tab


def _decoded(
    file_id: str, name: str, raw: Callable[[], bytes], hdu: int | None, plane: int | None
) -> LoadedImage:
    """read_image of an upload, kept in this session (oldest dropped beyond MAX_DECODED_BYTES)."""
    cache = st.session_state.setdefault(DECODED_KEY, {})
    key = (file_id, hdu, plane)
    if key not in cache:
        cache[key] = read_image(raw(), name, hdu=hdu, plane=plane, max_pixels=settings().max_pixels)
        while len(cache) > 1 and sum(img.data.nbytes for img in cache.values()) > MAX_DECODED_BYTES:
            cache.pop(next(iter(cache)))
    return cache[key]


def _forget_plane(key: str) -> None:
    """Another HDU may have other planes (or none): start again from its default."""
    for suffix in ("-plane", "-bands"):
        st.session_state.pop(f"{key}{suffix}", None)


def _plane_selectors(key: str, meta) -> Callable[[], None]:
    def draw() -> None:
        cols = st.columns(2)
        if len(meta.image_hdus) > 1:
            cols[0].selectbox("FITS HDU", meta.image_hdus, index=meta.image_hdus.index(meta.hdu_index),
                              key=f"{key}-hdu", on_change=_forget_plane, args=(key,))  # fmt: skip
        if meta.n_planes > 1:
            if meta.plane is None:  # read without a plane and not a cube: bands that can be summed
                st.session_state[f"{key}-bands"] = True
            bands = st.session_state.get(f"{key}-bands", False)
            options = ([SUM] if bands else []) + list(range(meta.n_planes))
            current = SUM if meta.plane is None else meta.plane
            cols[1].selectbox("Plane" if not bands else "Band", options, index=options.index(current),
                              key=f"{key}-plane")  # fmt: skip

    return draw


def upload_file_panel(file_id: str, name: str, raw: Callable[[], bytes], *, new: bool) -> bool:
    """Decode and show one upload; a bad file shows its one-sentence error. Returns success."""
    key = f"up-{file_id}"
    hdu = st.session_state.get(f"{key}-hdu")
    plane_choice = st.session_state.get(f"{key}-plane")
    plane = None if plane_choice in (None, SUM) else int(plane_choice)
    with st.container(border=True):
        st.markdown(f"**{md_escape(name)}**")
        try:
            loaded = _decoded(file_id, name, raw, hdu, plane)
        except InputError as exc:
            st.error(md_escape(str(exc)))
            return False
        except MemoryError:
            st.error(
                md_escape(f"{name} needs more memory than this server has; upload a smaller image.")
            )
            return False
        if new:  # a fresh upload becomes the current image at once; "Use this image" switches back
            state.set_current_image(loaded.data, loaded.meta, name, guess_kind(loaded.meta))
        image_panel(
            loaded,
            key,
            name,
            kind=guess_kind(loaded.meta),
            selectors=_plane_selectors(key, loaded.meta),
        )
    return True


def upload_tab() -> None:
    limits = settings()
    files = st.file_uploader(
        "Drop FITS, NumPy or image files", type=UPLOAD_TYPES, accept_multiple_files=True, key="data_upload",
        max_upload_size=limits.max_upload_mb,
        help=f"Up to {limits.max_upload_mb} MB per file and {limits.max_files_per_session} files per session; "
        "FITS cubes and multi-band arrays let you pick a plane.",
    )  # fmt: skip
    seen: list[str] = st.session_state.setdefault(SEEN_KEY, [])
    for file in files or []:
        new = file.file_id not in seen
        if new and len(seen) >= limits.max_files_per_session:
            st.error(
                f"{md_escape(file.name)} was not read: this session has reached its limit of {limits.max_files_per_session} "
                "uploaded files; remove some and reload the page to start a new session."
            )
            continue
        if new:
            seen.append(file.file_id)
        upload_file_panel(file.file_id, file.name, file.getvalue, new=new)
    if not files:
        st.caption("Or open the Examples or Simulate tab.")


# ---------------------------------------------------------------- Examples tab


def example_entries() -> list[dict]:
    """Entries of examples/manifest.json whose file exists."""
    manifest = EXAMPLES_DIR / "manifest.json"
    if not manifest.exists():
        return []
    entries = json.loads(manifest.read_text()).get("examples", [])
    return [e for e in entries if (EXAMPLES_DIR / e["file"]).is_file()]


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
    loaded = call(read_image, EXAMPLES_DIR / entry["file"], stop=False)
    if loaded is not None:
        image_panel(
            loaded, f"ex-{entry['file']}", entry["file"], kind=entry.get("kind"), kind_fixed=True
        )


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


def _disk_controls() -> tuple[dict, dict]:
    from core.data.disks import DiskParams

    d = DiskParams()
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Planets", 0, 3, 1, key="sim_disk_n")
    radii, masses = [], []
    for k in range(n):
        radii.append(
            c2.slider(
                f"Planet {k + 1} orbit (au)",
                10.0,
                150.0,
                [35.0, 70.0, 100.0][k],
                1.0,
                key=f"sim_disk_r{k}",
            )
        )
        masses.append(
            c3.slider(
                f"Planet {k + 1} mass (M_Jup)",
                0.1,
                10.0,
                [1.0, 2.0, 0.5][k],
                0.1,
                key=f"sim_disk_m{k}",
            )
        )
    c1, c2, c3, c4, c5 = st.columns(5)
    fov_au = c5.slider(
        "Field of view (au)",
        100.0,
        400.0,
        220.0,
        10.0,
        key="sim_disk_fov",
        help=f"Image width at {d.distance_pc:g} pc; sets the pixel scale of the 129-px image.",
    )
    params = {
        **d.to_dict(),
        "pixel_scale_arcsec": fov_au / d.distance_pc / 129,
        "planet_radii_au": radii,
        "planet_masses_mjup": masses,
        "planet_azimuths_deg": [90.0 * k for k in range(n)],
        "inclination_deg": c1.slider("Inclination (deg)", 0.0, 80.0, 30.0, 1.0, key="sim_disk_inc"),
        "position_angle_deg": c2.slider(
            "Position angle (deg)", 0.0, 180.0, 30.0, 1.0, key="sim_disk_pa"
        ),
        "beam_fwhm_arcsec": c3.slider(
            "Beam FWHM (arcsec)", 0.02, 0.2, 0.04, 0.01, key="sim_disk_beam"
        ),
        "snr": c4.slider("Peak SNR", 5.0, 200.0, 50.0, 5.0, key="sim_disk_snr"),
    }
    params.pop("n_planets", None)
    seed = st.columns(5)[0].number_input("Noise seed", 0, 10**6, 0, key="sim_disk_seed")
    return params, {"size": 129, "seed": int(seed)}


def _lens_controls() -> tuple[dict, dict]:
    from core.data.lenses import SUBSTRUCTURES, LensParams

    c1, c2, c3 = st.columns(3)
    theta_e = c1.slider("Einstein radius θ_E (arcsec)", 0.5, 2.0, 1.2, 0.05, key="sim_lens_theta")
    ellipticity = c2.slider("Ellipticity |e|", 0.0, 0.4, 0.1, 0.01, key="sim_lens_e")
    e_angle = np.radians(
        c3.slider("Ellipticity angle (deg)", 0.0, 180.0, 0.0, 5.0, key="sim_lens_phi")
    )
    c1, c2, c3 = st.columns(3)
    shear = c1.slider("External shear |γ|", 0.0, 0.2, 0.03, 0.01, key="sim_lens_g")
    g_angle = np.radians(c2.slider("Shear angle (deg)", 0.0, 180.0, 45.0, 5.0, key="sim_lens_gphi"))
    snr = c3.slider("SNR", 5.0, 100.0, 25.0, 1.0, key="sim_lens_snr")
    c1, c2, c3 = st.columns(3)
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
    return params, {
        "substructure": substructure,
        "n_subhalos": amount,
        "seed": int(seed),
        "size": 150,
    }


def simulate_tab() -> None:
    kind = st.radio("Simulate", ["disk", "lens"], horizontal=True, key="sim_kind",
                    format_func={"disk": "a protoplanetary disk", "lens": "a strong lens"}.get)  # fmt: skip
    params, extra = _disk_controls() if kind == "disk" else _lens_controls()
    try:
        loaded = _simulate(
            kind, json.dumps(params, sort_keys=True), json.dumps(extra, sort_keys=True)
        )
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    name = f"simulated_{kind}_seed{extra['seed']}.fits"
    image_panel(loaded, f"sim-{kind}", name, kind=kind, kind_fixed=True)
