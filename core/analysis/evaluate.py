"""Held-out quality of a model on a data set (the `python -m core evaluate` command is core/cli/evaluate.py).

A data set is a class-folder dataset (ours or DeepLense's own layout, any image size; every image
is preprocessed to the model grid) or a flat folder of images.
- Autoencoders: mean MSE, PSNR (dB, data range 1), SSIM and MS-SSIM (pytorch_msssim) between
  the preprocessed image and its reconstruction, with the settings of `core.models.losses`
  (the training loss).
- Super-resolution (x2): the folder holds lr/ and hr/ with the same file names; PSNR and SSIM of the
  model and of bicubic upscaling, images scaled to [0, 1] by the HR image's range
  (`core.analysis.superres`).
- Classifiers: per-class one-vs-rest ROC AUC, macro and micro AUC, accuracy and the
  confusion matrix (rows = true class, columns = predicted), via `core.analysis.metrics`.
  Folder class names are mapped to the model's classes with `canonical_class`
  (`sphere` -> `cdm`, `vort`/`axion` -> `vortex`, ...).
`predict` and the metrics here are also what training (held-out and test scores) and the app use.

`evaluate_dataset` is the one code path of the CLI and the app's Batch evaluation page: it
returns a `BatchEvaluation` with the summary metrics (what the CLI prints), one row per file
(true class, prediction, probability or reconstruction scores, latent distance), the latent
vectors and the images on the model grid (for galleries of misclassified images and the worst
reconstructions); `rows_csv` is that per-file table as CSV. With a reference set
(core.analysis.familiarity) each row also has its latent distance. With the files as they were given
(`kind_source`), each row has the kind check's answer on the file (core.analysis.kind: its kind, probability and
`kind_flag`), and a row the kind check flags (out of kind, or a lens-finding finder's unconfirmed 'lens') is never
'familiar', as on the app's pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.progress import Progress

# ---------------------------------------------------------------------------- metrics


@torch.no_grad()
def predict(model, X: torch.Tensor, device, batch_size: int = 64) -> torch.Tensor:
    """Model outputs for a (N, 1, S, S) tensor, on the CPU: reconstructions or logits."""
    model.eval()
    outs = [model(X[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs)


def autoencoder_metrics(recon: torch.Tensor, target: torch.Tensor, chunk: int = 64) -> dict:
    """Mean per-image MSE, PSNR (dB, data range 1), SSIM and MS-SSIM of (N, 1, S, S) pairs.

    SSIM / MS-SSIM use the settings of `core.models.losses` (7-pixel Gaussian window, 5 scales
    on 129-px grids), i.e. the same numbers the training loss optimises.
    """
    from core.models.losses import ms_ssim_value, ssim_value

    mse = ((recon - target) ** 2).flatten(1).mean(dim=1)  # (N,)
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))  # (N,)
    ssim_sum = msssim_sum = 0.0
    for i in range(0, len(recon), chunk):
        r, t = recon[i : i + chunk].float(), target[i : i + chunk].float()
        ssim_sum += float(ssim_value(r, t)) * len(r)
        msssim_sum += float(ms_ssim_value(r, t)) * len(r)
    return {"mse": float(mse.mean()), "psnr_db": float(psnr.mean()), "ssim": ssim_sum / len(recon),
            "ms_ssim": msssim_sum / len(recon), "n": len(recon)}


def classifier_metrics(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict:
    """Per-class one-vs-rest AUC, macro/micro AUC, accuracy and confusion matrix."""
    from core.analysis.metrics import accuracy, confusion, roc_report

    probs = logits.float().softmax(dim=1).numpy()  # (N, K)
    y = labels.numpy()
    pred = probs.argmax(axis=1)
    report = roc_report(y, probs, classes).as_dict()
    out = {
        "macro_auc": report["macro_auc"], "micro_auc": report["micro_auc"],
        "per_class_auc": report["per_class_auc"], "accuracy": accuracy(y, pred),
        "confusion": confusion(y, pred, len(classes)).tolist(), "classes": list(classes), "n": len(y),
    }
    if report["notes"]:
        out["notes"] = report["notes"]
    return out


def metrics_from_outputs(kind: str, outputs, targets, labels, classes) -> dict:
    """Metrics of one model kind; for "superres" `targets` are the HR images and `labels` the LR inputs."""
    if kind == "superres":
        from core.analysis.superres import superres_metrics

        return superres_metrics(outputs, targets, labels)
    if kind == "classifier":
        return classifier_metrics(outputs, labels, classes)
    return autoencoder_metrics(outputs, targets)


# ---------------------------------------------------------------------------- datasets


@dataclass
class BatchEvaluation:
    """A model on a data set: summary metrics, one row per file, and the arrays behind them."""

    kind: str  # "autoencoder" | "classifier"
    metrics: dict  # what `evaluate_loaded` returns (and the CLI prints)
    rows: list[dict]  # one per file: file, true, predicted, probability, ... latent distance
    files: list[str]  # relative to the data set's root ("cdm/000.npy")
    classes: list[str] = field(default_factory=list)
    y: np.ndarray | None = None  # (N,) true class index into classes, -1 unlabelled
    probs: np.ndarray | None = None  # (N, K) classifiers
    latents: np.ndarray | None = None  # (N, d) invariant vectors (encode / embed)
    inputs: np.ndarray | None = None  # (N, S, S) images on the model grid in [0, 1]
    outputs: np.ndarray | None = None  # (N, S, S) reconstructions (autoencoders)
    kinds: list | None = None  # core.analysis.kind.KindCheck of each file as given (with `kind_source`)

    def misclassified(self) -> np.ndarray:
        """Indices of labelled files whose predicted class is not the true one, most confident first."""
        if self.probs is None or self.y is None:
            return np.zeros(0, dtype=int)
        pred = self.probs.argmax(1)
        wrong = np.flatnonzero((self.y >= 0) & (pred != self.y))
        return wrong[np.argsort(-self.probs[wrong].max(1), kind="stable")]

    def worst(self, n: int = 12) -> np.ndarray:
        """Indices of the `n` worst reconstructions (highest MSE) of an autoencoder."""
        if self.kind != "autoencoder":
            return np.zeros(0, dtype=int)
        mse = np.asarray([r["mse"] for r in self.rows])
        return np.argsort(-mse, kind="stable")[:n]


@torch.no_grad()
def _outputs_and_latents(model, kind: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs (logits or reconstructions) and invariant vectors of one batch."""
    if kind == "classifier":
        z = model.embed(x)
        # a single classifier is head(embed(x)): one pass; an ensemble averages its members' answers
        logits = model.head(z) if "head" in dict(model.named_children()) else model(x)
        return logits.float(), z.float()
    return model(x).float(), model.encode(x).float()


def _per_image_scores(recon: torch.Tensor, target: torch.Tensor) -> list[dict]:
    from core.models.losses import ms_ssim_value, ssim_value

    mse = ((recon - target) ** 2).flatten(1).mean(dim=1)
    psnr = 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))
    return [{"mse": float(mse[i]), "psnr_db": float(psnr[i]), "ssim": float(ssim_value(recon[i:i + 1], target[i:i + 1])),
             "ms_ssim": float(ms_ssim_value(recon[i:i + 1], target[i:i + 1]))} for i in range(len(recon))]


def evaluate_dataset(loaded, source, device="cpu", batch_size: int = 64, limit: int | None = None,
                     progress: Progress | None = None, reference=None, per_file: bool = True,
                     kind_source=None) -> BatchEvaluation:
    """A `LoadedModel` on a data set (folder or `DatasetIndex`): metrics, per-file rows, latents, images.

    `reference`: a `core.analysis.familiarity.FamiliarityReference` of the model's reference set;
    each row then has its latent distance and percentile. `progress(done, total, message)`
    after every batch. `per_file=False` skips the per-image SSIM of autoencoders (summary only).
    `kind_source`: the data set as given (folder or index, the same files in the same order: `source` itself, or
    the folder `source` was resampled from), read for the kind check of every file (`kind_columns`).
    """
    from core.data.datasets import load_tensors

    kind = loaded.kind
    if kind == "encoder":
        from core.errors import InputError

        raise InputError(f"'{loaded.name}' is a self-supervised backbone without classes or reconstructions; measure it "
                         f"with `python -m core probe --checkpoint {loaded.name} --data DIR --labels-per-class K`.")
    classes = list(loaded.classes) if kind == "classifier" else None
    if progress:
        progress(0, 1, "reading the images")
    X, labels, index = load_tensors(source, loaded.image_size, classes=classes, limit=limit)
    whole, progress = progress, _halves(progress, kind_source is not None)  # the kind checks: the bar's second half
    model = loaded.model.to(device).eval()
    outs, zs = [], []
    for i in range(0, len(X), batch_size):
        out, z = _outputs_and_latents(model, kind, X[i:i + batch_size].to(device))
        outs.append(out.cpu())
        zs.append(z.cpu())
        if progress:
            progress(min(i + batch_size, len(X)), len(X), f"{'classifying' if kind == 'classifier' else 'reconstructing'} "
                                                         f"{min(i + batch_size, len(X))}/{len(X)} images")
    outputs, latents = torch.cat(outs), torch.cat(zs).numpy()
    metrics = metrics_from_outputs(kind, outputs, X, labels, classes)
    files = [str(Path(f).relative_to(index.root)) if Path(f).is_relative_to(index.root) else str(f)
             for f in index.files[:len(X)]]
    fam = reference.score(latents) if reference is not None else None
    rows: list[dict] = [{"file": f} for f in files]
    result = BatchEvaluation(kind, metrics, rows, files, list(classes or index.classes), labels.numpy(), None, latents,
                             X[:, 0].numpy())
    if kind == "classifier":
        probs = outputs.softmax(dim=1).numpy()
        result.probs = probs
        for r, p, t in zip(rows, probs, result.y, strict=True):
            k = int(p.argmax())
            r.update({"true": classes[t] if t >= 0 else None, "predicted": classes[k], "probability": float(p[k]),
                      "correct": bool(t == k) if t >= 0 else None})
            r.update({f"p_{c}": float(p[j]) for j, c in enumerate(classes)})
    else:
        result.outputs = outputs.clamp(0, 1)[:, 0].numpy()  # for display
        if per_file:  # scored as the summary is, on the raw outputs
            for r, scores, t in zip(rows, _per_image_scores(outputs, X), result.y, strict=True):
                r.update({"label": index.classes[t] if t >= 0 and index.classes else None, **scores})
    if fam is not None:
        for r, f in zip(rows, fam, strict=True):
            r.update({"latent_distance": f.distance, "distance_percentile": f.percentile, "familiar": f.familiar})
    if kind_source is not None:
        result.kinds = kind_checks(kind_source, len(X), _halves(whole, True, second=True))
        kind_columns(result, model_data(loaded.entry))
    return result


# ---------------------------------------------------------------------------- the kind check per file


def _halves(progress: Progress | None, split: bool, second: bool = False) -> Progress | None:
    """`progress` as one half of the bar (first or second) when `split`, else itself."""
    if progress is None or not split:
        return progress
    return lambda done, total, message: progress(done + second * total, 2 * total, message)


def model_data(entry: dict | None) -> str | None:
    """A checkpoint's training data as the kind check knows it (core.analysis.kind.DATA_KINDS), else None (a run on
    uploaded images: its own training images judge it)."""
    from core.analysis.kind import DATA_KINDS

    generator = ((entry or {}).get("data") or {}).get("generator")
    return generator if generator in DATA_KINDS else None


def kind_checks(source, limit: int | None = None, progress: Progress | None = None) -> list:
    """core.analysis.kind.KindCheck of the first `limit` files of a data set (folder or index), each file read as
    given (its metadata and pixels; its class folder as the label, as the app's image list keeps it); a file that
    cannot be read gets the check on its label alone."""
    from core.analysis.kind import check_kind
    from core.data.datasets import DatasetIndex, scan_dataset
    from core.errors import InputError
    from core.io import read_image

    index = source if isinstance(source, DatasetIndex) else scan_dataset(source)
    files = index.files if limit is None else index.files[:limit]
    checks = []
    for i, path in enumerate(files):
        label = index.labels[i] if index.labels is not None else None
        try:
            loaded = read_image(path)
            checks.append(check_kind(loaded.data, loaded.meta, label))
        except (InputError, OSError, ValueError):
            checks.append(check_kind(None, None, label))
        if progress and (i + 1) % 20 == 0:
            progress(i + 1, len(files), f"checking the kind of {i + 1}/{len(files)} images")
    return checks


def kind_columns(result: BatchEvaluation, data: str | None) -> None:
    """Each row's kind check ("kind", "kind_p", "kind_flag": core.analysis.kind.kind_flag with the row's predicted
    class as a finder's answer); a flagged row is not "familiar"; a note in the metrics counts the flagged rows."""
    from core.analysis.kind import FINDER_DATA, kind_flag

    flagged: dict[str, int] = {}
    for row, check in zip(result.rows, result.kinds, strict=True):
        answer = row.get("predicted") if data in FINDER_DATA else None
        flag = kind_flag(check, data, answer)
        row.update({"kind": check.kind, "kind_p": round(check.probability, 4), "kind_flag": flag})
        if flag is not None:
            flagged[flag] = flagged.get(flag, 0) + 1
            if "familiar" in row:
                row["familiar"] = False
    n = result.metrics["kind_flagged"] = sum(flagged.values())
    if n:
        what = ", ".join(f"{k}: {v}" for k, v in flagged.items())
        result.metrics.setdefault("notes", []).append(
            f"{n} of {len(result.rows)} files flagged by the kind check ({what}): never counted familiar")


def evaluate_loaded(loaded, data_dir: str | Path, device="cpu", batch_size: int = 64, limit: int | None = None) -> dict:
    """Metrics of a `LoadedModel` on a dataset folder (`evaluate_dataset(...).metrics`; lr/ + hr/ pairs for super-resolution)."""
    if loaded.kind == "superres":
        from core.analysis.superres import evaluate_pairs

        return evaluate_pairs(loaded.model.to(device), data_dir, device, limit)
    return evaluate_dataset(loaded, data_dir, device, batch_size, limit, per_file=False).metrics


def evaluate_members(model_name: str, config: dict, members: list[dict], data_dir, classes, device="cpu",
                     batch_size: int = 64) -> dict:
    """Metrics of freshly trained weights (one model or an ensemble) on a dataset folder."""
    from core.checkpoints import build_from_checkpoint
    from core.data.datasets import load_tensors
    from core.models.registry import model_kind

    model = build_from_checkpoint({"model_name": model_name, "config": config, "members": members}, device=device)
    kind = model_kind(model_name)
    if kind == "superres":
        from core.analysis.superres import evaluate_pairs

        return evaluate_pairs(model, data_dir, device)
    X, labels, _ = load_tensors(data_dir, int(config.get("image_size", 129)),
                                classes=classes if kind == "classifier" else None)
    outputs = predict(model, X, device, batch_size)
    return metrics_from_outputs(kind, outputs, X, labels, classes)


# ---------------------------------------------------------------------------- per-file table


def rows_csv(rows: list[dict]) -> str:
    """The per-file rows as CSV text (columns in first-seen order; empty cells for missing values)."""
    import csv
    import io

    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
