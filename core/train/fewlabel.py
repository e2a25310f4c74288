"""Few-label learning on a pretrained backbone, against the same architecture trained from scratch
(the `python -m core probe` command is core/cli/probe.py; bench/probe_curve.py uses the pieces).

In one run, on the class folders of DIR (K labelled images per class drawn with `seed` by
`core.analysis.probe.few_label_split`; every other image is evaluated):
- probe (default): the checkpoint's invariant embedding (`core.analysis.encode.latent_fn`) of every
  image, a linear (logistic) probe fitted on the K per class (`core.analysis.probe.fit_probe`);
- `--finetune`: instead, the whole backbone + a linear head trained on the K per class (`FINETUNE`
  recipe), starting from the probe's solution (LP-FT: the head is the probe fitted first);
- scratch: the same architecture (the backbone's classifier twin, `core.models.backbone`) from a
  random initialisation, trained on the same K per class (`SCRATCH` recipe) -> `scratch_macro_auc`.

Both short trainings use one fixed recipe whatever K is: `steps` AdamW steps on batches of
min(batch_size, labelled images) drawn with replacement, cosine learning rate, every image
augmented with an exact random D4 element and an instrument view (`core.data.instrument_views`: sub-pixel
shift, PSF blur jitter, flux and sky jitter, noise), batch-norm statistics recomputed on the
labelled images at the end (`core.train.fit.recalibrate_batch_norm`).

The Train page's few-label route (`transfer`): a classifier made from a shipped model and a small
labelled folder, saved and registered like a `fit` run. The shipped model is the one whose linear
probe scores best in a stratified cross-validation on those labels (`choose_backbone`); then
either the probe itself becomes the classifier's head (`method="probe"`, scored out-of-fold), or
the whole network is fine-tuned from it (LP-FT, `method="finetune"`, scored on a held-out share).
`chance` says whether a validation accuracy beats always answering the commonest class.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data.instrument_views import ViewConfig
from core.errors import InputError


@dataclass
class Recipe:
    steps: int = 300  # AdamW steps, whatever K is
    batch_size: int = 32  # images per step (at most the number of labelled images)
    lr: float = 2e-3  # peak learning rate (cosine to 1 % of it)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    views: ViewConfig = field(default_factory=lambda: ViewConfig(e2=True))  # augmentation of every image


SCRATCH = Recipe()  # random initialisation
FINETUNE = Recipe(lr=1e-4)  # from the pretrained trunk and the probe's head (LP-FT): a small step keeps what pretraining learned


def embed_all(loaded, X: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Invariant embeddings (N, d) of images X (N, 1, S, S) already on the model grid."""
    from core.analysis.encode import encode_batch

    return np.concatenate([encode_batch(loaded, X[i : i + batch_size]) for i in range(0, len(X), batch_size)])


def twin_architecture(loaded, n_classes: int) -> tuple[str, dict, dict]:
    """(registry name, config, trunk weights) of the classifier that shares the checkpoint's backbone."""
    from core.checkpoints import load_model
    from core.models.backbone import classifier_twin, trunk_state

    entry = loaded.entry or {}
    name, config = entry.get("model"), dict(entry.get("config") or {})
    if loaded.kind == "encoder":
        model_name, cfg = classifier_twin(name, config, n_classes)
    elif loaded.kind == "classifier":
        model_name, cfg = name, {**config, "n_classes": int(n_classes)}
    else:
        raise InputError(f"Checkpoint '{loaded.name}' is a {loaded.kind}; the from-scratch baseline and fine-tuning need a "
                         "pretrained encoder or a classifier (use --no-scratch to only probe it).")
    model = load_model(loaded.path, export=False).model  # escnn modules as trained (not exported)
    members = getattr(model, "members", None)
    state = (members[0] if members is not None else model).state_dict()
    return model_name, cfg, trunk_state({k: v for k, v in state.items() if not k.startswith("head.")})


class _Batches:
    """`steps` augmented batches drawn with replacement from (X, y), for `engine.train_one_epoch`."""

    def __init__(self, X, y, recipe: Recipe, generator: torch.Generator):
        self.X, self.y, self.recipe, self.gen = X, y, recipe, generator
        self.batch = min(recipe.batch_size, len(X))

    def __len__(self):
        return self.recipe.steps

    def __iter__(self):
        from core.data.instrument_views import instrument_view

        for _ in range(self.recipe.steps):
            idx = torch.randint(len(self.X), (self.batch,), generator=self.gen)
            yield instrument_view(self.X[idx], self.recipe.views, self.gen), self.y[idx]


def probe_head_state(probe) -> dict:
    """The classifier head's Linear (`head.1`) that computes the linear probe's logits from the raw embedding:
    W ((z - mean) / scale) + b = (W / scale) z + (b - W (mean / scale))."""
    w = probe.weight / probe.scale[None, :]  # (C, d)
    b = probe.bias - w @ probe.mean
    return {"head.1.weight": torch.as_tensor(w, dtype=torch.float32), "head.1.bias": torch.as_tensor(b, dtype=torch.float32)}


def train_classifier(model_name: str, config: dict, X: torch.Tensor, y: torch.Tensor, recipe: Recipe, seed: int,
                     init_state: dict | None = None, device: str = "cpu", progress=None, should_stop=None):
    """A classifier trained on (X (n, 1, S, S), y (n,)) with `recipe`; from `init_state` (trunk, and the head
    when it holds `head.*`, e.g. `probe_head_state`) or from scratch. Eval mode. `should_stop()` returning
    True ends training after the current step."""
    from core.models.registry import build_model
    from core.train.engine import train_one_epoch
    from core.train.fit import recalibrate_batch_norm
    from core.train.losses import classifier_loss_fn

    torch.manual_seed(seed)
    model = build_model(model_name, config)
    if init_state is not None:
        missing, unexpected = model.load_state_dict(init_state, strict=False)
        if unexpected or any(not k.startswith("head.") and not k.endswith((".filter", ".expanded_bias")) for k in missing):
            raise InputError("The checkpoint's backbone does not fit its classifier twin; retrain it with this version.")
        model.train()
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.steps, eta_min=recipe.lr * 0.01)
    gen = torch.Generator().manual_seed(seed)
    train_one_epoch(model, _Batches(X, y, recipe, gen), opt, classifier_loss_fn(), torch.device(device),
                    progress=progress, scheduler=sched, should_stop=should_stop)
    recalibrate_batch_norm(model, torch.utils.data.TensorDataset(X, y), device)
    return model.eval()


@torch.no_grad()
def classifier_probs(model, X: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities (N, n_classes) of a classifier on X (N, 1, S, S)."""
    return np.concatenate([torch.softmax(model(X[i : i + batch_size]).float(), dim=1).numpy()
                           for i in range(0, len(X), batch_size)])


def auc_scores(probs: np.ndarray, y: np.ndarray, classes: list[str]) -> tuple[float, dict[str, float]]:
    """(macro AUC, {class: one-vs-rest AUC}) of probabilities (N, C) against class indices y (N,)."""
    from core.analysis.metrics import roc_report

    report = roc_report(y, probs, classes)
    return report.macro_auc, {c.class_name: c.auc for c in report.curves}


def split(y: np.ndarray, classes: list[str], k: int, seed: int, max_eval: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(labelled indices: k per class, evaluated indices: the rest, at most max_eval of them, seeded)."""
    from core.analysis.probe import few_label_split

    if k < 1:
        raise InputError(f"--labels-per-class must be at least 1, got {k}.")
    train, rest = few_label_split([classes[i] for i in y], k, seed=seed)
    if max_eval is not None and max_eval < len(rest):
        if max_eval < 1:
            raise InputError(f"--max-eval must be at least 1, got {max_eval}.")
        rest = np.sort(np.random.default_rng(seed + 1).choice(rest, size=max_eval, replace=False))
    return train, rest


def probe_run(z: np.ndarray, y: np.ndarray, classes: list[str], train: np.ndarray, rest: np.ndarray) -> tuple[float, dict]:
    """Linear probe on the embeddings z (N, d) of `train`, scored on `rest` (indices into z and y)."""
    from core.analysis.probe import fit_probe

    probe = fit_probe(z[train], [classes[i] for i in y[train]], classes=classes)
    return auc_scores(probe.predict_proba(z[rest]), y[rest], classes)


def finetune_start(loaded, trunk: dict, X: torch.Tensor, y: np.ndarray, classes: list[str]) -> dict:
    """Weights to fine-tune from: the pretrained trunk and, as the head, the linear probe fitted on the labelled
    images' frozen embeddings (LP-FT: the head starts right, so the first steps do not wreck the trunk)."""
    from core.analysis.probe import fit_probe

    probe = fit_probe(embed_all(loaded, X), [classes[i] for i in y], classes=classes)
    return {**trunk, **probe_head_state(probe)}


def few_label(loaded, X: torch.Tensor, y: np.ndarray, classes: list[str], k: int, seed: int = 0, *,
              finetune: bool = False, scratch: bool = True, max_eval: int | None = None, progress=None) -> dict:
    """The probe (or fine-tuned) and from-scratch macro AUCs on images X with class indices y (see module doc)."""
    started = time.monotonic()
    train, rest = split(y, classes, k, seed, max_eval)
    yt = torch.as_tensor(y, dtype=torch.long)
    out: dict = {"checkpoint": loaded.name, "labels_per_class": k, "seed": seed, "classes": classes,
                 "method": "finetune" if finetune else "probe", "n_train": int(len(train)), "n_eval": int(len(rest))}
    twin = twin_architecture(loaded, len(classes)) if (finetune or scratch) else None
    if finetune:
        model = train_classifier(twin[0], twin[1], X[train], yt[train], FINETUNE, seed,
                                 init_state=finetune_start(loaded, twin[2], X[train], y[train], classes), progress=progress)
        out["macro_auc"], out["per_class_auc"] = auc_scores(classifier_probs(model, X[rest]), y[rest], classes)
        out["finetune_recipe"] = asdict(FINETUNE)
    else:
        used = np.concatenate([train, rest])  # only the images the probe sees: labelled first, then evaluated
        z = embed_all(loaded, X[used])
        n = len(train)
        out["macro_auc"], out["per_class_auc"] = probe_run(z, y[used], classes, np.arange(n), np.arange(n, len(used)))
    if scratch:
        model = train_classifier(twin[0], twin[1], X[train], yt[train], SCRATCH, seed, progress=progress)
        out["scratch_macro_auc"], out["scratch_per_class_auc"] = auc_scores(classifier_probs(model, X[rest]), y[rest], classes)
        out["scratch_model"] = twin[0]
        out["scratch_recipe"] = asdict(SCRATCH)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def load_labelled(folder, image_size: int, progress=None) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """(X (N, 1, S, S), class indices (N,), class names) of a class-folder data set; one sentence if unlabelled."""
    from core.data.datasets import load_tensors

    if not Path(folder).is_dir():
        raise InputError(f"The data folder {folder} does not exist; pass a folder with one sub-folder of images per class.")
    X, y, index = load_tensors(folder, image_size, progress)
    if index.labels is None or (y < 0).any() or len(index.classes) < 2:
        raise InputError(f"{folder} has no class labels for every image; the probe needs a folder with one sub-folder "
                         "of images per class (at least two classes).")
    return X, y.numpy(), list(index.classes)


# ---------------------------------------------------------------------------- the Train page's few-label route

SMALL_LABEL_SET = 200  # below this many labelled images the Train page starts from a shipped model by default
CV_FOLDS = 5  # the probe's out-of-fold score: stratified folds (fewer when a class has fewer images)
HOLD_OUT = 0.25  # fine-tuning: stratified share of the labelled images held out for validation
CHANCE_P = 0.05  # above this binomial p-value against the commonest-class guess, an accuracy is at chance
METHODS = ("probe", "finetune")


def chance(metrics: dict) -> dict | None:
    """The validation accuracy against always answering the commonest validation class, from the confusion
    matrix (rows: true classes): {"accuracy", "n", "baseline", "p_value", "at_chance"}; None without one.

    `p_value` is the one-sided binomial probability of at least as many right answers from a guesser right
    with probability `baseline`; `at_chance` when it is at least CHANCE_P (no evidence of learning)."""
    from scipy.stats import binom

    confusion = np.asarray(metrics.get("confusion") or [], dtype=np.float64)
    if confusion.ndim != 2 or confusion.sum() < 1:
        return None
    n, correct = int(confusion.sum()), int(np.trace(confusion))
    baseline = float(confusion.sum(axis=1).max() / n)
    p_value = float(binom.sf(correct - 1, n, baseline))
    return {"accuracy": correct / n, "n": n, "baseline": baseline, "p_value": p_value, "at_chance": p_value >= CHANCE_P}


def out_of_fold_probs(z: np.ndarray, y: np.ndarray, classes: list[str], folds: int = CV_FOLDS, seed: int = 0) -> np.ndarray:
    """(N, C) probabilities of the linear probe for each embedding row, fitted on the other stratified folds."""
    from sklearn.model_selection import StratifiedKFold

    from core.analysis.probe import fit_probe

    smallest = int(np.bincount(y, minlength=len(classes)).min())
    if smallest < 2:
        raise InputError("Every class needs at least 2 labelled images for a cross-validated score; "
                         f"{classes[int(np.bincount(y, minlength=len(classes)).argmin())]} has {smallest}.")
    probs = np.zeros((len(y), len(classes)))
    for train, held in StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed).split(z, y):
        probs[held] = fit_probe(z[train], [classes[i] for i in y[train]], classes=classes).predict_proba(z[held])
    return probs


@dataclass
class Scored:
    """A candidate backbone with the labelled images on its grid and its probe's out-of-fold answers."""

    loaded: object  # core.checkpoints.LoadedModel
    X: torch.Tensor  # (N, 1, S, S) on the backbone's grid
    y: np.ndarray  # (N,) class indices
    classes: list[str]
    z: np.ndarray  # (N, d) embeddings
    probs: np.ndarray  # (N, C) out-of-fold probe probabilities

    @property
    def accuracy(self) -> float:
        return float((self.probs.argmax(axis=1) == self.y).mean())


def choose_backbone(names: list[str], folder, seed: int = 0, progress=None,
                    should_stop=None) -> tuple[Scored, dict[str, float]]:
    """The candidate whose linear probe has the best out-of-fold accuracy on the labelled images of `folder`
    (ties: the first), and every candidate's accuracy; a candidate that does not load on this machine is left out.
    `should_stop()` returning True ends the search after the current candidate (the best so far is kept)."""
    from core.checkpoints import load_model
    from core.errors import CheckpointError

    best, scores, failed = None, {}, []
    for i, name in enumerate(names):
        if best is not None and should_stop is not None and should_stop():
            break
        if progress is not None:
            progress(i, len(names), f"trying a linear probe on {name} ({i + 1}/{len(names)})")
        try:
            loaded = load_model(name)
        except (CheckpointError, OSError, RuntimeError) as exc:
            failed.append(f"{name} ({exc})")
            continue
        X, y, classes = load_labelled(folder, loaded.image_size)
        z = embed_all(loaded, X)
        scored = Scored(loaded, X, y, classes, z, out_of_fold_probs(z, y, classes, seed=seed))
        scores[name] = scored.accuracy
        if best is None or scored.accuracy > best.accuracy:
            best = scored
    if best is None:
        raise InputError(f"None of the shipped models loads on this server: {'; '.join(failed) or 'none given'}.")
    return best, scores


def _metrics(probs: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    from core.analysis.evaluate import classifier_metrics

    logits = torch.log(torch.as_tensor(probs, dtype=torch.float64).clamp_min(1e-12))
    return classifier_metrics(logits, torch.as_tensor(y, dtype=torch.long), classes)


def probe_classifier(best: Scored, twin: tuple[str, dict, dict]) -> tuple[torch.nn.Module, dict]:
    """The classifier twin with the backbone's trunk and, as its head, the probe fitted on every labelled image;
    its metrics are the probe's out-of-fold ones."""
    from core.analysis.probe import fit_probe
    from core.models.registry import build_model

    probe = fit_probe(best.z, [best.classes[i] for i in best.y], classes=best.classes)
    model = build_model(twin[0], twin[1])
    missing, unexpected = model.load_state_dict({**twin[2], **probe_head_state(probe)}, strict=False)
    if unexpected or any(not k.endswith((".filter", ".expanded_bias")) for k in missing):
        raise InputError("The shipped model's backbone does not fit its classifier twin; choose another model.")
    metrics = _metrics(best.probs, best.y, best.classes)
    metrics["split"] = f"out-of-fold ({min(CV_FOLDS, int(np.bincount(best.y).min()))}-fold cross-validation of the probe)"
    return model.eval(), metrics


def finetune_classifier(best: Scored, twin: tuple[str, dict, dict], epochs: int, batch_size: int, seed: int,
                        progress=None, should_stop=None) -> tuple[torch.nn.Module, dict]:
    """LP-FT on a stratified (1 - HOLD_OUT) share of the labelled images for `epochs` passes, scored on the rest;
    the metrics also keep the probe's accuracy on that held-out share (where fine-tuning started)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(best.y))
    n_held = max(len(best.classes), int(round(HOLD_OUT * len(idx))))
    if n_held >= len(idx) - len(best.classes):
        raise InputError(f"{len(idx)} labelled images are too few to hold some out for fine-tuning; use the linear probe.")
    train, held = train_test_split(idx, test_size=n_held, stratify=best.y, random_state=seed)
    Xt, yt = best.X[train], best.y[train]
    recipe = Recipe(steps=max(1, epochs * -(-len(train) // batch_size)), batch_size=batch_size, lr=FINETUNE.lr,
                    weight_decay=FINETUNE.weight_decay, views=FINETUNE.views)
    start = finetune_start(best.loaded, twin[2], Xt, yt, best.classes)
    model = train_classifier(twin[0], twin[1], Xt, torch.as_tensor(yt, dtype=torch.long), recipe, seed,
                             init_state=start, progress=progress, should_stop=should_stop)
    metrics = _metrics(classifier_probs(model, best.X[held]), best.y[held], best.classes)
    from core.analysis.probe import fit_probe

    probe = fit_probe(best.z[train], [best.classes[i] for i in yt], classes=best.classes)
    metrics["probe_accuracy"] = float((probe.predict_proba(best.z[held]).argmax(axis=1) == best.y[held]).mean())
    metrics["split"] = f"validation ({len(held)} of {len(idx)} held out, stratified, seed {seed})"
    metrics["finetune_recipe"] = asdict(recipe)
    return model, metrics


def data_summary(folder, description: str | None = None) -> dict:
    """The checkpoint's data manifest for a labelled folder: `summarize_manifest` plus the images' side, the
    images per class and a one-line `description` ("the 60 labelled list images")."""
    from core.checkpoints import summarize_manifest
    from core.data.datasets import scan_dataset
    from core.io import read_image

    index = scan_dataset(folder)
    summary = summarize_manifest(index.manifest, n=len(index), path=folder, fingerprint=index.fingerprint)
    summary["classes"] = summary["classes"] or list(index.classes)
    summary["size"] = summary["size"] or int(min(read_image(index.files[0]).data.shape))
    summary["counts"] = {c: index.labels.count(c) for c in index.classes} if index.labels else {}
    summary["description"] = description or f"the {len(index)} labelled images of {Path(folder).name}"
    return summary


def transfer(folder, backbones: list[str], *, name: str, out, method: str = "probe", epochs: int = 5,
             batch_size: int = 16, seed: int = 0, description: str | None = None, progress=None,
             should_stop=None) -> Path:
    """A classifier for the labelled images of `folder` made from the best of the shipped models `backbones`
    (see module doc), written as `<out>/<name>.pt` and registered in `<out>/index.json`; returns its path."""
    from core.checkpoints import register, save_checkpoint

    if method not in METHODS:
        raise InputError(f"Unknown few-label method '{method}'; use one of {', '.join(METHODS)}.")
    started = time.monotonic()
    best, scores = choose_backbone(list(backbones), folder, seed, progress, should_stop)
    twin = twin_architecture(best.loaded, len(best.classes))
    if method == "probe":
        model, metrics = probe_classifier(best, twin)
    else:
        model, metrics = finetune_classifier(best, twin, epochs, batch_size, seed, progress, should_stop)
    metrics.update(method=method, backbone=best.loaded.name, backbone_scores=scores, n_train=len(best.y),
                   epochs_run=epochs if method == "finetune" else 0, train_seconds=round(time.monotonic() - started, 1),
                   stopped_early=bool(should_stop and should_stop()))
    if len(scores) > 1:
        metrics["split"] += (f"; the shipped model was picked among {len(scores)} by a cross-validated probe on these same "
                             "labels, so the score is slightly optimistic")
    path = save_checkpoint(Path(out) / f"{name}.pt", model_name=twin[0], config=twin[1], state_dict=model.state_dict(),
                           metrics=metrics, data_manifest=data_summary(folder, description), history={},
                           command=f"Train page: {method} on {best.loaded.name} ({folder})", classes=best.classes)
    register(path, name)
    return path
