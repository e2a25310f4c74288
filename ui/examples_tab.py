"""The Data page's Examples tab: the shipped examples (examples/manifest.json), one shown, one click to use."""

from __future__ import annotations

import json

import streamlit as st

from core import paths
from core.errors import InputError
from core.io import read_image
from ui import image_list
from ui.errors import call
from ui.image_panel import current_identity, image_panel, refusal_here, use

EXAMPLES_DIR = paths.EXAMPLES_DIR


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


def draw() -> None:
    """The Examples tab: pick an example, see it, use it."""
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
    refusal_here("examples")
    loaded = call(read_image, EXAMPLES_DIR / entry["file"], stop=False)
    if loaded is not None:
        image_panel(loaded, f"ex-{entry['file']}", entry["file"], kind=entry.get("kind"), kind_fixed=True,
                    current=current_identity() == example_identity(entry["file"]),
                    on_use=use, use_args=("examples", add_example, entry["file"]))  # fmt: skip
