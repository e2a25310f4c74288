"""The Train page's parts: where the images come from, what a classifier starts from (a shipped model
by default for a small labelled set), the start button's callback, the running job and its result
(with a warning when its validation accuracy is at chance), and the comparison of this server's runs
by their loss curves (ui/training.py holds the logic)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.errors import InputError
from core.settings import settings
from ui import figures, image_list, training
from ui.errors import USER_ERRORS
from ui.markdown import markdown_table, md_escape
from ui.resources import own_run

SOURCES = {
    "simulate": "Simulate a small set",
    "zip": "A labelled zip (class folders)",
    "list": "The images in the list",
    "server": "A data set on this server",
}
METHOD_KEY = "train_method"
METHOD_DEFAULT_KEY = "train_method_default"  # the default last put in the method radio
BEST = "best"  # the backbone choice "the best shipped model for these labels"
ERROR_KEY = "train_start_error"
NAME_KEY = "train_name"
DEFAULT_NAME_KEY = "train_name_default"  # the default last put in the name box


@dataclass
class Source:
    """Where a run's images come from: a folder or a simulation request, and what they are."""

    data: str | None = None
    simulate: dict | None = None
    n_labelled: int = 0  # images with a class label
    description: str | None = None  # for captions: "the 60 labelled list images (no_sub 20, cdm 20, vortex 20)"


def _zip_source(limits: dict) -> Source:
    file = st.file_uploader("Zip of images, one folder per class", type=["zip"], key="train_zip",
                            max_upload_size=settings().max_upload_mb,
                            help="DeepLense's layout works as it is (no/sphere/vort or no_sub/cdm/vortex); "
                                 "for an autoencoder the folders may be left out.")  # fmt: skip
    if file is None:
        return Source()
    try:
        folder = training.save_zip_dataset(file.getvalue(), file.name, limits["images"])
    except InputError as exc:
        st.error(md_escape(str(exc)))
        return Source()
    return _describe(folder, f"images of {file.name}")


def _list_source(kind: str) -> Source:
    entries = image_list.image_list()
    labelled = image_list.labelled_entries()
    use = labelled if kind == "classifier" or labelled else entries
    if kind == "classifier" and len({e.label for e in labelled}) < 2:
        st.info("A classifier needs images of at least two classes: upload a zip with one folder per class "
                "on the Data page (the folders become the labels in the image list).")
        return Source()
    if not use:
        st.info("The image list is empty: add images on the Data page (a zip of class folders gives labels).")
        return Source()
    if labelled and len(labelled) < len(entries):
        n_out = len(entries) - len(labelled)
        st.caption(f"{n_out} image{'s' if n_out != 1 else ''} without a class label {'are' if n_out != 1 else 'is'} left out.")
    folder = training.save_images_dataset([(e.loaded.data, e.label) for e in use])
    return _describe(folder, "labelled list images" if labelled else "list images")


def _describe(folder, what: str) -> Source:
    """The data set `folder` as a Source, with one caption line: how many images (`what`) of which classes."""
    from core.data.datasets import scan_dataset

    try:
        index = scan_dataset(folder)
    except InputError as exc:
        st.error(md_escape(str(exc)))
        return Source()
    if not index.labels:
        st.caption(f"{len(index)} {what} without class labels (enough for an autoencoder).")
        return Source(str(folder), None, 0, f"the {len(index)} unlabelled {what}")
    counts = {c: index.labels.count(c) for c in index.classes}
    st.caption(f"{len(index)} {what} in {len(counts)} classes ({', '.join(f'{c}: {k}' for c, k in counts.items())}).")
    return Source(str(folder), None, len(index),
                  f"the {len(index)} {what} ({', '.join(f'{c} {k}' for c, k in counts.items())})")


def data_source(kind: str, limits: dict) -> Source:
    """The Data part of the page: the images (a folder or a simulation request) and what they are."""
    choice = st.radio("Data", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="train_source")
    if choice == "simulate":
        d1, d2, d3 = st.columns(3)
        images = d1.selectbox("Images", ["disks", "lenses"], index=1 if kind == "classifier" else 0, key="train_kind")
        n = d2.number_input("How many", 8, limits["images"], min(128, limits["images"]), step=8, key="train_n")
        seed = d3.number_input("Seed", 0, 10**6, 0, key="train_seed")
        request = {"kind": images, "n": int(n), "size": 129 if images == "disks" else 150, "seed": int(seed)}
        return Source(None, request, int(n), f"{int(n)} simulated {images} (seed {int(seed)})")
    if choice == "zip":
        return _zip_source(limits)
    if choice == "list":
        return _list_source(kind)
    sets = training.datasets()
    if not sets:
        st.info("No data set is on this server yet (folders under data/ with a manifest.json); simulate one.")
        return Source()
    folder = st.selectbox("Data set", sets, format_func=lambda p: p.name, key="train_data")
    return _describe(folder, f"images of {folder.name}")


def method_choice(kind: str, equivariant: bool, n_labelled: int) -> tuple[str, list[str] | None]:
    """What a classifier starts from: a linear probe on / a fine-tune of a shipped model (the default below
    `training.SMALL_LABEL_SET` labelled images) or nothing; returns (method, candidate shipped models or None)."""
    if kind != "classifier":
        return "scratch", None
    candidates = training.shipped_backbones(equivariant)
    options = list(training.METHODS) if candidates else ["scratch"]
    default = "probe" if candidates and 0 < n_labelled < training.SMALL_LABEL_SET else "scratch"
    if st.session_state.get(METHOD_KEY) in (None, st.session_state.get(METHOD_DEFAULT_KEY)) \
            or st.session_state.get(METHOD_KEY) not in options:
        st.session_state[METHOD_KEY] = default  # the default follows the data until the user picks
    st.session_state[METHOD_DEFAULT_KEY] = default
    method = st.radio("Start from", options, format_func=training.METHODS.get, horizontal=True, key=METHOD_KEY,
                      help="A linear probe fits only a last layer on the features of a shipped model (seconds); "
                           "fine-tuning then trains the whole network a little; from scratch trains a new network.")
    if default == "probe":
        st.caption(f"With {n_labelled} labelled images a network trained from scratch rarely learns anything (it tends "
                   f"to answer one class for every image), so below {training.SMALL_LABEL_SET} the default is a "
                   "linear probe on a shipped model: the one whose probe scores best in a cross-validation on your labels.")
    if method == "scratch":
        return method, None
    pick = st.selectbox("Shipped model", [BEST, *candidates], key="train_backbone",
                        format_func=lambda n: "The best for these labels (cross-validated)" if n == BEST else n)
    return method, candidates if pick == BEST else [pick]


def run_name(where, base: str) -> str:
    """The run-name box: its default is `training.unique_name(base)` and follows the model and the runs
    already in runs/ until the user types a name of their own."""
    default = training.unique_name(base)
    if st.session_state.get(NAME_KEY) in (None, st.session_state.get(DEFAULT_NAME_KEY)):
        st.session_state[NAME_KEY] = default
    st.session_state[DEFAULT_NAME_KEY] = default
    return where.text_input("Run name", key=NAME_KEY, help="Unique: a name that runs/ already holds is "
                            "refused unless you tick 'Replace the run of that name'.").strip()


def start(**kwargs) -> None:
    """The Start button's callback: start the run, or keep its one-sentence refusal for the page."""
    st.session_state.pop(ERROR_KEY, None)
    if kwargs.get("data") is None and kwargs.get("simulate") is None:
        st.session_state[ERROR_KEY] = "Choose the images first: simulate a set, upload a labelled zip, or use the list."
        return
    try:
        job = training.start(**kwargs)
    except USER_ERRORS as exc:
        st.session_state[ERROR_KEY] = str(exc)
        return
    own_run(job.name)  # a hosted demo lists this session's own runs beside the shipped models
    st.session_state.pop("train_replace", None)


def start_error() -> None:
    if st.session_state.get(ERROR_KEY):
        st.error(st.session_state[ERROR_KEY])


def _loss_series(history: dict) -> dict[str, np.ndarray]:
    return {k.replace("_", " "): np.asarray(history[k], dtype=np.float64)
            for k in ("train_loss", "val_loss") if k in history}


def show_run(running: bool) -> None:
    """The latest run of this server: status, progress, live loss curve (refreshed every second while it runs)."""

    @st.fragment(run_every=1.0 if running else None)
    def live() -> None:
        job = training.current()
        if job is None:
            return
        st.subheader(f"Run '{job.name}': {job.status}")
        st.caption(job.summary)
        st.progress(job.fraction(), text=job.message or job.status)
        history = job.history
        if history.get("epoch"):
            x = np.arange(1, len(history["epoch"]) + 1)
            st.plotly_chart(figures.curves_figure(x, _loss_series(history), x_title="epoch (all folds in order)",
                                                  y_title="loss (training objective, dimensionless)", log_y=True),
                            key="train_curve")
        if job.running:
            st.button("Stop after this batch", on_click=training.stop, key="train_stop")
        elif job.error:
            st.error(job.error)
        else:
            st.success(job.message)
            _result(job.metrics)
        if running and not job.running:
            st.rerun()  # the run ended: refresh the whole page once (Start button, pickers, run list)

    live()


def _result(metrics: dict) -> None:
    """A finished classifier's held-out score, the shipped model it started from, and the chance-level warning."""
    if "accuracy" not in metrics:
        return
    auc = f", macro AUC {metrics['macro_auc']:.3f}" if isinstance(metrics.get("macro_auc"), (int, float)) else ""
    st.caption(f"Validation accuracy {metrics['accuracy']:.2f}{auc} on {metrics.get('n', '?')} images, "
               f"{metrics.get('split', 'held out')}.")
    if metrics.get("backbone"):
        scores = metrics.get("backbone_scores") or {}
        tried = ", ".join(f"{md_escape(k)} {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1]))
        start = f" (its probe's accuracy there: {metrics['probe_accuracy']:.2f})" if "probe_accuracy" in metrics else ""
        st.caption(f"Started from {md_escape(metrics['backbone'])}{start}"
                   + (f"; cross-validated probe accuracy of each shipped model tried: {tried}." if len(scores) > 1 else "."))
    warning = training.chance_warning(metrics)
    if warning:
        st.warning(warning, icon=":material/warning:")


@st.cache_data(max_entries=64, show_spinner=False)
def _history(path: str, mtime_ns: int) -> dict:
    return training.run_history(path)


def compare_runs() -> None:
    """The runs in runs/: a table (model, data, epochs, metrics) and their loss curves together."""
    import os

    try:
        entries = training.runs()
    except USER_ERRORS as exc:
        st.error(str(exc))
        return
    st.subheader("Runs on this server")
    if not entries:
        st.caption("None yet: the runs you start here are listed with their curves for comparison.")
        return
    rows = []
    for e in entries:
        metrics = e.get("metrics") or {}
        main = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and k in ("val_loss", "mse", "ms_ssim", "micro_auc", "macro_auc", "accuracy")}
        data = e.get("data") or {}
        scores = ", ".join(f"{k} {v:.4g}" for k, v in main.items()) or "—"
        if "accuracy" in main and training.chance_warning(metrics):
            scores += " (at chance)"
        rows.append((e["name"], e.get("model", "?") + (f" {e['config'].get('group')}" if (e.get("config") or {}).get("group") else ""),
                     data.get("description") or f"{data.get('n') or '?'} {data.get('generator') or data.get('path', '')}".strip(),
                     metrics.get("epochs_run", "?"), scores, (e.get("created_utc") or "")[:19]))
    st.markdown(markdown_table(rows, ("run", "model", "data", "epochs", "held-out metrics", "created (UTC)")))
    names = [e["name"] for e in entries]
    chosen = st.multiselect("Compare the loss curves of", names, default=names[:3],  # a new run resets the choice
                            key=f"train_compare-{len(names)}")
    series: dict[str, np.ndarray] = {}
    for e in entries:
        if e["name"] not in chosen:
            continue
        try:
            history = _history(e["path"], os.stat(e["path"]).st_mtime_ns)
        except (OSError, *USER_ERRORS):
            st.caption(f"{md_escape(e['name'])}: its checkpoint cannot be read.")
            continue
        for label, y in _loss_series(history).items():
            series[f"{e['name']} · {label}"] = y
    if not series:
        if chosen:
            st.caption("The chosen runs have no loss history stored.")
        return
    length = max(len(y) for y in series.values())
    padded = {k: np.pad(y, (0, length - len(y)), constant_values=np.nan) for k, y in series.items()}
    st.plotly_chart(figures.curves_figure(np.arange(1, length + 1), padded, x_title="epoch (all folds in order)",
                                          y_title="loss (training objective, dimensionless)", log_y=True),
                    key="train_compare_curves")
