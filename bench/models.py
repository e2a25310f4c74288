"""Model sizes and CPU speed at the default configs (129 px): parameters, MFLOP, ms per image.

Run: .venv/bin/python -m bench.models [--threads 1] [--batch 8] [--repeats 5]
FLOPs count 2 * multiply-adds of every Conv2d / Linear of the exported (plain torch) model,
which for escnn layers is the expanded filter actually convolved.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from bench.record import record
from core.models import MODEL_NAMES, build_model
from core.models.export import export_for_serving


def mflops_per_image(model: nn.Module, x: torch.Tensor) -> float:
    """2 * multiply-adds of Conv2d and Linear layers for one image of x's size, in MFLOP."""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            total += 2 * out[0].numel() * k
        elif isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x[:1])
    for h in handles:
        h.remove()
    return total / 1e6


def ms_per_image(fn, x: torch.Tensor, repeats: int) -> float:
    with torch.no_grad():
        fn(x)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t)
    return 1e3 * best / x.shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
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
            name, getattr(model.config, "group", "-"), params, round(mflops_per_image(served, x), 1),
            round(ms_per_image(model, x, args.repeats), 2), round(ms_per_image(served, x, args.repeats), 2),
            round(ms_per_image(train_step, x, max(1, args.repeats // 2)), 2), round(build_s, 2),
        ])
    record(
        "models", "Model sizes and CPU speed (default configs, 129 px)",
        ["model", "group", "params", "MFLOP/img", "ms/img escnn eval", "ms/img exported", "ms/img train fwd+bwd", "build s"],
        rows,
        notes=f"Forward timings: best of {args.repeats}, batch {args.batch}, {args.threads} thread(s); "
              "build time with a warm escnn basis cache.",
    )


if __name__ == "__main__":
    main()
