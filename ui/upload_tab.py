"""The Data page's Upload tab: files, zips and folders into the image list; the current upload's plane picker.

Uploads are read from their bytes only (`core.io.read_image(bytes, name)`): a file name a user
sends is a label, never a path on this server. The uploader is a drop zone: once its files are in
the list it is emptied, so the list (ui.image_list) is the one place that says what the session holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath

import streamlit as st

from core.analysis.kind import guess_kind
from core.errors import InputError
from core.io import SUPPORTED_EXTENSIONS, LoadedImage, read_image
from core.io.zip_images import is_zip, zip_images
from core.settings import settings
from ui import image_list
from ui.image_panel import image_panel
from ui.markdown import md_escape

UPLOAD_TYPES = [ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS] + ["gz", "zip"]  # gz: gzipped FITS / .npy
UPLOAD_GEN_KEY = "data_upload_gen"  # the uploader's key is data_upload_<gen>: a new gen empties it
MESSAGES_KEY = "data_upload_messages"  # (level, text) of the last upload, shown under the uploader
MAX_ERRORS_SHOWN = 5
MAX_NAME_CHARS = 120  # longer names (with their folder / zip path) are shortened in the list and its messages
MAX_HEADER_NAME = 4000  # about the longest name a browser's upload can carry (Streamlit's multipart header limit)
SUM = "sum of bands"


def _read(raw: bytes, name: str, hdu: int | None = None, plane: int | None = None) -> LoadedImage:
    try:
        return read_image(raw, name, hdu=hdu, plane=plane, max_pixels=settings().max_pixels)
    except MemoryError as exc:
        raise InputError(f"{name} needs more memory than this server has; upload a smaller image.") from exc


def short_name(name: str) -> str:
    """`name` itself, or its beginning and its end (the extension) around "…" when longer than MAX_NAME_CHARS."""
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 41] + "…" + name[-40:]


def _too_large(name: str, n_bytes: int) -> str | None:
    """The sentence refusing a file above the upload limit (a client other than the browser's uploader can send
    one), else None."""
    limit = settings().max_upload_mb
    if n_bytes <= limit * 2**20:
        return None
    return (f"{short_name(name)} is {n_bytes / 2**20:,.1f} MB, more than the limit of {limit} MB per file; "
            "upload a smaller file (crop or bin the image, or zip fewer files).")


def _shortened_sentence(names: list[str]) -> str:
    """One sentence on the upload's names that were too long to show whole."""
    first = f"“{md_escape(short_name(names[0]))}” ({len(names[0]):,} characters)"
    if len(names) == 1:
        return f"The file name {first} is shortened to its beginning and end in the image list."
    return (f"{len(names)} file names longer than {MAX_NAME_CHARS} characters are shortened to their beginning and "
            f"end in the image list, the first {first}.")


def _add_upload(raw: bytes, file_name: str, shown_name: str, label: str | None) -> image_list.Entry:
    """Read one uploaded file (or zip member) and add it to the list, not yet current."""
    loaded = _read(raw, file_name)
    meta = loaded.meta
    several = meta.n_planes > 1 or len(meta.image_hdus) > 1
    identity = f"upload:{shown_name}:{hashlib.sha256(raw).hexdigest()}"
    return image_list.add_image(loaded, shown_name, kind=guess_kind(meta, label, loaded.data), source="upload", label=label,
                                raw=raw if several else None, origin={"file": file_name}, identity=identity,
                                make_current=False)


def _zip_label(folder: str) -> str | None:
    """A class label from the innermost folder of a zip member or of a folder upload (DeepLense names mapped)."""
    from core.data.datasets import canonical_class

    return canonical_class(PurePosixPath(folder).name) if folder else None


def ingest(files) -> tuple[list[image_list.Entry], list[tuple[str, str]]]:
    """Add uploaded files (name, bytes getter) and the image files of uploaded zips to the list.

    Returns (entries added or found, messages as (level, text)). A bad file gets its one sentence and
    the others still go in; once the list is full the rest are counted in one message. A name longer than
    MAX_NAME_CHARS is shortened (one sentence says so), a file above the upload limit is refused, and the
    members of a zip whose paths leave the archive are counted.
    """
    added: list[image_list.Entry] = []
    errors: list[str] = []
    refused: list[str] = []
    notes: list[str] = []
    long_names: list[str] = []

    def shown(name: str) -> str:
        if len(name) > MAX_NAME_CHARS:
            long_names.append(name)
        return short_name(name)

    for name, getvalue in files:
        if refused:
            refused.append(short_name(name))
            continue
        try:
            raw = getvalue()
            if (too_large := _too_large(name, len(raw))) is not None:
                errors.append(too_large)
                continue
            if not is_zip(name):  # a folder upload names files by their path in the folder
                folder, _, base = name.replace("\\", "/").rpartition("/")
                added.append(_add_upload(raw, base, shown(name), _zip_label(folder)))
                continue
            archive = zip_images(raw, name)
            del raw  # the archive holds the bytes
            if archive.n_unsafe:
                notes.append(unsafe_sentence(archive.n_unsafe, archive.name))
            zip_name = shown(name)
            for k, member in enumerate(archive.members):
                try:
                    added.append(_add_upload(archive.read(member), member.name, f"{zip_name}/{shown(member.path)}",
                                             _zip_label(member.folder)))
                except InputError as exc:
                    if image_list.room_left() == 0:
                        refused += [f"{zip_name}/{short_name(m.path)}" for m in archive.members[k:]]
                        break
                    errors.append(str(exc))
        except InputError as exc:
            if image_list.room_left() == 0:
                refused.append(short_name(name))
            else:
                errors.append(str(exc))
    messages = [("warning", text) for text in notes]
    if long_names:
        messages.append(("warning", _shortened_sentence(long_names)))
    messages += [("error", md_escape(text)) for text in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        messages.append(("error", f"{len(errors) - MAX_ERRORS_SHOWN} more files could not be read."))
    if refused:
        cap = settings().max_files_per_session
        first = md_escape(refused[0]) + (f" and {len(refused) - 1} more files" if len(refused) > 1 else "")
        messages.append(("error", f"{first} not added: the image list holds {cap} images, the limit of this "
                                  "session; remove some (✕ in the sidebar) to make room, then upload again."))
    return added, messages


def unsafe_sentence(n: int, zip_name: str) -> str:
    """The sentence on the members of a zip skipped because their paths leave the archive ("../")."""
    files = "1 file" if n == 1 else f"{n:,} files"
    were, paths, leave = ("was", "its path", "leaves") if n == 1 else ("were", "their paths", "leave")
    return f"{files} of the zip {md_escape(zip_name)} {were} skipped because {paths} {leave} the archive."


def _forget_uploads(files) -> None:
    """Drop the server's copies of uploaded files: Streamlit keeps them until the session ends (the browser
    never deletes them, its uploader is replaced), while the list keeps only what it counts in its budget."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    remove = getattr(ctx.uploaded_file_mgr, "remove_file", None) if ctx is not None else None
    if remove is None:  # a file manager that cannot drop one file (not Streamlit's in-memory one)
        return
    for f in files:
        remove(session_id=ctx.session_id, file_id=f.file_id)


def _on_upload(widget_key: str) -> None:
    """The uploader's callback: files into the list, the first new one current, the uploader emptied and
    the uploaded bytes freed (only the list's entries keep pixels, and the file of a cube to pick planes)."""
    files = st.session_state.get(widget_key) or []
    before = len(image_list.image_list())
    try:
        added, messages = ingest([(f.name, f.getvalue) for f in files])
    finally:
        _forget_uploads(files)
        st.session_state.pop(widget_key, None)  # the widget's UploadedFile objects: gone with this run
    if added:
        image_list.select(added[0].id)
        messages.insert(0, ("info", image_list.added_sentence(added, before)))  # counted after the upload
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
            if st.session_state.get(f"{key}-bands", False):  # at most core.io.layout.MAX_BANDS bands: a short list
                st.session_state[f"{key}-plane"] = SUM if meta.plane is None else meta.plane
                cols[1].selectbox("Band", [SUM, *range(meta.n_planes)], key=f"{key}-plane",
                                  on_change=_reread, args=(entry.id, key))  # fmt: skip
            else:  # a cube may declare millions of planes: a number bounded by their count, never a list of them
                st.session_state[f"{key}-plane"] = meta.plane
                cols[1].number_input("Plane", 0, meta.n_planes - 1, step=1, key=f"{key}-plane",
                                     on_change=_reread, args=(entry.id, key),
                                     help=f"0 to {meta.n_planes - 1:,}: the cube's {meta.n_planes:,} planes.")  # fmt: skip

    return draw


def upload_panel(entry: image_list.Entry) -> None:
    """The current upload: its name with folder / zip path, the image panel, its plane selectors."""
    key = f"up-{entry.id}"
    with st.container(border=True):
        st.markdown(f"**{md_escape(entry.name)}**" + (f" · class {md_escape(entry.label)}" if entry.label else ""))
        image_panel(entry.loaded, key, entry.name, kind=entry.kind, current=True,
                    selectors=_plane_selectors(entry, key) if entry.raw is not None else None,
                    on_kind=lambda kind: image_list.update_current(kind=kind))  # fmt: skip
        st.button("Remove from the list", key=f"{key}-remove", on_click=image_list.remove, args=(entry.id,),
                  type="tertiary")


def draw() -> None:
    """The Upload tab: the uploaders (files or zips; a whole folder), their messages, the current upload."""
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
    st.caption(f"A file the uploader marks with ⓘ did not reach EquiScope (larger than {limits.max_upload_mb} MB, "
               f"or a name of more than about {MAX_HEADER_NAME:,} characters): point at ⓘ for the reason.")
    for level, text in st.session_state.get(MESSAGES_KEY, []):
        {"error": st.error, "warning": st.warning}.get(level, st.caption)(text)
    entry = image_list.current_entry()
    if entry is not None and entry.source == "upload":
        upload_panel(entry)
    else:
        n = sum(1 for e in image_list.image_list() if e.source == "upload")
        st.caption(f"{n} uploaded images are in the list (sidebar): click one to show it here." if n
                   else "Or open the Examples or Simulate tab.")
