"""Model sizes, CPU cost and invariance off the pixel grid, side by side.

Run: .venv/bin/python -m bench.models [--threads 1] [--batch 8] [--repeats 5] [--seeds 3] [--only sizes|layouts]
(the layouts table is recorded with --only layouts --threads 2 --batch 32: the training setting)

Two tables, each recorded in BENCHMARKS.md:

- `models`: every registry model at its default config (129 px): parameters, MFLOP per image, ms per
  image in eval (escnn and exported) and for one training step (forward + backward).
- `model_layouts` (issue 24): the lens classifiers as their configs build them (configs/lenses-model{1,2}-*.toml:
  the shipped D8 layout, its CNN twin, the v2 layout with circular field of view, anti-aliasing, early pool,
  band-limited bases and small late kernels, and the v2 CNN twin), plus Model II ablations of the v2 layout
  (one option off at a time). Columns: parameters; MFLOP per image; forward + backward ms per image
  (batch, threads as given; best of the repeats, every model timed in turn each round) and its ratio to
  the shipped CNN, also in one-thread CPU time; the relative change of the logits under turns by angles that are not multiples of 90
  degrees (15, 30, ..., 345: core.analysis.equivariance.equivariance_curve, inputs not masked) and at 45
  degrees alone, with random weights (seeds 0..N-1) on smooth random images and on simulated DeepLense
  images of the model's preset; the change after a 45-degree turn and back (a resampling round trip)
  on the simulated images; and the largest relative change under 90-degree turns and flips (exactness).
- `model_layouts_trained`: the same turns applied to the trained lens classifiers of the checkpoint index
  (shipped, and v2 where a retrain has registered one), plain relative change of the logits.

FLOPs: torch.utils.flop_counter.FlopCounterMode on the exported (plain torch) model, one image: every
convolution (escnn's expanded filters, the anti-aliasing blurs) and matrix product, 2 per multiply-add.
Random weights make every model's logits nearly constant (the biases dominate), so ||f(g x) - f(x)|| / ||f(x)||
would say little: the invariance columns divide by how far the logits of the unturned images lie from
their mean instead, ||f(g x) - f(x)|| / ||f(x) - mean_x f(x)||: 1 means a turn moves the answer as far
as changing the image does. The exactness column is the plain ratio (float rounding ~1e-7).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from bench.record import record
from core.analysis.equivariance import equivariance_curve, relative_error
from core.analysis.model_cost import mflop_per_image
from core.data.transforms import apply_group_element
from core.models import MODEL_NAMES, build_model
from core.models.export import export_for_serving
from core.models.plain_approx import gaussian_filter
from core.paths import CONFIGS_DIR
from core.train.config import load_config

OTHER_ANGLES = [a for a in range(15, 360, 15) if a % 90]  # 0-360 in 15-degree steps, the exact ones left out
PRESETS = {"Model II": ("deeplense-model2", "lenses-model2"), "Model I": ("deeplense-model1", "lenses-model1")}
ABLATIONS = {"v2 without circular fov": {"circular_fov": False}, "v2 without anti-aliasing": {"antialias": 0.0},
             "v2 without band limit": {"frequencies_cutoff": 0.0}, "v2 without early pool": {"early_pool": False}}


def ms_per_image(fn, x: torch.Tensor, repeats: int) -> float:
    with torch.no_grad():
        fn(x)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t)
    return 1e3 * best / x.shape[0]


def train_steps_ms(models: dict[str, tuple[str, dict]], size: int, batch: int, repeats: int,
                   clock=time.perf_counter) -> dict[str, float]:
    """Forward + backward (cross-entropy) ms per image of each model, best of `repeats` rounds in which
    every model takes one step in turn (so machine load falls on all of them alike); `clock` reads seconds."""
    x, y = torch.rand(batch, 1, size, size), torch.randint(0, 3, (batch,))
    steps = {}
    for label, (name, cfg) in models.items():
        torch.manual_seed(0)
        model = build_model(name, cfg).train()

        def step(model=model):
            model.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()

        step()
        steps[label] = step
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for label, step in steps.items():
            t = clock()
            step()
            best[label] = min(best[label], clock() - t)
    return {label: 1e3 * s / batch for label, s in best.items()}


def cpu_ms_one_thread(models: dict[str, tuple[str, dict]], size: int, batch: int, repeats: int) -> dict[str, float]:
    """`train_steps_ms` on one thread, in CPU time of this process: hardly moved by other processes' load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_steps_ms(models, size, batch, repeats, clock=time.process_time)
    finally:
        torch.set_num_threads(threads)


def smooth_images(n: int, size: int, seed: int, sigma: float = 2.0) -> torch.Tensor:
    """Random images blurred by a Gaussian of `sigma` px and scaled to [0, 1]: content up to the corners."""
    x = torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))
    g = gaussian_filter(sigma)
    x = nn.functional.conv2d(x, g[None, None], padding=g.shape[-1] // 2)
    lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    return (x - lo) / (hi - lo)


def simulated_images(preset: str, size: int, per_class: int = 4, seed: int = 2031) -> torch.Tensor:
    """DeepLense images of `preset` (no_sub, cdm, vortex in turn) prepared for a size-px grid, (n, 1, size, size)."""
    from core.data import deeplense
    from core.data.preprocess import prepare_batch

    rng = np.random.default_rng(seed)
    subs = ["no_sub", "cdm", "vortex"] * per_class
    return prepare_batch([deeplense.render(deeplense.sample_params(preset, s, rng), rng) for s in subs], size)


def invariance(model: nn.Module, x: torch.Tensor, centre: bool = True) -> tuple[float, float, float, float]:
    """(mean change at the non-90-degree angles, at 45 degrees, after 45 degrees and back, largest at 90-degree
    turns and flips) of the logits of x; the first three relative to the spread of the unturned logits
    (`centre`), else to the logits themselves (as `python -m core equivariance`)."""
    with torch.no_grad():
        mean = model(x).mean(0, keepdim=True) if centre else 0.0

        def centred(t):
            return model(t) - mean

        curve = equivariance_curve(centred, x, OTHER_ANGLES, mask_input=False)
        back = apply_group_element(apply_group_element(x, 45.0), -45.0)
        round_trip = float(relative_error(centred(back), centred(x)).mean())
        exact = equivariance_curve(model, x, [0.0, 90.0, 180.0, 270.0], flips=(False, True), mask_input=False)
    return float(curve.error.mean()), float(curve.error[0][OTHER_ANGLES.index(45)]), round_trip, float(exact.error_max.max())


def layout_models(prefix: str, ablations: bool) -> dict[str, tuple[str, dict]]:
    """label -> (registry name, model config) of the shipped and v2 classifier configs of one preset."""
    out = {}
    for label, stem in [("CNN (shipped)", "cnn"), ("D8 (shipped)", "equivariant"), ("CNN v2", "cnn-v2"), ("D8 v2", "equivariant-v2")]:
        cfg = load_config(CONFIGS_DIR / f"{prefix}-{stem}.toml")
        out[label] = (cfg.model, dict(cfg.model_config))
    if ablations:
        name, v2 = out["D8 v2"]
        out.update({label: (name, {**v2, **off}) for label, off in ABLATIONS.items()})
    return out


def layout_rows(args) -> list[list]:
    rows = []
    for preset_label, (preset, prefix) in PRESETS.items():
        models = layout_models(prefix, ablations=preset_label == "Model II")
        size = next(iter(models.values()))[1]["image_size"]
        timing = train_steps_ms(models, size, args.batch, args.repeats)
        cpu = cpu_ms_one_thread(models, size, args.batch, args.repeats)
        sims = simulated_images(preset, size)
        for label, (name, cfg) in models.items():
            torch.manual_seed(0)
            built = build_model(name, cfg).eval()
            side = cfg.get("crop") or size
            errs = []
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                served = export_for_serving(build_model(name, cfg).eval())
                smooth = invariance(served, smooth_images(12, size, seed=10 + seed))
                sim = invariance(served, sims)
                errs.append([smooth[0], smooth[1], sim[0], sim[1], sim[2], max(smooth[3], sim[3])])
            e = np.mean(errs, axis=0)
            rows.append([preset_label, label, f"{size}" + (f" / {side}" if side != size else ""),
                         sum(p.numel() for p in built.parameters()), round(mflop_per_image(export_for_serving(built), size), 1),
                         round(timing[label], 2), round(timing[label] / timing["CNN (shipped)"], 2),
                         round(cpu[label], 2), round(cpu[label] / cpu["CNN (shipped)"], 2),
                         *(round(float(v), 3) for v in e[:5]), f"{max(r[5] for r in errs):.1e}"])
            print(rows[-1], flush=True)
    return rows


def trained_rows(args) -> list[list]:
    """The trained lens classifiers found in the checkpoint index, on the simulated images: plain relative change."""
    from core.checkpoints import list_checkpoints, load_model

    have = {e["name"] for e in list_checkpoints()}
    rows = []
    for preset_label, (preset, prefix) in PRESETS.items():
        names = [f"{prefix}-{stem}" for stem in ("cnn", "equivariant", "cnn-v2", "equivariant-v2") if f"{prefix}-{stem}" in have]
        base = None
        for name in names:
            loaded = load_model(name)
            e = invariance(loaded.model, simulated_images(preset, loaded.image_size), centre=False)
            base = base or e[0]
            rows.append([preset_label, name, round(e[0], 4), round(e[0] / base, 2), round(e[1], 4), round(e[2], 4), f"{e[3]:.1e}"])
            print(rows[-1], flush=True)
    return rows


def sizes_rows(args) -> list[list]:
    rows = []
    for name in MODEL_NAMES:
        t = time.perf_counter()
        model = build_model(name)
        build_s = time.perf_counter() - t
        params = sum(p.numel() for p in model.parameters())
        x = torch.rand(args.batch, 1, model.image_size, model.image_size)
        model.eval()
        served = export_for_serving(model)
        train_model = build_model(name).train()

        def train_step(x, m=train_model):
            with torch.enable_grad():
                m(x).float().mean().backward()

        rows.append([
            name, getattr(model.config, "group", "-"), params, round(mflop_per_image(served, model.image_size), 1),
            round(ms_per_image(model, x, args.repeats), 2), round(ms_per_image(served, x, args.repeats), 2),
            round(ms_per_image(train_step, x, max(1, args.repeats // 2)), 2), round(build_s, 2),
        ])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3, help="random initialisations averaged in the invariance columns")
    ap.add_argument("--only", choices=["sizes", "layouts", "trained"], help="record one table only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = "Load average (1/5/15 min) at the start: {:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    if args.only in (None, "sizes"):
        record(
            "models", "Model sizes and CPU speed (default configs, 129 px)",
            ["model", "group", "params", "MFLOP/img", "ms/img escnn eval", "ms/img exported", "ms/img train fwd+bwd", "build s"],
            sizes_rows(args),
            notes=f"Forward timings: best of {args.repeats}, batch {args.batch}, {args.threads} thread(s); build time with a "
                  f"warm escnn basis cache. MFLOP: FlopCounterMode on the exported model, 2 per multiply-add. {load}.",
        )
    if args.only in (None, "trained"):
        record(
            "model_layouts_trained", "Trained lens classifiers: change of the logits under turns off the pixel grid (issue 24)",
            ["data", "checkpoint", "non-90 err", "x first CNN", "45 err", "45 and back", "max err 90/flip"],
            trained_rows(args),
            notes="The lens classifiers of the checkpoint index (shipped, and the v2 retrain where it exists) on 12 simulated "
                  "DeepLense images of their preset (seed 2031, 4 per class, never trained on): plain relative change "
                  "||f(g x) - f(x)|| / ||f(x)|| of the logits, as `python -m core equivariance` measures it, mean over the "
                  "turns by 15, 30, ..., 345 degrees (multiples of 90 left out), at 45 degrees, and after 45 degrees and "
                  "back (a resampling round trip); inputs not masked. x first CNN: ratio to the first row's (the shipped CNN).",
        )
    if args.only in (None, "layouts"):
        record(
            "model_layouts", "Lens classifier layouts side by side: cost and invariance off the pixel grid (issue 24)",
            ["data", "layout", "grid px", "params", "MFLOP/img", "ms/img fwd+bwd", "x CNN", "CPU ms/img, 1 thread", "x CNN, CPU", "non-90 err, smooth",
             "45 err, smooth", "non-90 err, sim", "45 err, sim", "45 and back, sim", "max err 90/flip"],
            layout_rows(args),
            notes=f"Configs: configs/lenses-model{{1,2}}-{{cnn,equivariant}}{{,-v2}}.toml (grid px: grid / the central crop "
                  f"the network sees). Training step: batch {args.batch}, {args.threads} threads, best of {args.repeats} rounds, "
                  f"wall-clock, x CNN = ratio to the shipped CNN of the same data; CPU ms/img: the same step on one thread in "
                  f"this process's CPU time, which other processes' load hardly moves. Invariance: random weights, mean over seeds "
                  f"0-{args.seeds - 1}; smooth = 12 random images blurred by a 2 px Gaussian (content up to the corners); "
                  f"sim = 12 DeepLense images of the preset (seed 2031, 4 per class). Errors relative to the spread of the "
                  f"unturned logits (see bench/models.py); max err 90/flip: plain relative error, largest over turns by "
                  f"90/180/270 degrees and the flips, both image sets. {load}; at the end: "
                  + "{:.2f} / {:.2f} / {:.2f}.".format(*os.getloadavg()),
        )


if __name__ == "__main__":
    main()
