"""Few-label learning curve: linear probe on the self-supervised backbones vs the same
architecture trained from scratch on the same labels, macro AUC against labels per class K.

    python -m bench.probe_curve --data data/dl2-test --ks 5,20,100 --seeds 5 --seeds-100 3 --finetune-k 20 --threads 2

For each backbone (lenses-ssl-equivariant, lenses-ssl-cnn) and each test folder (class folders,
resampled to the backbone's grid as the app does), for each K and seed: K labelled images per
class (`core.analysis.probe.few_label_split`), every other image evaluated; the probe, the
optional fine-tuning and the from-scratch twin are those of `python -m core probe`
(core/train/fewlabel.py, fixed recipes). Row "all": a 5-fold cross-validated probe on every
labelled image of the folder (~800 per class in training); its scratch column cites the test
macro AUC of the shipped supervised classifier trained on all 30000 labelled training images
(checkpoints/index.json; not retrained here). Results are cached per (checkpoint sha256, folder,
K, seed, method) in runs/probe_curve/results.json, so an interrupted run continues.
Records the table in BENCHMARKS.md (section probe-curve).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.record import record
from core.atomic import atomic_write_json
from core.paths import RUNS_DIR

BACKBONES = ("lenses-ssl-equivariant", "lenses-ssl-cnn")
SUPERVISED_OF_DATA = {"dl2": ("lenses-model2-equivariant", "lenses-model2-cnn"), "dl1": ("lenses-model1-equivariant", "lenses-model1-cnn")}
CACHE = RUNS_DIR / "probe_curve" / "results.json"


def _cache() -> dict:
    return json.loads(CACHE.read_text()) if CACHE.is_file() else {}


def _cv_probe(z: np.ndarray, y: np.ndarray, classes: list[str], folds: int = 5) -> float:
    """Macro AUC of a probe fitted on (folds-1)/folds of the images, pooled over the folds' predictions."""
    from core.analysis.probe import fit_probe
    from core.train.fewlabel import auc_scores

    order = np.random.default_rng(0).permutation(len(y))
    probs = np.zeros((len(y), len(classes)))
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        probe = fit_probe(z[train], [classes[i] for i in y[train]], classes=classes)
        probs[test] = probe.predict_proba(z[test])
    return auc_scores(probs, y, classes)[0]


def _supervised(name: str) -> str:
    """"0.993 (NAME, N labels)": the shipped supervised classifier's test macro AUC, or "-"."""
    from core.checkpoints import list_checkpoints

    for e in list_checkpoints():
        auc = ((e.get("metrics") or {}).get("test") or {}).get("macro_auc")
        if e["name"] == name and auc is not None:
            return f"{auc:.3f} ({name}, {(e.get('metrics') or {}).get('n_train', '?')} labels)"
    return "-"


def _mean_std(values: list[float]) -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "-"
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def main() -> None:
    from core.checkpoints import load_model
    from core.train import fewlabel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", default=None, help="class-folder test set (repeatable); default data/dl2-test")
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--ks", default="5,20,100")
    ap.add_argument("--seeds", type=int, default=5, help="seeds for K < 100")
    ap.add_argument("--seeds-100", type=int, default=3, help="seeds for K >= 100")
    ap.add_argument("--finetune-k", default="20", help="K values that also get the fine-tuned backbone ('' = none)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folders = args.data or ["data/dl2-test"]
    ks = [int(k) for k in args.ks.split(",") if k]
    ft_ks = {int(k) for k in args.finetune_k.split(",") if k}
    cache = _cache()
    rows, started = [], time.monotonic()
    for folder in folders:
        tag = "dl1" if "dl1" in Path(folder).name else "dl2"
        for bi, name in enumerate(args.backbones.split(",")):
            loaded = load_model(name)
            X, y, classes = fewlabel.load_labelled(folder, loaded.image_size)
            z = fewlabel.embed_all(loaded, X)
            yt = torch.as_tensor(y, dtype=torch.long)
            twin = fewlabel.twin_architecture(loaded, len(classes))
            for k in ks:
                seeds = range(args.seeds if k < 100 else args.seeds_100)
                got: dict[str, list[float]] = {"probe": [], "finetune": [], "scratch": []}
                for seed in seeds:
                    train, rest = fewlabel.split(y, classes, k, seed, None)
                    for method in ("probe", "scratch", *(("finetune",) if k in ft_ks else ())):
                        method_tag = f"{method}-lp-lr{fewlabel.FINETUNE.lr:g}" if method == "finetune" else method
                        key = f"{loaded.sha256[:12]}|{Path(folder).name}|{k}|{seed}|{method_tag}|{len(rest)}"
                        if key not in cache:
                            t0 = time.monotonic()
                            if method == "probe":
                                auc = fewlabel.probe_run(z, y, classes, train, rest)[0]
                            else:
                                recipe = fewlabel.SCRATCH if method == "scratch" else fewlabel.FINETUNE
                                init = fewlabel.finetune_start(loaded, twin[2], X[train], y[train], classes) if method == "finetune" else None
                                model = fewlabel.train_classifier(twin[0], twin[1], X[train], yt[train], recipe, seed, init_state=init)
                                auc = fewlabel.auc_scores(fewlabel.classifier_probs(model, X[rest]), y[rest], classes)[0]
                            cache[key] = float(auc)
                            atomic_write_json(CACHE, cache)
                            print(f"{name} {Path(folder).name} K={k} seed={seed} {method}: {auc:.4f} "
                                  f"({time.monotonic() - t0:.0f} s)", flush=True)
                        got[method].append(cache[key])
                gain = np.mean(got["probe"]) - np.mean(got["scratch"])
                rows.append([Path(folder).name, k, name, _mean_std(got["probe"]), _mean_std(got["finetune"]),
                             _mean_std(got["scratch"]), f"{gain:+.3f}", len(seeds)])
            cited = _supervised(SUPERVISED_OF_DATA[tag][bi]) if bi < 2 else "-"
            rows.append([Path(folder).name, "all", name, f"{_cv_probe(z, y, classes):.3f}", "-", cited, "-", 1])
    notes = (
        "Macro AUC (one-vs-rest, 3 classes) on the images not labelled; mean ± std over seeds (each seed draws other "
        "labelled images and seeds the trainings). probe: logistic regression on the frozen invariant embedding of the "
        "self-supervised backbone (VICReg on instrument views of data/dl2-train, labels unused). finetune: the whole "
        "backbone + linear head trained on the K labels from the probe's solution (LP-FT; 300 AdamW steps, lr 1e-4). scratch: the same architecture "
        "(D4 equivariant classifier / CNN classifier) from a random initialisation, 300 AdamW steps of batch 32, "
        "lr 2e-3 cosine, random D4 element + instrument view per image. Row 'all': 5-fold cross-validated probe on "
        "every image of the folder; its scratch column cites the shipped supervised classifier trained on every "
        "training image (other architecture: D8 / CNN, not retrained here). "
        f"Bench wall time {time.monotonic() - started:.0f} s (cached results not recomputed)."
    )
    record("probe-curve", "Few-label learning: probe on self-supervised backbones vs training from scratch",
           ["test set", "K per class", "backbone", "probe", "finetune", "scratch", "probe − scratch", "seeds"], rows, notes)


if __name__ == "__main__":
    main()
