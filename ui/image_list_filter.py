"""Filter and sort the image list (ui/image_list.py): by name, kind, class label, a classifier's prediction
or right/wrong. A classifier's answers are kept on the entries (`Entry.predictions`, under `model_key`);
`predict` makes them, once per entry, as one heavy job.

    filtered(entries, ListFilter) -> list  the entries a filter keeps, in its order
    predict(checkpoint, entries, bar)      the classifier's answers on the entries of its kind
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ui.image_list import Entry


def model_key(entry: dict) -> str:
    """The key of a checkpoint's answers on the entries: its name and file (a re-trained one answers afresh)."""
    return f"{entry['name']}@{(entry.get('sha256') or '')[:12]}"


def verdict(entry: Entry, model: str | None) -> str | None:
    """"right" or "wrong" when the entry has both a class label and `model`'s prediction, else None."""
    answer = entry.predictions.get(model) if model else None
    if answer is None or not entry.label:
        return None
    return "right" if answer[0] == entry.label else "wrong"


NO_LABEL = "no label"
NO_PREDICTION = "no prediction"
SORTS = {  # name -> the sort key of an entry (None last); the model whose answers count is passed along
    "order added": None,
    "name": lambda e, m: e.name.lower(),
    "kind": lambda e, m: e.kind_name,
    "label": lambda e, m: e.label,
    "prediction": lambda e, m: e.predictions[m][0] if m in e.predictions else None,
    "confidence (lowest first)": lambda e, m: e.predictions[m][1] if m in e.predictions else None,
    "wrong first": lambda e, m: {"wrong": 0, "right": 1}.get(verdict(e, m)),
}


@dataclass
class ListFilter:
    """What the sidebar's filter keeps and in which order; empty choices keep everything."""

    text: str = ""  # part of the name (with its folder / zip path), any case
    kinds: tuple[str, ...] = ()  # "disk", "lens", "unknown"
    labels: tuple[str, ...] = ()  # class labels, or NO_LABEL
    predictions: tuple[str, ...] = ()  # predicted classes of `model`, or NO_PREDICTION
    verdicts: tuple[str, ...] = ()  # "right", "wrong"
    sort: str = "order added"
    model: str | None = None  # `model_key` of the classifier whose answers are shown and filtered on


def _keeps(entry: Entry, f: ListFilter) -> bool:
    answer = entry.predictions.get(f.model) if f.model else None
    return ((not f.text or f.text.strip().lower() in entry.name.lower())
            and (not f.kinds or entry.kind_name in f.kinds)
            and (not f.labels or (entry.label or NO_LABEL) in f.labels)
            and (not f.predictions or (answer[0] if answer else NO_PREDICTION) in f.predictions)
            and (not f.verdicts or verdict(entry, f.model) in f.verdicts))


def filtered(entries: list[Entry], f: ListFilter) -> list[Entry]:
    """The entries `f` keeps, sorted by `f.sort` (stable: ties keep the order they were added; unknowns last)."""
    kept = [e for e in entries if _keeps(e, f)]
    key = SORTS.get(f.sort)
    if key is None:
        return kept
    values = {e.id: key(e, f.model) for e in kept}
    return sorted(kept, key=lambda e: (values[e.id] is None, values[e.id] if values[e.id] is not None else 0))


def predict(checkpoint: dict, entries: list[Entry], bar=None) -> str | None:
    """Classify the entries of the kind `checkpoint` was trained on (or of unknown kind) that it has not
    answered yet, each as the pages give it (ui.disk_input.model_image), and keep the answers on them.
    Returns the sentence saying why it cannot (the model does not load), else None."""
    from core.analysis.familiarity import KIND_OF_DATA
    from core.analysis.model_choice import data_of
    from ui import disk_input, inference, models
    from ui.jobs import heavy_job

    problem = models.problem(checkpoint)
    if problem is not None:
        return problem
    key, kind = model_key(checkpoint), KIND_OF_DATA.get(data_of(checkpoint))
    todo = [e for e in entries if key not in e.predictions and e.kind in (kind, None)]
    if not todo:
        return None
    classes = checkpoint.get("classes")
    progress = bar.progress(0.0, text=f"{checkpoint['name']} classifies {len(todo)} images…") if bar else None
    with heavy_job("classifying the image list", key=(key, tuple(e.id for e in todo))):
        for n, entry in enumerate(todo):
            seen = disk_input.model_image(checkpoint, {"data": entry.loaded.data, "meta": entry.loaded.meta})
            probs = inference.class_probabilities(checkpoint["name"], checkpoint.get("sha256"), seen.data)
            best = int(np.argmax(probs))
            entry.predictions[key] = (classes[best] if classes else str(best), float(probs[best]))
            if progress is not None:
                progress.progress((n + 1) / len(todo))
    if progress is not None:
        progress.empty()
    return None
