"""Scores against the rotation angle: each shipped equivariant/CNN pair on its own held-out set.

    python -m bench.rotation [--models model1,model2,finder,finder-v2,... | EQ:CNN,...] [--n 600] [--angles-step 5]
                             [--roundtrip-step 15] [--interp bilinear] [--mask disc] [--device cpu] [--no-record]
                             [--record-index]

Pairs (`--models` takes their keys, or any two checkpoint names as EQ:CNN): Model I and Model II
classifiers (DeepLense recipes), the project's lens classifiers, the lens finders, the disk
autoencoders and x2 super-resolution. Scores: macro AUC and accuracy (classifiers), MS-SSIM of
the reconstruction against its input (autoencoders, core.analysis.evaluate.autoencoder_metrics),
PSNR against the HR image (super-resolution, core.analysis.superres.superres_metrics).

Held-out set: the `test_data` of configs/<checkpoint>.toml. When that folder holds at least N
images, its first N are used (image i depends only on the seed and i, class i mod K, so they are
the N-image set of the same recipe); otherwise the N-image set is simulated once from
configs/data/<set>.toml into data/rotation/<set>-n<N> (git-ignored). Sets smaller than N are used whole.

Protocol (the conventions of core.analysis.equivariance): images go to the model grid with
core.data.preprocess (via core.data.datasets.load_tensors; SR pairs: core.data.pairs.load_pairs),
are multiplied by the grid's inscribed disc (radius (S - 1) / 2; the HR target of SR by its own
disc) at every angle, 0 included, for both models alike (--mask none: whole squares), then turned
on the model grid with core.data.transforms.rotate (bilinear unless --interp bicubic, or sinc: the
band-limited three-shear turn, which smooths neither the image nor its noise; zero outside) and not
normalised again. The disc makes every turned copy hold the same content, so a
drop is the model's, not the lost corners'. The shipped models see the whole square, so the disc
may cost them something at 0 degrees (the "0°, whole square" column is the score without it);
models with a central crop inside the disc (Model I: 97 of 149 px) see no masked pixel at all. Round trip: turned by θ and back by −θ (two
resamplings; the SR target stays the untouched HR image, the autoencoder's target is its input).
Change: the mean relative change of the outputs, ||f(g x) - f(x)|| / ||f(x)|| for logits, and
||f(g x) - g f(x)|| / ||g f(x)|| inside 0.8 of the output's disc for reconstructions and upscaled
images (core.analysis.equivariance.relative_error / act_on_map); "ratio vs CNN" is the
equivariant model's mean change over the angles that are not multiples of 90 over the CNN's
(issue 24 target: <= 0.2). Writes the BENCHMARKS.md section and docs/bench/rotation.png.

`--record-index` also writes each measured checkpoint's curve into its index entry (the first index
listing it: checkpoints/, then runs/; under the lock and atomic write of core.checkpoints.register), where the
Equivariance lab reads it: `metrics.rotation_curve` (angles, score name, score and accuracy per angle,
the round trips, the held-out set, n, partner, checkpoint sha256, date, command) and `metrics.cost`
(learned parameters, MFLOP per image by core.analysis.model_cost, ms per image on this machine with
the thread count). `--models` (alias `--pairs`) picks the pairs, so retrained models alone can be
refreshed; with `--no-record` the BENCHMARKS.md section and the PNG stay as they are. A run with `--interp`
other than bilinear records apart: section `rotation-<interp>`, docs/bench/rotation-<interp>.png, index key
`rotation_curve_<interp>`. Re-registering a
checkpoint (a retrain) rewrites its entry from the file and so drops both records.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.record import markdown_table, record
from core.paths import CONFIGS_DIR, DATA_DIR, REPO_ROOT, repo_relative

PAIRS = {  # key: (title, equivariant checkpoint, CNN checkpoint)
    "model1": ("DeepLense Model I classifiers", "lenses-model1-equivariant", "lenses-model1-cnn"),
    "model2": ("DeepLense Model II classifiers", "lenses-model2-equivariant", "lenses-model2-cnn"),
    "model1-v2": ("DeepLense Model I classifiers v2", "lenses-model1-equivariant-v2", "lenses-model1-cnn-v2"),
    "model1-v3": ("DeepLense Model I classifiers v3", "lenses-model1-equivariant-v3", "lenses-model1-cnn-v3"),
    "model2-v2": ("DeepLense Model II classifiers v2", "lenses-model2-equivariant-v2", "lenses-model2-cnn-v2"),
    "model2-v3": ("DeepLense Model II classifiers v3", "lenses-model2-equivariant-v3", "lenses-model2-cnn-v3"),
    "model2-v4": ("DeepLense Model II classifiers v4", "lenses-model2-equivariant-v4", "lenses-model2-cnn-v4"),
    "classifier": ("project lens classifiers", "lenses-classifier-equivariant", "lenses-classifier-cnn"),
    "finder": ("lens finders (easy domain)", "lenses-finder-equivariant", "lenses-finder-cnn"),
    "disks-ae": ("disk autoencoders", "disks-ae-equivariant", "disks-ae-cnn"),
    "sr": ("x2 super-resolution", "lenses-sr-equivariant", "lenses-sr-cnn"),
    "finder-v2": ("lens finders v2 (easy domain)", "lenses-finder-equivariant-v2", "lenses-finder-cnn-v2"),
    "disks-ae-v3": ("disk autoencoders v3 (DSHARP-like)", "disks-ae-equivariant-v3", "disks-ae-cnn-v3"),
    "disks-ensemble-v3": ("disk autoencoder ensemble v3 (DSHARP-like)", "disks-ae-equivariant-ensemble-v3", "disks-ae-cnn-v3"),
    "disks-ae-v5": ("disk autoencoders v5 (ring means, profile decoder)", "disks-ae-equivariant-v5", "disks-ae-cnn-v3"),
    "disks-ensemble-v5": ("disk autoencoder ensemble v5", "disks-ae-equivariant-ensemble-v5", "disks-ae-cnn-v3"),
    "sr-v2": ("x2 super-resolution v2", "lenses-sr-equivariant-v2", "lenses-sr-cnn-v2"),
    "sr-v4": ("x2 super-resolution v4 (skies turned before observing)", "lenses-sr-equivariant-v4", "lenses-sr-cnn-v4"),
    "finder-sky-v2": ("real-sky lens finders v2 (asinh input stretch)", "lenses-finder-sky-equivariant-v2", "lenses-finder-sky-cnn-v2"),
    "finder-sky-v3": ("real-sky lens finders v3 (stretch, 3x the data)", "lenses-finder-sky-equivariant-v3", "lenses-finder-sky-cnn-v3"),
    "finder-sky-v4": ("real-sky lens finders v4 (stretch, 9x the data)", "lenses-finder-sky-equivariant-v4", "lenses-finder-sky-cnn-v4"),
    "finder-sky-v5": ("real-sky lens finders v5 (v4 + cosmic-ray hits)", "lenses-finder-sky-equivariant-v5", "lenses-finder-sky-cnn-v5"),
}
METRIC = {"classifier": ("macro AUC", "macro_auc"), "autoencoder": ("MS-SSIM", "ms_ssim"), "superres": ("PSNR (dB)", "psnr_db")}
PNG = REPO_ROOT / "docs" / "bench" / "rotation.png"


# ---------------------------------------------------------------------------- held-out sets


def _manifest(folder: Path) -> dict:
    """A data set's manifest.json ({} when it has none or it does not parse)."""
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _count(folder: Path) -> int:
    """Images (or pairs) a data set's manifest lists."""
    return len(_manifest(folder).get("images") or [])


def held_out(name: str, n: int, workers: int) -> tuple[Path, int, str, str]:
    """(folder, images to use, short name, description) of checkpoint `name`'s held-out set (its config's test_data)."""
    from core.errors import InputError

    config = CONFIGS_DIR / f"{name}.toml"
    if not config.is_file():
        raise InputError(f"{name} has no configs/{name}.toml, so its held-out set is unknown.")
    test = tomllib.loads(config.read_text()).get("test_data")
    if not test:
        raise InputError(f"configs/{name}.toml names no test_data.")
    set_name = Path(test).name
    recipe_path = CONFIGS_DIR / "data" / f"{set_name}.toml"
    if not recipe_path.is_file():
        raise InputError(f"configs/{name}.toml tests on {test}, but no configs/data/{set_name}.toml simulates it.")
    recipe = tomllib.loads(recipe_path.read_text())
    use = min(n, int(recipe["n"]))
    canonical = Path(test) if Path(test).is_absolute() else REPO_ROOT / test
    if (have := _count(canonical)) >= use:
        where = repo_relative(canonical)
        return canonical, use, f"{where}[:{use}]", f"{where}: first {use} of {have} (generator {_manifest(canonical).get('version')})"
    out = DATA_DIR / "rotation" / f"{set_name}-n{use}"
    if _count(out) < use:
        from core.data.dataset_writer import simulate_dataset

        kind = recipe["kind"]
        preset = recipe.get("domain", "none") if kind == "lensfinding" else recipe.get("preset", "project")
        print(f"simulating {use} held-out {'pairs' if recipe.get('pairs', 1) > 1 else 'images'} of "
              f"configs/data/{set_name}.toml into {repo_relative(out)}")
        simulate_dataset(kind, use, recipe.get("size"), int(recipe["seed"]), out, workers, progress=True,
                         command=f"python -m bench.rotation: configs/data/{set_name}.toml with n = {use}",
                         preset=preset, noise=recipe.get("noise"), pairs=int(recipe.get("pairs", 1)))
    return out, use, f"{repo_relative(out)}", (f"{repo_relative(out)}: the first {use} of the {recipe['n']} of "
                                                f"configs/data/{set_name}.toml (generator {_manifest(out).get('version')})")


# ---------------------------------------------------------------------------- one model


@dataclass
class Curves:
    """One model's scores against the angle (and after round trips), and the relative change of its outputs."""

    name: str
    kind: str
    data: str
    n: int
    angles: list[float]
    score: list[float]
    change: list[float]
    accuracy: list[float] = field(default_factory=list)
    bicubic: list[float] = field(default_factory=list)  # SR: bicubic PSNR against the same targets
    trip_angles: list[float] = field(default_factory=list)
    trip_score: list[float] = field(default_factory=list)
    trip_accuracy: list[float] = field(default_factory=list)
    trip_change: list[float] = field(default_factory=list)  # f(round trip of x) against f(x): resampling alone
    whole_square: float = float("nan")  # score at 0 degrees without the disc mask
    seconds: float = 0.0
    sha256: str = ""  # of the checkpoint file measured
    cost: dict | None = None  # per image (--record-index): parameters, MFLOP, ms, threads

    def at(self, angle: float, values: list[float] | None = None, angles: list[float] | None = None) -> float:
        values, angles = (self.score, self.angles) if values is None else (values, angles or self.angles)
        return values[angles.index(angle)] if angle in angles else float("nan")

    def off_grid_change(self) -> float:
        """Mean relative change over the angles that are not multiples of 90 degrees."""
        return float(np.mean([c for a, c in zip(self.angles, self.change, strict=True) if a % 90]))


def _inputs(loaded, folder: Path, n: int):
    """(x (N,1,S,S), target or None, labels or None) on the model grid."""
    if loaded.kind == "superres":
        from core.data.pairs import load_pairs

        lr, hr, _ = load_pairs(folder, limit=n)
        return lr, hr, None
    from core.data.datasets import load_tensors

    x, labels, _ = load_tensors(folder, loaded.image_size, limit=n,
                                classes=loaded.classes if loaded.kind == "classifier" else None)
    return x, None, labels


def _scores(loaded, out: torch.Tensor, x: torch.Tensor, target, labels) -> dict:
    """{"score", "accuracy"?, "bicubic"?} of outputs `out` for inputs `x`."""
    from core.analysis.evaluate import autoencoder_metrics, classifier_metrics

    if loaded.kind == "classifier":
        m = classifier_metrics(out, labels, loaded.classes)
        return {"score": m["macro_auc"], "accuracy": m["accuracy"]}
    if loaded.kind == "superres":
        from core.analysis.superres import superres_metrics

        m = superres_metrics(out, target, x)
        return {"score": m["psnr_db"], "bicubic": m["bicubic_psnr_db"]}
    return {"score": autoencoder_metrics(out, x)["ms_ssim"]}


def _change(kind: str, out: torch.Tensor, ref: torch.Tensor, angle: float, interp: str) -> float:
    """Mean relative change of outputs `out` = f(g x) against f(x) = `ref` (logits) or g f(x) (maps, turned by `interp`)."""
    from core.analysis.equivariance import act_on_map, disc_mask, relative_error

    if kind == "classifier":
        return float(relative_error(out, ref).mean())
    return float(relative_error(out, act_on_map(ref, angle, False, mode=interp), disc_mask(out.shape[-1], 0.8)).mean())


def measure(name: str, folder: Path, n: int, data: str, angles: list[float], trips: list[float],
            args, bar) -> Curves:
    """Scores of checkpoint `name` on the first `n` images of `folder`, turned by each angle and round-tripped."""
    from core.analysis.equivariance import disc_mask
    from core.analysis.evaluate import predict
    from core.checkpoints import load_model
    from core.data.transforms import rotate

    start = time.perf_counter()
    loaded = load_model(name, device=args.device)
    x, target, labels = _inputs(loaded, folder, n)

    def run(inputs):
        return predict(loaded.model, inputs, args.device, args.batch_size)

    def turn(t, angle):
        return rotate(t, angle, mode=args.interp)

    bar.set_postfix_str(f"{name}: {len(x)} images")
    curves = Curves(name, loaded.kind, data, len(x), angles, [], [], sha256=loaded.sha256)
    curves.whole_square = _scores(loaded, run(x), x, target, labels)["score"]
    bar.update(1)
    def masked(t):
        return t if t is None or args.mask == "none" else t * disc_mask(t.shape[-1]).to(t)

    xm, tm = masked(x), masked(target)
    ref = None
    for angle in angles:
        gx = turn(xm, angle)
        out = run(gx)
        ref = out if ref is None else ref  # angles start at 0
        s = _scores(loaded, out, gx, None if tm is None else turn(tm, angle), labels)
        curves.score.append(s["score"])
        curves.accuracy += [s["accuracy"]] if "accuracy" in s else []
        curves.bicubic += [s["bicubic"]] if "bicubic" in s else []
        curves.change.append(_change(loaded.kind, out, ref, angle, args.interp))
        bar.update(1)
    for angle in trips:
        back = turn(turn(xm, angle), -angle)
        out = run(back)
        s = _scores(loaded, out, back, tm, labels)
        curves.trip_change.append(_change(loaded.kind, out, ref, 0.0, args.interp))
        curves.trip_angles.append(angle)
        curves.trip_score.append(s["score"])
        curves.trip_accuracy += [s["accuracy"]] if "accuracy" in s else []
        bar.update(1)
    curves.cost = cost_record(loaded) if args.record_index else None
    curves.seconds = time.perf_counter() - start
    return curves


# ---------------------------------------------------------------------------- tables and figure


def summary_row(title: str, c: Curves, cnn: Curves | None) -> list:
    drops = [c.score[0] - s for s in c.score[1:]]
    worst = int(np.argmax(drops)) + 1
    at = f"{c.angles[worst]:g}°" if drops[worst - 1] > 0 else "—"
    ratio = c.off_grid_change() / cnn.off_grid_change() if cnn is not None else "—"
    acc = (lambda a: c.at(a, c.accuracy)) if c.accuracy else (lambda a: "—")
    return [title, c.name, c.data, c.n, METRIC[c.kind][0], c.whole_square, c.score[0], drops[worst - 1],
            at, c.at(45.0), c.at(45.0, c.trip_score, c.trip_angles), acc(0.0), acc(45.0),
            f"{c.at(90.0, c.change):.1e}", c.off_grid_change(), ratio, c.at(45.0, c.trip_change, c.trip_angles)]


SUMMARY_HEADER = ["pair", "checkpoint", "held-out set", "images", "score", "0°, whole square", "0°", "worst drop",
                  "at", "45°", "45° round trip", "accuracy 0°", "accuracy 45°", "change at 90°",
                  "mean change, non-90°", "change ratio vs CNN", "change after 45° round trip"]


def pair_table(eq: Curves, cnn: Curves) -> str:
    """Angles across, one row per model and quantity (round trips only at their angles)."""
    metric = METRIC[eq.kind][0]
    rows = []
    for label, values, angles in [(metric, "score", None), ("accuracy", "accuracy", None),
                                  (f"{metric} after round trip", "trip_score", "trip_angles"),
                                  ("accuracy after round trip", "trip_accuracy", "trip_angles"),
                                  ("relative change after round trip", "trip_change", "trip_angles"),
                                  ("relative change", "change", None)]:
        for c in (eq, cnn):
            got = getattr(c, values)
            if got:
                where = getattr(c, angles) if angles else c.angles
                rows.append([f"{c.name} {label}"] + [c.at(a, got, where) if a in where else "" for a in eq.angles])
    if eq.bicubic:
        rows.append(["bicubic PSNR (dB), same targets"] + eq.bicubic)
    return markdown_table(["angle"] + [f"{a:g}°" for a in eq.angles], rows)


def figure(results: list[tuple[str, Curves, Curves]], path: Path) -> None:
    """Score and relative change against the angle, one column per pair (small PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(2.7 * len(results), 4.6), squeeze=False, sharex=True)
    for col, (title, eq, cnn) in enumerate(results):
        top, bottom = axes[0, col], axes[1, col]
        for c, color, label in ((eq, "C0", "equivariant"), (cnn, "C1", "CNN")):
            top.plot(c.angles, c.score, "-", color=color, lw=1.4, label=label)
            top.plot(c.trip_angles, c.trip_score, "o", color=color, mfc="none", ms=4, label=f"{label}, round trip")
            bottom.semilogy(c.angles[1:], np.maximum(c.change[1:], 1e-9), ".-", color=color, lw=1.2, ms=3)
        top.set_title(title, fontsize=8)
        top.set_ylabel(METRIC[eq.kind][0], fontsize=7)
        bottom.set_ylabel("relative change", fontsize=7)
        bottom.set_xlabel("angle (°)", fontsize=7)
        for ax in (top, bottom):
            ax.tick_params(labelsize=6)
            ax.set_xticks([0, 45, 90])
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ---------------------------------------------------------------------------- index records


def cost_record(loaded) -> dict:
    """Cost per image of a loaded checkpoint (core.analysis.model_cost) on this machine, with the thread count."""
    from bench.record import machine
    from core.analysis.model_cost import model_cost

    c = model_cost(loaded)
    return {"parameters": c.parameters, "mflop": c.mflop, "ms": c.ms, "threads": torch.get_num_threads(),
            "machine": machine(), "date_utc": _now()}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def curve_record(c: Curves, partner: str, held_out: str, args, command: str) -> dict:
    """`metrics.rotation_curve` of one measured checkpoint (read by ui.equivariance_lab)."""
    metric_name, metric = METRIC[c.kind]
    out = {"metric": metric, "metric_name": metric_name, "angles_deg": c.angles, "score": c.score,
           "roundtrip": {"angles_deg": c.trip_angles, "score": c.trip_score, "change": c.trip_change}, "score_whole_square": c.whole_square,
           "change": c.change, "held_out": held_out, "data": c.data, "n": c.n, "partner": partner,
           "interp": args.interp, "mask": args.mask, "sha256": c.sha256, "date_utc": _now(), "command": command}
    if c.accuracy:
        out["accuracy"], out["roundtrip"]["accuracy"] = c.accuracy, c.trip_accuracy
    return out


def record_in_index(name: str, values: dict) -> Path:
    """Merge `values` into the metrics of checkpoint `name`'s entry in the first index listing it (checkpoints/,
    then runs/), under core.checkpoints' index lock and atomic write; returns the index's path."""
    import core.checkpoints as ck
    from core.atomic import atomic_write_json
    from core.errors import InputError
    from core.json_values import to_plain

    for folder in (Path(ck.CHECKPOINTS_DIR), Path(ck.RUNS_DIR)):
        if not (folder / ck.INDEX_NAME).is_file():
            continue
        with ck._index_lock(folder):  # the lock `register` takes: a run finishing meanwhile keeps its entry
            entries = ck._read_index(folder)
            entry = next((e for e in entries if e.get("name") == name), None)
            if entry is not None:
                entry["metrics"] = {**(entry.get("metrics") or {}), **to_plain(values)}
                atomic_write_json(folder / ck.INDEX_NAME, {"checkpoints": entries})
                return folder / ck.INDEX_NAME
    raise InputError(f"No checkpoint index lists {name}, so its rotation curve has nowhere to go.")


def listed_names() -> set[str]:
    """Names of the checkpoints an index lists (checkpoints/index.json, runs/index.json)."""
    from core.checkpoints import list_checkpoints

    return {e["name"] for e in list_checkpoints()}


def unlisted(names) -> None:
    """InputError, before anything is measured, when an index lists none of `names` (a .pt path, a typo)."""
    from core.errors import InputError

    if missing := sorted(set(names) - listed_names()):
        raise InputError(f"No checkpoint index lists {', '.join(missing)}, so --record-index has nowhere to write; "
                         "name checkpoints of checkpoints/index.json or runs/index.json.")


def record_suffix(interp: str) -> str:
    """What names a run's BENCHMARKS section and PNG apart: "" for bilinear turns, else "-<interp>"."""
    return "" if interp == "bilinear" else f"-{interp}"


def record_pair(eq: Curves, cnn: Curves, sets: dict, args, command: str) -> list[str]:
    """Write both checkpoints' curves and costs into their index entries; one line each on where."""
    from core.analysis.equivariance import rotation_curve_key

    done = []
    for c, partner in ((eq, cnn.name), (cnn, eq.name)):
        index = record_in_index(c.name, {rotation_curve_key(args.interp): curve_record(c, partner, sets[c.name][3], args, command),
                                         "cost": c.cost})
        done.append(f"recorded {c.name}'s rotation curve and cost in {repo_relative(index)}")
    return done


# ---------------------------------------------------------------------------- main


def chosen_pairs(spec: str | None) -> list[tuple[str, str, str]]:
    """(title, equivariant, CNN) of each pair key or EQ:CNN in a comma list (default: every pair of PAIRS whose two
    checkpoints an index lists; older pairs, replaced in the shipped set, are measured when named and rebuilt)."""
    from core.errors import InputError

    if not spec:
        listed = listed_names()
        return [pair for pair in PAIRS.values() if {pair[1], pair[2]} <= listed]
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item in PAIRS:
            out.append(PAIRS[item])
        elif item.count(":") == 1 and all(item.split(":")):
            eq, cnn = item.split(":")
            out.append((f"{eq} vs {cnn}", eq, cnn))
        else:
            raise InputError(f"Unknown pair '{item}'; use {', '.join(PAIRS)} or two checkpoint names as EQ:CNN.")
    return out


def angle_grid(step: float, extra: float = 45.0) -> list[float]:
    """0 to 90 degrees in `step`s, 45 always included."""
    return sorted({round(a, 6) for a in np.arange(0.0, 90.0 + 1e-9, step)} | {extra, 90.0})


def notes_text(args, described: list[str], total: float, tables: str) -> str:
    """The protocol, in the words of the BENCHMARKS.md section, then the per-pair tables."""
    mask = ("at every angle (0° too) both models get the same inputs multiplied by the grid's inscribed disc, so "
            "that every turned copy holds the same content (the shipped models see the whole square: '0°, whole "
            "square' is the score without the disc; a central crop inside the disc, Model I's 97 of 149 px, sees no "
            "masked pixel)" if args.mask == "disc" else
            "whole squares (--mask none): turned images have zero corners")
    return (
        f"Held-out sets (the test_data of each checkpoint's config): {'; '.join(described)}. "
        f"Turned on the model grid with core.data.transforms.rotate ({args.interp}, zero outside) after "
        f"core.data.preprocess, not normalised again; {mask}. Round trip: turned by θ and back by −θ; the "
        "autoencoder is scored against its input, SR against the untouched HR image. 'worst drop': the largest fall "
        "below the 0° score over the other angles. 'change': mean relative change of the logits "
        "||f(gx) − f(x)|| / ||f(x)||, or of the output maps ||f(gx) − g f(x)|| / ||g f(x)|| inside 0.8 of their disc; "
        "'ratio vs CNN' = the equivariant model's mean change over the angles that are not multiples of 90°, divided "
        "by the CNN's (target ≤ 0.2). 'change after 45° round trip': f(x turned by 45° and back) against f(x), the "
        "change that resampling alone causes, with no net turn: an exactly invariant model still shows it. "
        f"Run time {total / 60:.1f} min on {args.threads} threads. "
        f"Curves: docs/bench/rotation{record_suffix(args.interp)}.png.\n\n{tables}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", "--pairs", dest="models", default=None,
                        help=f"comma list of pairs ({', '.join(PAIRS)}) or EQ:CNN checkpoint names; default every pair whose checkpoints an index lists")
    parser.add_argument("--n", type=int, default=600, help="held-out images (SR: pairs) per set")
    parser.add_argument("--angles-step", type=float, default=5.0, help="degrees between angles, 0 to 90")
    parser.add_argument("--roundtrip-step", type=float, default=15.0, help="degrees between round-trip angles (45 always)")
    parser.add_argument("--interp", choices=("bilinear", "bicubic", "sinc"), default="bilinear",
                        help="resampling of the turned images (sinc: band-limited, smooths neither the image nor its noise)")
    parser.add_argument("--mask", choices=("disc", "none"), default="disc",
                        help="disc: every input (0° too) multiplied by the grid's inscribed disc; none: whole squares, zero corners when turned")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes simulating a missing held-out set")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-record", action="store_true", help="print only: no BENCHMARKS.md section, no PNG")
    parser.add_argument("--record-index", action="store_true",
                        help="write each checkpoint's curve and cost per image into its index entry (metrics.rotation_curve, "
                             "metrics.cost), where the Equivariance lab shows them")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.rotation", *(sys.argv[1:] if argv is None else argv)])
    from tqdm import tqdm

    from core.device import pick_device

    torch.set_num_threads(args.threads)
    args.device = pick_device(args.device)
    pairs = chosen_pairs(args.models)
    if args.record_index:
        unlisted(name for _, eq, cnn in pairs for name in (eq, cnn))
    angles = angle_grid(args.angles_step)
    trips = [a for a in angle_grid(args.roundtrip_step) if a % 90]
    started = time.perf_counter()
    sets = {name: held_out(name, args.n, args.workers) for _, eq, cnn in pairs for name in (eq, cnn)}
    described = sorted(set(s[3] for s in sets.values()))
    results = []
    with tqdm(total=2 * len(pairs) * (1 + len(angles) + len(trips)), unit="pass", dynamic_ncols=True,
              mininterval=0.5 if sys.stderr.isatty() else 30.0) as bar:
        for title, eq, cnn in pairs:
            results.append((title, measure(eq, *sets[eq][:3], angles, trips, args, bar),
                            measure(cnn, *sets[cnn][:3], angles, trips, args, bar)))
            for line in record_pair(*results[-1][1:], sets, args, command) if args.record_index else []:
                bar.write(line)  # each pair as soon as it is measured: a long run stopped later keeps it
    total = time.perf_counter() - started
    rows = [row for title, eq, cnn in results for row in (summary_row(title, eq, cnn), summary_row(title, cnn, None))]
    tables = "\n\n".join(f"**{title}** ({eq.n} images, {eq.seconds + cnn.seconds:.0f} s)\n\n{pair_table(eq, cnn)}"
                         for title, eq, cnn in results)
    notes = notes_text(args, described, total, tables)
    if args.no_record:
        print(markdown_table(SUMMARY_HEADER, rows))
        print(notes)
    else:
        suffix = record_suffix(args.interp)
        figure(results, PNG.with_name(f"rotation{suffix}.png"))
        record(f"rotation{suffix}", f"Scores against the rotation angle, equivariant vs CNN{' (' + args.interp + ' turns)' if suffix else ''}",
               SUMMARY_HEADER, rows, notes=notes)
    print(f"{total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    from core.errors import InputError

    try:
        raise SystemExit(main())
    except InputError as exc:  # one sentence, no traceback
        raise SystemExit(str(exc)) from None
