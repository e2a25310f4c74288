"""`python -m core simulate {disks,lenses,lensfinding} --n N --size S --seed K [--preset P] [--out DIR] [--twins]`.

Writes a labelled data set with core.data.dataset_writer (DIR/<class>/<id>.npy and DIR/manifest.json;
with --twins also DIR/noiseless/<class>/<id>.npy, the noiseless twins;
DIR defaults to `data/<kind>-n<N>-s<S>-seed<K>` of the repository). The simulators, presets and
versions are those of core.data.simulator_versions.
"""

from __future__ import annotations

from core.data.simulator_versions import (
    DISK_PRESETS,
    FINDING_DOMAINS,
    KINDS,
    LENS_PRESETS,
    NOISES,
    default_size,
)

HELP = "Simulate a labelled data set of disk or lens images with a manifest."


def add_arguments(parser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which simulator")
    parser.add_argument("--n", type=int, required=True, help="number of images (balanced over the classes)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default: disks 128, lenses 150, deeplense-model1 150, deeplense-model2 64)")
    parser.add_argument("--preset", choices=LENS_PRESETS + DISK_PRESETS[1:], default="project",
                        help="lenses: this project's generator or the official DeepLense Model I / Model II recipe; "
                             "disks: project (generator 2.1), dsharp (DSHARP-like disks, core.data.dsharp) or "
                             "dsharp-figures (the same, a share rendered as stretched figures)")
    parser.add_argument("--domain", choices=FINDING_DOMAINS, default=None,
                        help="lensfinding: easy (Model I-like space telescope) or hard (Euclid-like); see core.data.lensfinding")
    parser.add_argument("--native", action="store_true", help="deeplense presets: write DeepLense's own file format (int64 counts, vortex [image, axion mass])")
    parser.add_argument("--pairs", type=int, default=1, choices=(1, 2),
                        help="lenses: 2 writes super-resolution pairs lr/ (half size, coarser instrument, noisy) and hr/ (noiseless); see core.data.pairs")
    parser.add_argument("--seed", type=int, default=0, help="master seed; image i uses SeedSequence(seed).spawn child i")
    parser.add_argument("--out", default=None,
                        help="output folder (class sub-folders + manifest.json); default data/<kind>-n<N>-s<SIZE>-seed<SEED> of the repository")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (results do not depend on it)")
    parser.add_argument("--noise", choices=NOISES + ("as-written", "euclid"), default=None,
                        help="disks: thermal (default) or none (the noise-free images of the same disks); "
                             "deeplense-model2: as-written (default, the official code's twice-noiseless image) or euclid")
    parser.add_argument("--twins", action="store_true",
                        help="also write each image's noiseless twin, DIR/noiseless/<class>/<id>.npy, and its noise parameters "
                             "in the manifest (training option augment_rotations = \"continuous-physical\" turns the twin, "
                             "then observes it; core.data.observe)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import shlex

    from core.data.dataset_writer import simulate_dataset

    if args.kind == "lensfinding":
        args.preset = args.domain or "none"
    size = args.size or default_size(args.kind, args.preset)
    out = f" --out {shlex.quote(args.out)}" if args.out else ""  # without --out the default folder reproduces it
    extra = (f" --domain {args.domain}" if args.kind == "lensfinding" else f" --preset {args.preset}" if args.preset != "project" else "") + (f" --noise {args.noise}" if args.noise else "") + (" --native" if args.native else "") + (f" --pairs {args.pairs}" if args.pairs > 1 else "") + (" --twins" if args.twins else "")
    command = f"python -m core simulate {args.kind} --n {args.n} --size {size} --seed {args.seed}{extra}{out} --workers {args.workers}"
    manifest = simulate_dataset(args.kind, args.n, size, args.seed, args.out, args.workers, progress=not args.no_progress, command=command,
                                preset=args.preset, noise=args.noise, native=args.native, pairs=args.pairs, twins=args.twins)
    print(f"wrote {args.n} {'pairs' if args.pairs > 1 else 'images'} and {manifest}")
    return 0
