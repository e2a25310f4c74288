"""Checkpoints: save, index, verify and load trained models for serving.

A checkpoint file is one `torch.save` of plain values only (tensors, dicts, lists, str,
int, float, bool, None), so `torch.load(path, weights_only=True)` reads it without running
any pickled code:

    {"format": 3, "model_name": "equivariant_ae", "config": {...model config...},
     "members": [state_dict, ...],        # 1 model, or K fold members of an ensemble
     "portable": {"sketch": {block: [8 floats]}, "escnn": "1.0.11"} | None,   # None: no escnn layers
     "metrics": {...held-out metrics...}, "data_manifest": {...summary...},
     "versions": {"torch": ..., "escnn": ..., "numpy": ..., "project": ..., "git": ...},
     "command": "python -m core train ..." (shipped: "python -m core reproduce NAME"), "history": {...},
     "train_config": {...} | None, "classes": [...] | None, "created_utc": "...",
     "grid": {...} | None}  # pixel scale and field of the training images (core.data.grids; older files: none)

Portable state dicts (format 3): members hold the learned parameters and the learned or
stateful buffers (batch-norm running statistics) only. escnn's coefficients are stored in
canonical bases of its filter spaces, which every CPU, BLAS and OS rebuilds alike
(`core.models.portable_state`); `portable` holds a sketch of each canonical basis and the escnn
version, checked on load. The buffers escnn computes at construction (the sampled kernel bases:
13.5 MB of a D8 model's 14 MB) are never stored. Format 2 (coefficients in the saving machine's
bases, `recomputed` record) and format 1 (every buffer stored) still load where their bases are
rebuilt; `convert_checkpoint` rewrites them as format 3 on such a machine.

Each folder of checkpoints has an `index.json` ({"checkpoints": [entry, ...]}) whose entries
record name, file (relative to the folder), model, config, data manifest summary, metrics,
sha256, versions, the command that reproduces it and the training `grid` (the file's, else derived
from the data summary by core.data.grids.grid_record: the shipped files predate it).
`checkpoints/` holds the shipped ones (committed), `runs/` the ones users train themselves
(git-ignored); `list_checkpoints()` reads both.

Ensembles: a checkpoint with K > 1 members loads as a `core.models.ensemble.EnsembleModel`,
whose `forward` averages the members' outputs (classifiers: the log of the mean softmax).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import paths
from core.atomic import atomic_open, atomic_write_json, sha256_file
from core.errors import CheckpointError
from core.json_values import to_plain
from core.models.ensemble import EnsembleModel
from core.models.lean_state import escnn_version, recomputed_keys, restore_recomputed
from core.models.portable_state import portable_members, restore_portable
from core.models.registry import model_kind

CHECKPOINTS_DIR = paths.CHECKPOINTS_DIR  # shipped, committed
RUNS_DIR = paths.RUNS_DIR  # trained by users (app Train page, CLI default), git-ignored
INDEX_NAME = "index.json"
FORMAT = 3  # 1: every buffer ("fat"); 2: lean, coefficients in the saver's bases; 3: portable
SHIPPED = ("disks-ae-equivariant", "disks-ae-cnn", "lenses-classifier-equivariant", "lenses-classifier-cnn",
           "disks-ae-equivariant-ensemble")


# ---------------------------------------------------------------------------- plain values


def _plain_state_dict(state_dict: dict) -> dict[str, torch.Tensor]:
    return {str(k): v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}


def versions() -> dict[str, str]:
    """Versions of what produced a checkpoint (torch, escnn, numpy, project, git commit)."""
    import core

    out = {"torch": str(torch.__version__), "numpy": str(np.__version__), "project": str(core.__version__),
           "escnn": escnn_version()}
    try:
        out["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["git"] = "unknown"
    return out


def summarize_manifest(manifest: dict | None, n: int | None = None, path: str | Path | None = None,
                       fingerprint: str | None = None) -> dict:
    """The part of a dataset manifest a checkpoint keeps: generator, version, seed, size, n, classes."""
    manifest = manifest or {}
    images = manifest.get("images")
    summary = {
        "generator": manifest.get("generator"),
        "version": manifest.get("version"),
        "seed": manifest.get("seed"),
        "size": manifest.get("size"),
        "n": n if n is not None else (len(images) if isinstance(images, list) else None),
        "classes": list(manifest.get("classes") or []),
        "command": manifest.get("command"),
        "preset": manifest.get("preset") or ("project" if manifest.get("generator") == "lenses" else None),
    }
    if path is not None:
        summary["path"] = paths.repo_relative(path)
    if fingerprint is not None:
        summary["fingerprint"] = fingerprint
    return to_plain(summary)


def _portable_payload(payload: dict, members: list[dict], model: nn.Module | None = None) -> dict:
    """`payload` as format 3, with `members`: state dicts in the bases of `model` (default: a fresh build)."""
    from core.models.registry import build_model

    model = model or build_model(payload["model_name"], dict(payload["config"]))
    members, record = portable_members(model, [_plain_state_dict(sd) for sd in members])
    rest = {k: v for k, v in payload.items() if k not in ("recomputed", "portable")}
    return {**rest, "format": FORMAT, "members": members, "portable": record}


def convert_checkpoint(path: str | Path) -> tuple[int, int]:
    """Rewrite a format-1 or -2 checkpoint as format 3, in place and atomically (same outputs).

    Run it where the file loads (its bases are rebuilt there, e.g. the machine that trained it).
    Everything but the members is kept (metrics, versions, created_utc, ...). Returns
    (bytes before, bytes after); a format-3 file is left untouched.
    """
    path = Path(path)
    before = path.stat().st_size
    payload = read_checkpoint(path)
    if payload.get("format", 1) < FORMAT:
        model = build_from_checkpoint(payload, export=False, label=path.name)
        loaded = list(getattr(model, "members", [model]))
        with atomic_open(path, "wb") as fh:
            torch.save(_portable_payload(payload, [m.state_dict() for m in loaded], loaded[0]), fh)
    return before, path.stat().st_size


# ---------------------------------------------------------------------------- save / index


def save_checkpoint(path: str | Path, *, model_name: str, config: dict, state_dict: dict | list[dict],
                    metrics: dict, data_manifest: dict, command: str, history: dict,
                    train_config: dict | None = None, classes: list[str] | None = None) -> Path:
    """Write a portable checkpoint atomically (a killed writer leaves the previous file intact).

    `state_dict` is one model's state dict, or a list of K state dicts (an ensemble), in the
    bases of the escnn build that trained it (this process); see the module doc.
    """
    members = state_dict if isinstance(state_dict, list) else [state_dict]
    if not members:
        raise ValueError("A checkpoint needs at least one state dict.")
    payload = {
        "model_name": str(model_name),
        "config": to_plain(config),
        "metrics": to_plain(metrics),
        "data_manifest": to_plain(data_manifest),
        "versions": versions(),
        "command": str(command),
        "history": to_plain(history),
        "train_config": to_plain(train_config),
        "classes": to_plain(classes),
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "grid": training_grid(data_manifest, model_kind(str(model_name))),
    }
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        torch.save(_portable_payload(payload, members), fh)
    return path


def training_grid(data_manifest: dict | None, kind: str | None) -> dict | None:
    """Pixel scale and field of view of the training images (core.data.grids.grid_record), None when unknown."""
    from core.data.grids import grid_record

    return to_plain(grid_record(data_manifest, kind))


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded with `weights_only=True`; CheckpointError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"The checkpoint file {path} does not exist; train one with `python -m core train`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise CheckpointError(
            f"The checkpoint file {path.name} is unreadable ({type(exc).__name__}); re-train it or restore it from git."
        ) from exc
    if not isinstance(payload, dict) or "members" not in payload or "model_name" not in payload:
        raise CheckpointError(f"The file {path.name} is not an EquiScope checkpoint; pick a file written by `python -m core train`.")
    return payload


def _read_index(folder: Path) -> list[dict]:
    index = folder / INDEX_NAME
    if not index.is_file():
        return []
    try:
        data = json.loads(index.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{index} is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); restore it from git.") from exc
    return list(data.get("checkpoints", [])) if isinstance(data, dict) else list(data)


def register(path: str | Path, name: str, index_dir: str | Path | None = None) -> dict:
    """Add (or replace) the index entry for the checkpoint at `path`; returns the entry.

    The index lives in `index_dir` (default: the checkpoint's own folder); `file` is stored
    relative to it.
    """
    path = Path(path).resolve()
    folder = Path(index_dir).resolve() if index_dir else path.parent
    payload = read_checkpoint(path)
    entry = {
        "name": name,
        "file": str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path),
        "model": payload["model_name"],
        "kind": model_kind(payload["model_name"]),
        "members": len(payload["members"]),
        "config": payload["config"],
        "classes": payload.get("classes"),
        "data": payload["data_manifest"],
        "metrics": payload["metrics"],
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "versions": payload["versions"],
        "command": payload["command"],
        "created_utc": payload.get("created_utc"),
        "grid": payload.get("grid") or training_grid(payload["data_manifest"], model_kind(payload["model_name"])),
    }
    with _index_lock(folder):  # two runs finishing together must not drop each other's entry
        entries = [e for e in _read_index(folder) if e.get("name") != name]
        entries.append(entry)
        entries.sort(key=lambda e: e["name"])
        atomic_write_json(folder / INDEX_NAME, {"checkpoints": entries})
    return entry


def unregister(name: str, folder: str | Path) -> bool:
    """Drop `name`'s entry from `folder`'s index (the file stays); True when there was one."""
    folder = Path(folder).resolve()
    with _index_lock(folder):
        entries = _read_index(folder)
        kept = [e for e in entries if e.get("name") != name]
        if len(kept) < len(entries):
            atomic_write_json(folder / INDEX_NAME, {"checkpoints": kept})
    return len(kept) < len(entries)


@contextlib.contextmanager
def _index_lock(folder: Path):
    """An exclusive advisory lock (fcntl) on `<folder>/.index.lock` around read-modify-write of the index."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".index.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def list_checkpoints(folders: list[str | Path] | None = None) -> list[dict]:
    """Entries of `checkpoints/index.json` then `runs/index.json`, each with an absolute `path` added."""
    out, seen = [], set()
    for folder in [Path(f) for f in (folders or [CHECKPOINTS_DIR, RUNS_DIR])]:
        for entry in _read_index(folder):
            if entry.get("name") in seen:
                continue  # a shipped name wins over a user run of the same name
            seen.add(entry.get("name"))
            out.append({**entry, "path": str((folder / entry["file"]).resolve())})
    return out


def resolve(name_or_path: str | Path, folders: list[str | Path] | None = None) -> tuple[Path, dict | None]:
    """A checkpoint name from an index, or a path to a .pt file -> (path, index entry or None)."""
    entries = list_checkpoints(folders)
    for entry in entries:
        if entry.get("name") == str(name_or_path):
            return Path(entry["path"]), entry
    p = Path(name_or_path)
    if p.is_file():
        for entry in entries:
            if Path(entry["path"]) == p.resolve():
                return p, entry
        return p, None
    names = ", ".join(e["name"] for e in entries) or "none yet"
    raise CheckpointError(f"No checkpoint named '{name_or_path}' exists; available: {names}.")


# ---------------------------------------------------------------------------- load for serving


@dataclasses.dataclass
class LoadedModel:
    """A model ready to serve: eval mode, escnn exported to plain torch where possible."""

    model: nn.Module
    name: str
    config: dict
    entry: dict  # the index entry (or one built from the file itself when not indexed)
    path: Path
    kind: str  # "autoencoder" | "classifier"
    classes: list[str] | None
    sha256: str

    @property
    def image_size(self) -> int:
        return int(getattr(self.model, "image_size", None) or self.config.get("image_size", 129))


def build_from_checkpoint(payload: dict, *, export: bool = True, device: str | torch.device = "cpu",
                          label: str | None = None) -> nn.Module:
    """Rebuild the (ensemble) model of a checkpoint dict and load its weights.

    A portable payload (format 3) is mapped into the rebuilt model's bases; a lean one (format 2)
    takes the rebuilt buffers once their fingerprint matches; a fat one (format 1) loads every
    buffer from the file. `label` names the checkpoint in errors.
    """
    from core.models.registry import build_model

    try:
        from core.models.export import export_for_serving
    except ImportError:
        export_for_serving = None
    members, portable, record = [], payload.get("portable"), payload.get("recomputed")
    for state in payload["members"]:
        model = build_model(payload["model_name"], dict(payload["config"]))
        if recomputed_keys(model) & set(state):  # stored escnn buffers must not land in the basis
            model = copy.deepcopy(model)  # modules escnn shares between all models of the process
        if portable:
            state = restore_portable(model, state, portable, label or payload["model_name"])
        elif record:
            state = restore_recomputed(model, state, record, label or payload["model_name"])
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(
                f"The weights do not fit model '{payload['model_name']}' with the stored config ({str(exc).splitlines()[0]}); "
                "the model code changed since training, so re-train the checkpoint."
            ) from exc
        model.eval()
        if export and export_for_serving is not None:
            model = export_for_serving(model)
        members.append(model.to(device).eval())
    if len(members) == 1:
        return members[0]
    kind = getattr(members[0], "kind", None) or model_kind(payload["model_name"])
    return EnsembleModel(members, kind).to(device).eval()


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu", *, export: bool = True,
               folders: list[str | Path] | None = None) -> LoadedModel:
    """Load a checkpoint by index name or path, check its sha256 against the index, build the model."""
    path, entry = resolve(name_or_path, folders)
    digest = sha256_file(path)
    if entry is not None and entry.get("sha256") and entry["sha256"] != digest:
        raise CheckpointError(
            f"Checkpoint '{entry['name']}' is corrupt: the sha256 of {path.name} does not match its index entry; "
            "restore the file from git or re-train it."
        )
    payload = read_checkpoint(path)
    model = build_from_checkpoint(payload, export=export, device=device, label=entry["name"] if entry else path.name)
    kind = getattr(model, "kind", None) or model_kind(payload["model_name"])
    if entry is None:
        entry = {"name": path.stem, "file": str(path), "model": payload["model_name"], "kind": kind,
                 "members": len(payload["members"]), "config": payload["config"], "classes": payload.get("classes"),
                 "data": payload["data_manifest"], "metrics": payload["metrics"], "sha256": digest,
                 "versions": payload["versions"], "command": payload["command"], "path": str(path.resolve()),
                 "grid": payload.get("grid") or training_grid(payload["data_manifest"], kind)}
    return LoadedModel(model=model, name=entry["name"], config=dict(payload["config"]), entry=entry,
                       path=path, kind=kind, classes=payload.get("classes"), sha256=digest)


def training_side(entry: dict) -> int | None:
    """Side in pixels of the images a checkpoint was trained on (its data manifest's size), if known."""
    size = (entry.get("data") or {}).get("size")
    return int(size) if isinstance(size, (int, float)) else None


def data_description(entry: dict) -> str:
    """One line on what a checkpoint was trained on: preset or generator, image size, number of images."""
    data = entry.get("data") or {}
    preset = data.get("preset") or ("project" if data.get("generator") == "lenses" else None)
    classes = entry.get("classes") or []
    folder = (data.get("description") or (f"a folder of {', '.join(classes)} images" if classes else "an unlabelled folder"))
    source = {"deeplense-model1": "DeepLense Model I (official recipe)", "deeplense-model2": "DeepLense Model II (official recipe)",
              "project": f"this project's lens generator {data.get('version')}"}.get(preset) or (
        f"{data.get('generator')} generator {data.get('version')}" if data.get("generator") else folder)
    size = f", {data['size']} px" if data.get("size") else ""
    n = f", {data['n']:,} images" if data.get("n") and not data.get("description") else ""
    return f"{source}{size}{n}"
