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
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

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
                     init_state: dict | None = None, device: str = "cpu", progress=None):
    """A classifier trained on (X (n, 1, S, S), y (n,)) with `recipe`; from `init_state` (trunk, and the head
    when it holds `head.*`, e.g. `probe_head_state`) or from scratch. Eval mode."""
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
                    progress=progress, scheduler=sched)
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
    from pathlib import Path

    from core.data.datasets import load_tensors

    if not Path(folder).is_dir():
        raise InputError(f"The data folder {folder} does not exist; pass a folder with one sub-folder of images per class.")
    X, y, index = load_tensors(folder, image_size, progress)
    if index.labels is None or (y < 0).any() or len(index.classes) < 2:
        raise InputError(f"{folder} has no class labels for every image; the probe needs a folder with one sub-folder "
                         "of images per class (at least two classes).")
    return X, y.numpy(), list(index.classes)
