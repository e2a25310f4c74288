"""`python -m core probe --checkpoint NAME --data DIR --labels-per-class K [--seed S] [--finetune] [--max-eval N] --json`.

Few-label learning on a pretrained backbone (core.train.fewlabel): a linear probe (or fine-tuning)
on K labelled images per class, against the same architecture trained from scratch on the same labels.
"""

from __future__ import annotations

import argparse
import json

HELP = ("Fit a linear probe (or fine-tune) on K labelled images per class of a folder with a pretrained backbone, "
        "and train the same architecture from scratch on the same labels; report both macro AUCs.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint name (checkpoints/index.json, runs/) or .pt file")
    parser.add_argument("--data", required=True, help="folder with one sub-folder of images per class")
    parser.add_argument("--labels-per-class", "-k", type=int, required=True, metavar="K", help="labelled images per class")
    parser.add_argument("--seed", type=int, default=0, help="draws the labelled images and seeds both trainings")
    parser.add_argument("--finetune", action="store_true", help="fine-tune the whole backbone + a linear head instead of the frozen probe")
    parser.add_argument("--no-scratch", action="store_true", help="skip the from-scratch baseline")
    parser.add_argument("--max-eval", type=int, default=None, metavar="N", help="evaluate on at most N of the other images (seeded)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    from core.checkpoints import load_model
    from core.errors import InputError
    from core.json_values import to_plain
    from core.progress import lazy_progress
    from core.train.fewlabel import few_label, load_labelled

    if args.threads:
        torch.set_num_threads(int(args.threads))
    if args.labels_per_class < 1:
        raise InputError(f"--labels-per-class must be at least 1, got {args.labels_per_class}.")
    loaded = load_model(args.checkpoint)
    with lazy_progress() as progress:
        X, y, classes = load_labelled(args.data, loaded.image_size, progress)
        result = few_label(loaded, X, y, classes, args.labels_per_class, args.seed, finetune=args.finetune,
                           scratch=not args.no_scratch, max_eval=args.max_eval, progress=progress)
    result["data"] = str(args.data)
    if args.json:
        print(json.dumps(to_plain(result), indent=1))
    else:
        line = f"{result['method']} macro AUC {result['macro_auc']:.4f}"
        if "scratch_macro_auc" in result:
            line += f" | scratch {result['scratch_macro_auc']:.4f}"
        print(f"{line} (K={result['labels_per_class']} per class, seed {result['seed']}, {result['n_eval']} images evaluated)")
    return 0
