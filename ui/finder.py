"""The lens finder on the Lenses page: lens probability of the current image and the finder's ROC curves;
also the page's pixel-scale field and its answer lines (prediction beside the true class when known).

Finder checkpoints are binary classifiers (`lens` / `nonlens`) trained on the sky simulator
(`data.generator == "sky"`, core.data.sky: HST / Euclid-like lenses and every kind of galaxy) or on the
lens-finding simulator (`"lensfinding"`, core.data.lensfinding). The lens-finding ones' ROC points on the
"easy" and "hard" test sets were stored with the checkpoint when it was trained
(core.train.domain.evaluate_finder), so the page plots them without evaluating anything; a sky finder's
table row gives the lens AUROC on its own test set. A finder sees the image on its 0.1″ training grid
(ui.inference.grid_view), as every lens model does. The finder offered first is the one the image is most
familiar to; where familiarity is alike, sky finders (made for real telescope images) before lens-finding ones,
unadapted before adapted, better on their test sets first.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import familiarity, figures, inference, models, resources, state

GENERATORS = ("sky", "lensfinding")  # finders' training data, in the page's order of preference
DATA_WORDS = {"sky": "sky (HST / Euclid-like)", "lensfinding": "lens finding"}
DOMAIN_OF_KEY = {"test": "easy", "test_target": "hard"}  # metrics key -> test domain
SUBSTRUCTURE = ("no_sub", "cdm", "vortex")  # the substructure classes: every image of them is a strong lens


def generator_of(entry: dict) -> str | None:
    return (entry.get("data") or {}).get("generator")


def finder_entries() -> list[dict]:
    """Checkpoints trained on the sky or lens-finding simulator (shipped first, then the user's runs)."""
    return [e for e in resources.checkpoints("classifier") if generator_of(e) in GENERATORS]


def lens_probability(entry: dict, image: np.ndarray) -> float:
    """P(lens) of a finder checkpoint for a 2-D image (already on its grid: ui.inference.grid_view)."""
    probs = inference.class_probabilities(entry["name"], entry.get("sha256"), image)
    classes = entry.get("classes") or ["lens", "nonlens"]
    return float(probs[classes.index("lens")])


def pixel_scale_field(image: dict) -> None:
    """For an image whose file gives no pixel scale: a note and the field where the user sets one (linked)."""
    if getattr(image.get("meta"), "pixel_scale_arcsec", None):
        return
    spec = state.SETTINGS[state.PIXEL_SCALE_KEY]
    st.caption("This image carries no pixel scale (a bare array, a picture, or a FITS file without a celestial "
               "WCS), so the lens models see its pixels as they are. Set it below if you know it: each model then "
               "resamples the image to the pixel scale and field it was trained at.")
    st.number_input(spec.label, **spec.bounds(), key=state.PIXEL_SCALE_KEY, format="%.3f",
                    help="Arcseconds per pixel, e.g. 0.05 for HST ACS/WFC3 drizzled images, 0.1 for Euclid VIS; "
                         "0 leaves the pixels as they are. It applies to every image without a pixel scale of its "
                         "own, and the page's link carries it.")


def answer_line(name: str, classes: list[str], probs: np.ndarray, truth: str | None) -> str:
    """"**model**: predicted (p) · true class: t ✓", the truth only when it is one of the model's classes
    (for a lens / non-lens classifier a substructure class counts as `lens`)."""
    k = int(np.argmax(probs))
    line = f"**{name}**: {classes[k]} ({float(probs[k]):.2f})"
    truth = _finder_truth(truth) if "lens" in classes else truth
    if truth not in classes:
        return line
    return f"{line} · true class: {truth} {'✓' if truth == classes[k] else '✗'}"


def _finder_truth(label: str | None) -> str | None:
    """An image's true class as a finder's: lens / nonlens, a substructure class counting as lens."""
    return "lens" if label in SUBSTRUCTURE else label if label in ("lens", "nonlens") else None


def hard_auroc(entry: dict) -> float:
    """The stored AUROC on the hard-domain test set (-1 when not measured)."""
    value = ((entry.get("metrics") or {}).get("test_target") or {}).get("auroc")
    return float(value) if value is not None else -1.0


def test_auroc(entry: dict) -> float | None:
    """The stored lens AUROC on the finder's own test set: its ROC's, else the classifier metrics' per-class AUC of
    'lens' (a sky finder's), else None."""
    test = (entry.get("metrics") or {}).get("test") or {}
    value = test.get("auroc", (test.get("per_class_auc") or {}).get("lens"))
    return float(value) if value is not None else None


def page_order(entries: list[dict]) -> list[int]:
    """Indices of `entries`, the page's fallback order: sky finders first (GENERATORS), unadapted before adapted,
    then the best on the hard test set (lens finding) or on its own test set (sky)."""
    def key(i: int) -> tuple:
        e = entries[i]
        generator = generator_of(e)
        score = hard_auroc(e) if generator == "lensfinding" else (test_auroc(e) or -1.0)
        return GENERATORS.index(generator) if generator in GENERATORS else len(GENERATORS), -(score + 2 * unadapted(e))

    return sorted(range(len(entries)), key=key)


def unadapted(entry: dict) -> bool:
    """True for a finder trained without target-domain images: calibrated on its own (easy) domain, the default.
    Adapted ones are for images of the target domain (their batch norm or features follow it)."""
    return (entry.get("metrics") or {}).get("domain_adaptation", "none") == "none"


def roc_curves(entries: list[dict]) -> dict[str, tuple[list, list, float]]:
    """"<checkpoint>, <domain> test" -> (fpr, tpr, AUROC) from each checkpoint's stored metrics."""
    curves = {}
    for entry in entries:
        metrics = entry.get("metrics") or {}
        for key, domain in DOMAIN_OF_KEY.items():
            roc = (metrics.get(key) or {}).get("roc")
            if roc:
                curves[f"{entry['name']}, {domain} test"] = (roc["fpr"], roc["tpr"], float(metrics[key]["auroc"]))
    return curves


def auroc_rows(entries: list[dict]) -> list[dict]:
    """One row per finder checkpoint: what it was trained on, how, and its lens AUROC on its own test set (easy for
    lens finding) and on the hard one."""
    rows = []
    for e in entries:
        m = e.get("metrics") or {}
        rows.append({"checkpoint": e["name"], "trained on": DATA_WORDS.get(generator_of(e), generator_of(e)),
                     "adaptation": m.get("domain_adaptation", "none"), "AUROC own test": test_auroc(e),
                     "AUROC hard": (m.get("test_target") or {}).get("auroc")})
    return rows


def panel(image: dict | None) -> None:
    """The finder section: pick a finder, its lens probability for the current image (with the familiarity
    notes every answer gets), and the ROC curves of every finder on the easy and hard test sets."""
    st.subheader("Lens finder: is there a strong lens at all?")
    entries = finder_entries()
    if not entries:
        st.caption("No lens-finder checkpoint yet: train one with `python -m core train --config "
                   "configs/lenses-finder-sky-equivariant.toml` (HST / Euclid-like sky) or "
                   "`configs/lenses-finder-equivariant.toml` (see docs/research-log.md, 'Lens finding across a domain shift').")
        return
    names = [e["name"] for e in entries]
    order = page_order(entries)
    if st.session_state.get("lens_finder") is None:  # the default: the finder the image is most familiar to
        order = familiarity.familiar_order(entries, image, order)  # (ties: the page's order)
    index = models.first_that_loads(entries, order)
    index = order[0] if index is None else index
    name = st.selectbox("Lens finder", names, index=index, key="lens_finder",
                        help="Binary lens / non-lens classifiers. 'sky' finders were trained on HST / Euclid-like "
                             "cutouts of lenses and of every kind of galaxy (ellipticals, spirals, mergers, rings, "
                             "edge-on disks...): made for real telescope images. Lens-finding ones were trained on the "
                             "'easy' domain (space telescope); "
                             "'adapted' ones were aligned to the 'hard' (Euclid-like) domain with DANN, 'adabn' ones by "
                             "batch-norm statistics of hard images: use those for Euclid-like images (their 0.5 threshold "
                             "follows the hard domain). The first offered is the one to which the current image is most "
                             "familiar (among its own training images), else a sky finder, else the unadapted finder that "
                             "scored best on the hard test set, that loads on this server.")
    entry = entries[names.index(name)]
    reason = models.problem(entry)
    if reason is not None:
        st.error(reason)
    elif image is None:
        st.caption("No current image: the lens probability appears here once there is one.")
    else:
        view = inference.grid_view(entry, image)
        if (p := models.attempt(entry, lens_probability, entry, view.data)) is not None:
            said = "lens" if p >= 0.5 else "nonlens"
            truth = _finder_truth(state.true_label(image))
            mark = "" if truth is None else f" · true class: {truth} {'✓' if truth == said else '✗'}"
            st.markdown(f"**Lens probability {p:.2f}** ({name}: {'a lens' if p >= 0.5 else 'not a lens'} at the "
                        f"0.5 threshold){mark}")
            if view.note:
                st.caption(view.note)
            familiarity.answer_notes(entry, {**image, "data": view.data})
    curves = roc_curves(entries)
    if curves:
        st.plotly_chart(figures.roc_figure(curves, "Lens finder ROC: easy and hard test sets (stored at training)"),
                        key="lens_finder_roc")
    st.plotly_chart(figures.table_figure(auroc_rows(entries)), key="lens_finder_table")
