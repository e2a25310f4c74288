"""Refit the kind check (core/analysis/kind_model.json) from simulations, and measure it.

    python -m core.analysis.kind_fit                      # refit, write kind_model.json, print the test confusion
    python -m core.analysis.kind_fit --check DIR [DIR ...]  # only classify files (no refit), print a confusion
                                                            # when each file's folder names its kind

Examples of each kind come only from the project's simulators (never from real data):
- disk: core.data.disks (generator 2.1) and, when present, the DSHARP-like family core.data.dsharp
  (its figure-like renderings included);
- lens: core.data.lenses (project), core.data.deeplense (Model I, Model II), core.data.lensfinding lenses
  (easy and hard domains) and, when present, core.data.sky lenses (HST / Euclid-like cutouts);
- galaxy: core.data.galaxies morphologies through an HST-like PSF and noise, core.data.lensfinding
  non-lenses (no source, field, outside, blend; easy and hard) and, when present, core.data.sky non-lenses;
- velocity: core.data.velocity_maps (Keplerian moment-1 maps).
Each image may then be observed a little differently (a drizzle-like blur of the optical kinds' noise, a
figure-like stretch), so the model does not learn one simulator's habits. The model is a multinomial
logistic regression on the standardised features of core.analysis.kind_features (scikit-learn at fit time;
the app evaluates the stored coefficients with numpy). Train and test sets are drawn from different seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.analysis.kind import KINDS, MODEL_PATH
from core.analysis.kind_features import FEATURES, features

TRAIN_SEED, TEST_SEED = 1, 2
REGULARISATION = 1.0  # scikit-learn's C (inverse L2 strength) on standardised features


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    draw: Callable[[int, int], np.ndarray]  # (index, seed) -> 2-D image


def _render(kind: str, size: int, preset: str = "project", offset: int = 0, step: int = 1):
    from core.data.dataset_writer import render

    return lambda i, seed: render(kind, offset + step * i, size, seed, preset)[0]


def _galaxy(i: int, seed: int) -> np.ndarray:
    """A core.data.galaxies morphology through a Gaussian PSF (1.5-3 px FWHM) with sky noise (peak S/N 15-500)."""
    from scipy.ndimage import gaussian_filter

    from core.data import galaxies

    rng = np.random.default_rng([seed, i, 77])
    galaxy = galaxies.sample(galaxies.KINDS[i % len(galaxies.KINDS)], rng)
    n = int(rng.choice([64, 96, 128, 150, 168]))
    r_e = max(float(galaxy.parts[0].get("r_e", 0.5)), 0.05)
    image = galaxy.image(n, r_e / float(rng.uniform(3.0, 14.0)))
    image = gaussian_filter(image, float(rng.uniform(1.5, 3.0)) / 2.355)
    snr = float(np.exp(rng.uniform(np.log(15), np.log(500))))
    return image + rng.standard_normal(image.shape) * image.max() / snr


def _velocity(i: int, seed: int) -> np.ndarray:
    from core.data.velocity_maps import random_velocity_map

    rng = np.random.default_rng([seed, i, 99])
    return random_velocity_map(int(rng.choice([64, 128, 129, 150, 256])), rng)


def _dsharp(i: int, seed: int) -> np.ndarray:
    """A DSHARP-like disk (core.data.dsharp, preset "dsharp-figures": some rendered as figures), 129 px."""
    from core.data import disks, dsharp

    rng = np.random.default_rng([seed, i, 55])
    params = dsharp.sample_preset_params("dsharp-figures", rng, i % 4, 129)
    return disks.observe(params, 129, rng)[0]


def _sky(label: str):
    """Cutouts of core.data.sky ("lens" or "nonlens": every kind of galaxy), at the instrument's own pixels."""
    def draw(i: int, seed: int) -> np.ndarray:
        from core.data import sky

        rng = np.random.default_rng([seed, i, 33])
        return sky.render_native(sky.sample_params(label, rng), rng)[0]

    return draw


def _has_sky() -> bool:
    try:
        from core.data import sky  # noqa: F401
    except ImportError:
        return False
    return True


def _has_dsharp() -> bool:
    try:
        _dsharp(0, 0)
    except (ImportError, AttributeError, TypeError):
        return False
    return True


def sources() -> list[Source]:
    """Every simulated source of examples that this checkout has."""
    out = [
        Source("disks 2.1, 129 px", "disk", _render("disks", 129)),
        Source("disks 2.1, 128 px", "disk", _render("disks", 128)),
        Source("lenses (project), 150 px", "lens", _render("lenses", 150)),
        Source("DeepLense Model I, 150 px", "lens", _render("lenses", 150, "deeplense-model1")),
        Source("DeepLense Model II, 64 px", "lens", _render("lenses", 64, "deeplense-model2")),
        Source("lens finding lenses, easy, 64 px", "lens", _render("lensfinding", 64, "easy", 0, 2)),
        Source("lens finding lenses, hard, 64 px", "lens", _render("lensfinding", 64, "hard", 0, 2)),
        Source("lens finding non-lenses, easy, 64 px", "galaxy", _render("lensfinding", 64, "easy", 1, 2)),
        Source("lens finding non-lenses, hard, 64 px", "galaxy", _render("lensfinding", 64, "hard", 1, 2)),
        Source("galaxies (HST-like), 64-168 px", "galaxy", _galaxy),
        Source("Keplerian velocity maps, 64-256 px", "velocity", _velocity),
    ]
    if _has_dsharp():
        out.insert(2, Source("disks DSHARP-like (figures too), 129 px", "disk", _dsharp))
    if _has_sky():
        out.insert(-1, Source("sky lenses (HST / Euclid-like cutouts)", "lens", _sky("lens")))
        out.insert(-1, Source("sky non-lenses (HST / Euclid-like cutouts)", "galaxy", _sky("nonlens")))
    return out


def observe(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The image as another pipeline may hand it over: an optical image's noise correlated by drizzling
    (a 0.3-0.8 px blur, half of them), or any intensity image stretched like a figure (a fifth)."""
    from scipy.ndimage import gaussian_filter

    x = np.asarray(image, dtype=np.float64)
    if kind in ("galaxy", "lens") and rng.uniform() < 0.5:
        x = gaussian_filter(x, float(rng.uniform(0.3, 0.8)))
    if kind != "velocity" and rng.uniform() < 0.2:
        lo, hi = np.nanpercentile(x, [1, 99.9])
        x = np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1)
        a = float(rng.uniform(0.02, 0.3))
        x = np.arcsinh(x / a) / np.arcsinh(1 / a)
        if rng.uniform() < 0.5:
            x = np.round(x * 255) / 255
    return x


def examples(n: int, seed: int, progress: bool = True) -> tuple[np.ndarray, list[str], list[str]]:
    """(features (N, F), kinds, source names) of n images of every source, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    rows, kinds, names = [], [], []
    for source in sources():
        if progress:
            print(f"  {source.name} ...", file=sys.stderr, flush=True)
        for i in range(n):
            f = features(observe(source.draw(i, seed), source.kind, rng))
            rows.append([f[name] for name in FEATURES])
            kinds.append(source.kind)
            names.append(source.name)
    return np.asarray(rows), kinds, names


def fit(x: np.ndarray, kinds: list[str]) -> dict:
    """The stored model: feature means and scales, logistic-regression coefficients (one row per kind)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    y = np.array([KINDS.index(k) for k in kinds])
    lr = LogisticRegression(C=REGULARISATION, max_iter=5000, class_weight="balanced")
    lr.fit((x - mean) / scale, y)
    return {"kinds": list(KINDS), "features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist()}


def confusion(truth: list[str], said: list[str], labels=KINDS) -> str:
    """A plain-text confusion table (rows: truth, columns: the kind check's answer)."""
    width = max(len(k) for k in labels) + 2
    lines = ["truth \\ said".ljust(14) + "".join(k.rjust(width) for k in labels)]
    for t in labels:
        if t in truth:
            lines.append(t.ljust(14) + "".join(str(sum(1 for a, b in zip(truth, said, strict=True) if a == t and b == k))
                                               .rjust(width) for k in labels))
    return "\n".join(lines)


def per_source(names: list[str], truth: list[str], said: list[str], confirmed: list[bool]) -> str:
    """One line per source: right answers, wrong ones by kind, and how often a finder's 'lens' would be confirmed."""
    lines = []
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        right = sum(truth[i] == said[i] for i in idx)
        wrong = {k: sum(said[i] == k for i in idx) for k in KINDS if k != truth[idx[0]]}
        lens = sum(confirmed[i] for i in idx)
        lines.append(f"  {name}: {right}/{len(idx)} right" + "".join(f", {v} {k}" for k, v in wrong.items() if v)
                     + (f"; a finder's 'lens' confirmed on {lens}" if truth[idx[0]] in ("galaxy", "lens") else ""))
    return "\n".join(lines)


def refit(n_train: int, n_test: int, out: Path) -> None:
    from core.analysis.kind import KindCheck, kind_probabilities, lens_confirmed

    print(f"Simulating {n_train} training images per source (seed {TRAIN_SEED}) ...", file=sys.stderr)
    x, kinds, _ = examples(n_train, TRAIN_SEED)
    model = fit(x, kinds)
    model["fitted"] = {"command": f"python -m core.analysis.kind_fit --n {n_train} --n-test {n_test}",
                       "n_train": len(kinds), "sources": [s.name for s in sources()], "seed": TRAIN_SEED}
    print(f"Simulating {n_test} test images per source (seed {TEST_SEED}) ...", file=sys.stderr)
    xt, truth, names = examples(n_test, TEST_SEED)
    probs = [kind_probabilities(dict(zip(FEATURES, row, strict=True)), None, model) for row in xt]
    said = [KINDS[int(np.argmax(p))] for p in probs]
    accuracy = float(np.mean([a == b for a, b in zip(truth, said, strict=True)]))
    backed = [lens_confirmed(KindCheck(s, 0.0, "", dict(zip(KINDS, map(float, p), strict=True))))
              for s, p in zip(said, probs, strict=True)]
    confirmed = {kind: sum(b for t, b in zip(truth, backed, strict=True) if t == kind) for kind in ("galaxy", "lens")}
    model["fitted"].update({"n_test": len(truth), "test_accuracy": round(accuracy, 4),
                            "test_galaxies_confirmed_as_lens": confirmed["galaxy"],
                            "test_lenses_confirmed_as_lens": confirmed["lens"]})
    out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"Wrote {out}. Test accuracy {accuracy:.3f} on {len(truth)} simulated images (content only, no metadata):")
    print(confusion(truth, said))
    print(per_source(names, truth, said, backed))
    print(f"A lens finder's 'lens' the kind check would confirm: on {confirmed['galaxy']} of {truth.count('galaxy')} "
          f"galaxies, on {confirmed['lens']} of {truth.count('lens')} lenses (LENS_EVIDENCE).")


FOLDER_KINDS = {"lens": "lens", "lenses": "lens", "nonlens": "galaxy", "galaxy": "galaxy", "galaxies": "galaxy",
                "disk": "disk", "disks": "disk", "velocity": "velocity"}


def check(folders: list[str]) -> None:
    """Classify every readable image under the folders (file metadata and content); a confusion table when the
    parent folder names a kind (FOLDER_KINDS: sky/lens -> lens, sky/nonlens -> galaxy, disks -> disk)."""
    from core.analysis.kind import check_kind, kind_flag, lens_confirmed
    from core.io import read_image

    truth, said, confirmed, flags = [], [], [], []
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            try:
                loaded = read_image(path)
            except Exception:
                continue
            result = check_kind(loaded.data, loaded.meta)
            expected = FOLDER_KINDS.get(path.parent.name)
            print(f"{path.parent.name}/{path.name}: {result.kind} (p {result.probability:.2f}) — {result.reason}")
            if expected:
                truth.append(expected)
                said.append(result.kind)
                confirmed.append(lens_confirmed(result))
                flags.append({data: kind_flag(result, data, "lens") for data in ("sky", "lensfinding", "lenses")})
    if truth:
        print(confusion(truth, said))
        for kind in KINDS:
            if kind in truth:
                n = sum(c for t, c in zip(truth, confirmed, strict=True) if t == kind)
                print(f"{kind}: a finder's 'lens' confirmed on {n} of {truth.count(kind)}")
                for data in ("sky", "lensfinding", "lenses"):  # kind_flag: what each kind of model's answer gets
                    m = sum(f[data] is not None for t, f in zip(truth, flags, strict=True) if t == kind)
                    print(f"{kind}: flagged on {m} of {truth.count(kind)} for a {data} model saying 'lens'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.analysis.kind_fit", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="training images per source (default 60)")
    parser.add_argument("--n-test", type=int, default=20, help="test images per source (default 20)")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where to write the model (JSON)")
    parser.add_argument("--check", nargs="+", metavar="DIR", help="only classify the files under DIR (no refit)")
    args = parser.parse_args(argv)
    if args.check:
        check(args.check)
    else:
        refit(args.n, args.n_test, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
