"""Is this even a disk / a lens? The kind of an image — galaxy, velocity map, protoplanetary disk or strong
lens — from its file's metadata and its pixels, with a one-sentence reason.

    check = check_kind(image, meta)        # KindCheck: kind, probability, probabilities, reason
    check.sentence()                       # "Kind check: a galaxy, p 0.93 — its light ... ."
    guess_kind(meta, label, image)         # the image list's kind: "disk" | "lens" | None
    kind_flag(check, model_data, answer)   # "out of kind" | "lens not confirmed" | None (evaluate's rows too)
    kind_notes(check, model_data, note, answer)   # the page's notes: kind check + familiarity, combined

The content model is a multinomial logistic regression on the rotation-invariant features of
core.analysis.kind_features; its coefficients are core/analysis/kind_model.json, refitted from
simulations only by `python -m core.analysis.kind_fit` (which also prints its confusion). Metadata add
explained log-odds (METADATA_WEIGHT each) to it:
- a velocity unit (BUNIT km/s, m/s) makes the image a velocity map outright; a class label (a zip's class
  folder) names its kind outright;
- radio evidence — a beam (BMAJ), a Jy unit, a spectral axis (FREQ, VRAD, VELO...), a radio telescope —
  favours disk and velocity map; an intensity unit in Jy excludes a velocity map;
- optical evidence — HST, JWST, Euclid and other optical telescopes or instruments, counts or e-/s units —
  favours galaxy and lens;
- without pixels, a NumPy array (.npy / .npz) is taken for a lens, as DeepLense data come (the image list's
  guess); with pixels the format says nothing.
A plain rule joins them: values antisymmetric about the centre (correlation with the half-turned image at
most VELOCITY_DIPOLE) are a rotating disk's signed dipole, a velocity map, unless the unit is an intensity.
A model's answer on an image of another kind than its training data is flagged (`kind_flag`, `kind_notes`), and
never called familiar. Disk and velocity map against an optical galaxy or lens are what the check tells apart
reliably; galaxy against lens is weaker. So a finder trained on realistic galaxies of every kind (LENS_JUDGES: the
sky simulator's) makes the lens-vs-galaxy call itself: the check says only "an optical galaxy or lens" and which way
it leans (log-odds), and familiarity is the finder's own. The simpler lens-finding finders' 'lens' still needs the
check's confirmation (`lens_confirmed`: a lens with log-odds LENS_EVIDENCE over galaxy, since lenses are rare among
galaxies), and a lens-only model (the DeepLense classifiers) flags an image the check calls a galaxy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.io.meta import ImageMeta

KINDS = ("galaxy", "velocity", "disk", "lens")
KIND_NAMES = {"galaxy": "galaxy", "velocity": "velocity (moment-1) map", "disk": "protoplanetary disk",
              "lens": "strong lens"}
MODEL_PATH = Path(__file__).with_name("kind_model.json")
METADATA_WEIGHT = 3.0  # log-odds one piece of header evidence adds to the kinds it favours
VELOCITY_DIPOLE = -0.5  # antisymmetry at or below this is a signed dipole (kind_fit's simulations: no light
DIPOLE_WEIGHT = 10.0  # distribution of any kind goes below 0, all 80 velocity maps reach it): a velocity map
LENS_EVIDENCE = 1.5  # log-odds of lens over galaxy the content must give to confirm a lens finder's 'lens' (kind_fit's
# test images: 4 of 80 simulated galaxies, 79 of 120 lenses; ring and shell galaxies, the classic impostors, can
# reach it: tests/test_kind.py checks the common morphologies)
LIST_KIND = {"disk": "disk", "lens": "lens", "galaxy": None, "velocity": None}  # image list kinds (ui.state.KINDS)
DATA_KINDS = {"disks": ("disk",), "lenses": ("lens",), "lensfinding": ("lens", "galaxy"),  # what each training
              "sky": ("lens", "galaxy")}  # set (a checkpoint's data generator) holds
DATA_NAMES = {"disks": "simulated protoplanetary disks", "lenses": "simulated strong lenses",
              "lensfinding": "simulated lenses and non-lens galaxies",
              "sky": "simulated HST / Euclid-like lenses and galaxies"}
FINDER_DATA = ("lensfinding", "sky")  # lens finders' training data: lens / non-lens
LENS_JUDGES = ("sky",)  # finders trained on every kind of galaxy as non-lenses: their lens-vs-galaxy call stands
OPTICAL = ("galaxy", "lens")  # told apart from disks and velocity maps reliably, from each other less so

VELOCITY_UNIT = re.compile(r"^\s*(k?m|cm)\s*(/\s*s|\.?\s*s\s*\^?\s*-1|\s+s-1|s-1)\s*$", re.IGNORECASE)
SPECTRAL_CTYPE = re.compile(r"^(FREQ|VRAD|VOPT|VELO|FELO|VELO-LSR|ZOPT)", re.IGNORECASE)
RADIO_TELESCOPES = ("ALMA", "VLA", "JVLA", "SMA", "NOEMA", "IRAM", "ATCA", "MEERKAT", "ASKAP", "GMRT", "APEX",
                    "JCMT", "CARMA", "ACA")
OPTICAL_TELESCOPES = ("HST", "HUBBLE", "JWST", "EUCLID", "SUBARU", "HSC", "CFHT", "MEGACAM", "DECAM", "DES", "SDSS",
                      "KIDS", "VST", "LSST", "RUBIN", "PAN-STARRS", "ACS", "WFC3", "WFPC2", "NICMOS", "NIRCAM",
                      "MIRI", "VLT", "MUSE", "KECK", "GEMINI", "SPITZER", "IRAC")
OPTICAL_UNITS = ("ELECTRON", "E-/S", "COUNTS", "CTS", "ADU", "DN", "CPS", "MJY/SR", "NANOMAGG", "MAGGIE")


@dataclass(frozen=True)
class KindCheck:
    """What the kind check concluded about one image."""

    kind: str | None  # one of KINDS; None: unknown (metadata only, and they say nothing)
    probability: float  # of `kind` (1.0 when a label or a unit decided)
    reason: str  # one sentence fragment: why
    probabilities: dict[str, float] = field(default_factory=dict)
    source: str = "content"  # "label" | "metadata" | "content" | "app" (the app's own simulation or example) |
    # "list" (the image list's kind, chosen by the user, stands over the check's answer: `listed_kind`)
    optical_reason: str = ""  # content only: why an optical galaxy or lens rather than a disk or velocity map

    def sentence(self) -> str:
        """"Kind check: a galaxy, p 0.93 — <reason>." — one sentence for the page."""
        if self.kind is None:
            return f"Kind check: unknown ({self.reason})."
        p = "" if self.source in ("label", "app", "list") or self.probability >= 0.995 else f", p {self.probability:.2f}"
        return f"Kind check: {_article(KIND_NAMES[self.kind])}{p} — {self.reason}."


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


# ------------------------------------------------------------------ metadata


def _card(meta: ImageMeta, *keys: str) -> list[str]:
    return [str(v) for k, v, _ in meta.header if k in keys and str(v).strip()]


def metadata_evidence(meta: ImageMeta | None) -> tuple[dict[str, float], list[str], str | None]:
    """(log-odds added per kind, phrases naming the evidence, a kind the metadata decide outright or None)."""
    prior = dict.fromkeys(KINDS, 0.0)
    phrases: list[str] = []
    if meta is None:
        return prior, phrases, None
    unit = (meta.bunit or "").strip()
    if unit and VELOCITY_UNIT.match(unit):
        return prior, [f"its unit (BUNIT = {unit}) is a velocity"], "velocity"
    upper = unit.upper().replace(" ", "")
    telescope = " ".join(_card(meta, "TELESCOP", "INSTRUME", "DETECTOR")).upper()
    spectral = [c for c in _card(meta, "CTYPE3", "CTYPE4") if SPECTRAL_CTYPE.match(c.strip())]
    radio = []
    if meta.beam is not None:
        radio.append("a beam")
    intensity = "JY" in upper and "/SR" not in upper
    if intensity:
        radio.append(f"{unit} units")
    if spectral:
        radio.append(f"a spectral axis ({spectral[0].strip()})")
    if any(re.search(rf"\b{t}\b", telescope) for t in RADIO_TELESCOPES):
        radio.append("a radio telescope")
    optical = []
    if any(re.search(rf"\b{re.escape(t)}\b", telescope) for t in OPTICAL_TELESCOPES):
        optical.append(f"an optical telescope ({_card(meta, 'TELESCOP', 'INSTRUME')[0].strip()})")
    if any(u in upper for u in OPTICAL_UNITS):
        optical.append(f"{unit} units")
    for kinds, found, what in ((("disk", "velocity"), radio, "a radio image"), (("galaxy", "lens"), optical,
                                                                               "an optical image")):
        if found:
            for k in kinds:
                prior[k] += METADATA_WEIGHT * min(len(found), 2)
            phrases.append(f"its header gives {' and '.join(found[:2])} ({what})")
    if intensity:
        prior["velocity"] = -4 * METADATA_WEIGHT  # an intensity (Jy/beam, Jy/beam km/s): not a moment-1 map
    return prior, phrases, None


# ------------------------------------------------------------------ content


@lru_cache(maxsize=1)
def load_model(path: str = str(MODEL_PATH)) -> dict:
    """The fitted content model (kind_fit.fit's dict), read once."""
    return json.loads(Path(path).read_text())


def content_logits(row: np.ndarray, model: dict) -> np.ndarray:
    z = (np.asarray(row, dtype=np.float64) - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return np.asarray(model["coef"]) @ z + np.asarray(model["intercept"])


def kind_probabilities(values: dict[str, float], prior: dict[str, float] | None, model: dict) -> np.ndarray:
    """Probabilities of model["kinds"] from the content features, the metadata's log-odds (`prior`, or none) and
    the dipole rule (a signed dipole is a velocity map unless the metadata excluded one)."""
    prior = dict(prior or dict.fromkeys(model["kinds"], 0.0))
    if values["antisymmetry"] <= VELOCITY_DIPOLE and prior["velocity"] >= 0:
        prior["velocity"] += DIPOLE_WEIGHT  # a signed dipole: no light distribution makes one
    logits = content_logits([values[k] for k in model["features"]], model)
    return _softmax(logits + np.array([prior[k] for k in model["kinds"]]))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _antisymmetry(v: float, high: bool) -> str:
    if v < -0.3:
        return ("its values are antisymmetric about the centre, one side above and the other below the median "
                f"(correlation with its half-turned self {v:.2f}), the dipole of a rotating disk's velocity field")
    return f"it is {'' if high else 'not '}point-symmetric about its centre (correlation with its half-turned self {v:.2f})"


def _noise(v: float, high: bool) -> str:
    from core.analysis.kind_features import NO_NOISE

    if v == NO_NOISE:
        return "it has no measurable noise (a model image or a noiseless simulation)"
    if high:
        return f"its noise is smooth over several pixels (lag-1 correlation {v:.2f}), as a radio beam makes it"
    return f"its noise changes from pixel to pixel (lag-1 correlation {v:.2f}), as in an optical image"


PHRASES = {  # feature -> (phrase when high, phrase when low), {v} its value; or a function (value, high) -> phrase
    "antisymmetry": _antisymmetry,
    "noise_smoothness": _noise,
    "concentration": ("its light is concentrated towards the centre (log r80/r20 = {v:.2f})",
                      "its light is spread out rather than concentrated (log r80/r20 = {v:.2f})"),
    "axis_ratio": ("it is nearly round (axis ratio {v:.2f})", "it is elongated (axis ratio {v:.2f})"),
    "cavity": ("its centre is darker than the ring around it", "it is brightest at its centre"),
    "ring": ("its light rises again outside a gap, in concentric elliptical rings",
             "its light falls off steadily from the centre, without rings"),
    "residual": ("much of its light ({v:.0%}) lies outside a smooth elliptical profile (arcs, arms or clumps)",
                 "its light follows a smooth elliptical profile (only {v:.0%} outside it)"),
    "arcs": ("the light beyond a smooth profile lies in arcs stretched tangentially around the centre",
             "no arcs stretch around the centre"),
    "balance": ("the light beyond a smooth profile lies on several sides of the centre",
                "the light beyond a smooth profile lies on one side only"),
    "asymmetry": ("it changes under a half turn (asymmetry {v:.2f})",
                  "it looks the same after a half turn (asymmetry {v:.2f})"),
    "clumpiness": ("its light is clumpy (clumpiness {v:.2f})", "its light is smooth (clumpiness {v:.2f})"),
    "gini": ("its light sits in a few bright pixels", "its light is evenly spread over the source"),
    "ridges": ("thin ridges curve tangentially around the centre, like arcs or rings",
               "no thin ridges curve around the centre"),
    "ridge_spread": ("its ridges spread over many radii, like spiral arms", "its ridges lie at one radius"),
}


def _phrase(name: str, values: dict[str, float], high: bool) -> str | None:
    """Words for one feature's value, or None when they would not be true (ridges' spread without ridges)."""
    if name == "ridge_spread" and values.get("ridges", 0.0) <= 0:
        return None
    words = PHRASES[name]
    if callable(words):
        return words(values[name], high)
    return words[0 if high else 1].format(v=values[name])


VELOCITY_FEATURES = ("antisymmetry", "noise_smoothness")  # what can be said of a velocity map in words
CONTRARY = {("lens", "arcs", False), ("lens", "ridges", False), ("lens", "ridge_spread", True), ("lens", "ring", False),
            ("lens", "residual", False), ("galaxy", "arcs", True), ("galaxy", "ridges", True),  # (kind, feature, high):
            ("disk", "noise_smoothness", False)}  # a weight of the linear model, but no reason


def content_reason(values: dict[str, float], model: dict, winner: int, runner_up: int, n: int = 2) -> str:
    """The `n` features that most favour `winner` over `runner_up`, as words (for a velocity map, only those of
    VELOCITY_FEATURES: it has no light to describe; never a CONTRARY one, such as "no arcs" for a lens)."""
    names = model["features"]
    z = (np.array([values[k] for k in names]) - np.asarray(model["mean"])) / np.asarray(model["scale"])
    coef = np.asarray(model["coef"])
    push = (coef[winner] - coef[runner_up]) * z
    parts = []
    for j in np.argsort(-push):
        if push[j] <= 0 or len(parts) == n:
            break
        kind, high = model["kinds"][winner], bool(z[j] > 0)
        if (kind == "velocity" and names[j] not in VELOCITY_FEATURES) or (kind, names[j], high) in CONTRARY:
            continue  # the linear model's weight, but not a reason a reader would accept
        if (words := _phrase(names[j], values, high)) is not None:
            parts.append(words)
    return " and ".join(parts) if parts else "no single feature stands out"


def check_kind(image: np.ndarray | None = None, meta: ImageMeta | None = None, label: str | None = None,
               model: dict | None = None) -> KindCheck:
    """The kind of an image from its class label, its metadata and (when given) its pixels."""
    from core.data.datasets import DISK_CLASSES, LENS_CLASSES  # here: datasets imports torch

    if label in LENS_CLASSES or label in DISK_CLASSES:
        kind = "lens" if label in LENS_CLASSES else "disk"
        return KindCheck(kind, 1.0, f"its folder names the class '{label}'", {kind: 1.0}, "label")
    prior, phrases, decided = metadata_evidence(meta)
    if decided is not None:
        return KindCheck(decided, 1.0, phrases[0], {decided: 1.0}, "metadata")
    if image is None:
        return _metadata_only(meta, prior, phrases)
    from core.analysis.kind_features import features

    try:
        model = model or load_model()
        values = features(image)
    except (ValueError, OSError):  # too small or not 2-D, or no fitted model: the metadata alone
        return _metadata_only(meta, prior, phrases)
    kinds = model["kinds"]
    p = kind_probabilities(values, prior, model)
    order = np.argsort(-p)
    reason = content_reason(values, model, int(order[0]), int(order[1]))
    best = lambda group: max((kinds.index(k) for k in group), key=lambda j: p[j])  # noqa: E731
    optical = content_reason(values, model, best(OPTICAL), best(("disk", "velocity")))
    if phrases:
        reason += "; " + "; ".join(phrases)
        optical += "; " + "; ".join(phrases)
    return KindCheck(kinds[order[0]], float(p[order[0]]), reason, dict(zip(kinds, map(float, p), strict=True)),
                     "content", optical)


def _metadata_only(meta: ImageMeta | None, prior: dict[str, float], phrases: list[str]) -> KindCheck:
    """Without pixels: the metadata's favourite pair of kinds, narrowed as the image list always has (a FITS file
    of radio kind or none -> disk, a NumPy array -> lens, an optical FITS -> unknown between galaxy and lens)."""
    fmt = meta.source_format if meta is not None else None
    if prior["disk"] > 0 or (fmt == "fits" and not phrases):
        why = phrases[0] if phrases else "a FITS image without optical evidence, as ALMA disks come"
        return KindCheck("disk", 0.5, why, {}, "metadata")
    if fmt in ("npy", "npz") and not phrases:
        return KindCheck("lens", 0.5, "a NumPy array, as DeepLense lenses come", {}, "metadata")
    return KindCheck(None, 0.0, phrases[0] if phrases else "the file says nothing about it", {}, "metadata")


def guess_kind(meta: ImageMeta, label: str | None = None, image: np.ndarray | None = None) -> str | None:
    """The image list's kind, "disk", "lens" or None (unknown): a class label decides; else the kind check on
    the metadata (and the pixels when given), a galaxy or velocity map being neither (None)."""
    return LIST_KIND.get(check_kind(image, meta, label).kind)


# ------------------------------------------------------------------ the page's answer


def lens_confirmed(check: KindCheck) -> bool:
    """Whether the kind check backs a lens finder's 'lens': a lens by label, app or metadata, or by content with
    log-odds of lens over galaxy of at least LENS_EVIDENCE (lenses are rare among galaxies, and a galaxy's
    answer must not be called familiar on weak evidence)."""
    if check.kind != "lens":
        return False
    if check.source != "content":
        return True
    p = check.probabilities
    return float(np.log(max(p.get("lens", 0.0), 1e-12) / max(p.get("galaxy", 0.0), 1e-12))) >= LENS_EVIDENCE


def lens_log_odds(check: KindCheck) -> float | None:
    """log(p lens / p galaxy) of a content check (None when a label, the metadata, the app or the list decided)."""
    if check.source != "content" or not check.probabilities:
        return None
    p = check.probabilities
    return float(np.log(max(p.get("lens", 0.0), 1e-12) / max(p.get("galaxy", 0.0), 1e-12)))


def in_kind(check: KindCheck, expected: tuple[str, ...]) -> str | None:
    """None when the image is of a kind in `expected` (a model's training kinds, taken together: an optical galaxy
    or lens counts as one against a disk), else the kind it is: the most probable kind outside `expected` when
    together they are less probable than it."""
    if check.kind in expected:
        return None
    p = check.probabilities
    if check.source != "content" or not p:
        return check.kind
    other = max((k for k in p if k not in expected), key=p.get)
    return None if sum(p.get(k, 0.0) for k in expected) >= p[other] else other


def kind_flag(check: KindCheck | None, model_data: str | None, answer: str | None = None) -> str | None:
    """Why the kind check does not back a model's answer: "out of kind" (the image is not of its training data's
    kinds), "lens not confirmed" (a lens-finding finder's 'lens' on what the check does not confirm as a lens), or
    None. A finder of LENS_JUDGES makes the lens-vs-galaxy call itself: only a disk or velocity map is flagged."""
    expected = DATA_KINDS.get(model_data or "")
    if check is None or check.kind is None or expected is None:
        return None
    if in_kind(check, expected) is not None:
        return "out of kind"
    if model_data in FINDER_DATA and model_data not in LENS_JUDGES and answer == "lens" and not lens_confirmed(check):
        return "lens not confirmed"
    return None


def optical_sentence(check: KindCheck, answer: str | None = None) -> str:
    """The check's view for a finder that judges lens against galaxy itself: "Kind check: an optical galaxy or lens,
    p 0.99 — <why not a disk or velocity map>. Lens or galaxy is the finder's call; the kind check leans galaxy
    (log-odds lens/galaxy -0.40)." (a check that a label, the app or the list decided: its own sentence)."""
    odds = lens_log_odds(check)
    if odds is None or in_kind(check, OPTICAL) is not None:
        return check.sentence()
    p = sum(check.probabilities.get(k, 0.0) for k in OPTICAL)
    p = "" if p >= 0.995 else f", p {p:.2f}"
    lean = "lens" if odds > 0 else "galaxy"
    differs = answer in ("lens", "nonlens") and (answer == "lens") != (odds > 0)
    return (f"Kind check: an optical galaxy or lens{p} — {check.optical_reason or check.reason}. Lens or galaxy is "
            f"the finder's call (it was trained on both); the kind check leans {lean} (log-odds lens/galaxy "
            f"{odds:+.2f}){', against its answer' if differs else ''}.")


def app_kind(kind: str, source: str) -> KindCheck:
    """The kind of an image the app made itself (a simulation) or ships (an example): known, not guessed."""
    made = "the app simulated it" if source == "simulation" else "it is one of the app's examples"
    return KindCheck(kind, 1.0, f"{made} as {_article(KIND_NAMES[kind])}", {kind: 1.0}, "app")


def listed_kind(given: str, seen: KindCheck) -> KindCheck:
    """The image list's kind ("disk" | "lens": the user's choice or the upload's guess) standing over the kind
    check's own answer `seen`, which the reason still gives."""
    p = "" if seen.probability >= 0.995 else f", p {seen.probability:.2f}"
    looks = f"{_article(KIND_NAMES[seen.kind])}{p}: {seen.reason}" if seen.kind else seen.reason
    return KindCheck(given, 1.0, f"the image list says so, though its pixels look like {looks}", {given: 1.0}, "list")


def kind_notes(check: KindCheck | None, model_data: str | None, familiarity_note, fam=None,
               answer: str | None = None) -> list:
    """The notes that go with one model answer (core.analysis.familiarity.Note items), kind check first.

    `model_data`: the model's training data (a DATA_KINDS key); `familiarity_note`: the
    familiarity note as it would be shown alone; `fam`: its core.analysis.familiarity.Familiarity (for the
    percentile); `answer`: a lens finder's answer ("lens" | "nonlens"). What `kind_flag` flags (an image outside the
    kinds the model was trained on; a lens-finding finder's 'lens' the check does not confirm) turns the kind check
    into a warning, and the familiarity note is then never "familiar". For a finder of LENS_JUDGES the check's
    galaxy-or-lens lean is an information line only (`optical_sentence`)."""
    from core.analysis.familiarity import Note

    expected = DATA_KINDS.get(model_data or "")
    if check is None or check.kind is None or expected is None:
        return [n for n in (familiarity_note,) if n is not None]
    flag = kind_flag(check, model_data, answer)
    if flag is None:
        note = Note("info", check.sentence())
        if model_data in LENS_JUDGES or (model_data in FINDER_DATA and check.kind not in expected):
            note = Note("info", optical_sentence(check, answer))
        elif model_data in FINDER_DATA and answer == "nonlens" and check.kind == "lens":
            note = Note("info", f"{check.sentence()} The finder says 'not a lens': the two disagree; look at the image.")
        return [n for n in (note, familiarity_note) if n is not None]
    if flag == "out of kind":
        kind = in_kind(check, expected)
        sentence = check.sentence() if kind == check.kind else (
            f"{check.sentence()} Taken together, it is more likely {_article(KIND_NAMES[kind])} than any kind this "
            "model knows.")
        flagged = (f"This model was trained on {DATA_NAMES[model_data]}, so its answer on {_article(KIND_NAMES[kind])} "
                   "is out of kind: do not trust it, however confident.")
        why_not = "the image is not of the kind the model knows"
    else:
        sentence = check.sentence()
        flagged = ("The finder says 'lens', but the kind check finds no clear lensed arcs or images: the 'lens' is "
                   "not confirmed; look for arcs yourself.")
        why_not = "the kind check does not back the finder's 'lens'"
    if check.source == "list":  # the list's kind, as the pages always said it; the pixels' view beside it
        from core.analysis.familiarity import kind_note

        notes = [kind_note(check.kind, model_data), Note("info", check.sentence())]
    else:
        notes = [Note("warning", f"{sentence} {flagged}")]
    if familiarity_note is not None and familiarity_note.level != "warning":
        where = (f"its latent lies at the {fam.percentile:.0f}th percentile of the reference images' own distances"
                 if fam is not None else "its latent lies among the model's reference images")
        notes.append(Note("info", f"Not called familiar: {where}, but {why_not}, so nearness in latent space "
                                  "vouches for nothing."))
    elif familiarity_note is not None:
        notes.append(familiarity_note)
    return notes
