"""`python -m core reproduce NAME`: rebuild a model from the repository alone; `--check [NAME]` verifies the chains.

A model's chain is read from the configs themselves, nothing else:
- configs/NAME.toml trains NAME (`python -m core train`, or `pretrain` for a self-supervised backbone);
- every folder a config reads, data/X, is simulated by configs/data/X.toml (`kind` disks | lenses | lensfinding
  with n, size, seed, preset, domain, noise, pairs, twins: the `python -m core simulate` flags; or kind "pairs-mix",
  `parts` mixed by core.data.pairs.mix_pairs);
- `init_from = "runs/Y.pt"` is the output of configs/Y.toml, an earlier step of the same chain. A checkpoint
  name or a file in checkpoints/ is refused: at HEAD it is whatever is shipped now, not what the chain makes.
Steps run in dependency order; models are written to runs/ (never over checkpoints/), data sets to data/.
A step whose output exists (and was made by the same recipe) is skipped, so an interrupted chain resumes.
`--check` is static: it parses the configs and checkpoints/index.json and runs nothing heavy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tomllib
from pathlib import Path

from core import paths

HELP = "Rebuild a shipped model from the repository (simulate, train, fine-tune); --check verifies every chain."

DATA_KEYS = ("data", "clean_data", "test_data", "target_data", "target_test_data")  # TrainConfig folders a step reads
SIM_KINDS = ("disks", "lenses", "lensfinding", "sky")
SIM_FIELDS = {"kind", "n", "size", "seed", "preset", "domain", "noise", "pairs", "twins"}
MIX_FIELDS = {"kind", "parts"}


class ChainError(ValueError):
    """A chain that cannot rebuild its model; the message is one sentence."""


@dataclasses.dataclass
class Step:
    kind: str  # "simulate" | "pairs-mix" | "train" | "pretrain"
    name: str  # data set (data/<name>) or model (runs/<name>.pt)
    config: Path
    values: dict  # the parsed config
    inputs: list[str]  # "data/X" folders and "runs/Y.pt" files it reads

    @property
    def output(self) -> str:
        return f"data/{self.name}" if self.kind in ("simulate", "pairs-mix") else f"runs/{self.name}.pt"


# ---------------------------------------------------------------------------- reading configs


def _rel(path: Path, configs_dir: Path) -> str:
    """How a message names a config: configs/x.toml for the repository's, else the path."""
    try:
        return f"configs/{path.relative_to(configs_dir).as_posix()}"
    except ValueError:
        return str(path)


def _read_toml(path: Path, configs_dir: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ChainError(f"{_rel(path, configs_dir)} does not parse as TOML ({exc}).") from exc


def data_step(name: str, configs_dir: Path, reader: str) -> Step:
    """The step that makes data/<name>, from configs/data/<name>.toml; `reader` names who needs it."""
    path = configs_dir / "data" / f"{name}.toml"
    if not path.is_file():
        raise ChainError(f"{reader} reads data/{name}, but no configs/data/{name}.toml simulates it.")
    values = _read_toml(path, configs_dir)
    where = _rel(path, configs_dir)
    kind = values.get("kind")
    if kind == "pairs-mix":
        unknown = set(values) - MIX_FIELDS
        parts = values.get("parts")
        if unknown or not isinstance(parts, list) or not parts or not all(isinstance(p, dict) and p.get("name") and p.get("data") for p in parts):
            raise ChainError(f"{where} must hold kind = \"pairs-mix\" and parts = [{{ name, data[, limit, decimated] }}, ...] only.")
        return Step("pairs-mix", name, path, values, [p["data"] for p in parts])
    if kind not in SIM_KINDS:
        raise ChainError(f"{where} has kind {kind!r}; use one of {', '.join(SIM_KINDS)} or pairs-mix.")
    unknown = sorted(set(values) - SIM_FIELDS)
    if unknown:
        raise ChainError(f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(SIM_FIELDS))}.")
    if not all(isinstance(values.get(k), int) for k in ("n", "seed")):
        raise ChainError(f"{where} must set n and seed (integers), so the data set is the same on every machine.")
    return Step("simulate", name, path, values, [])


def model_step(name: str, configs_dir: Path) -> Step:
    """The step that trains `name`, from configs/<name>.toml (parsed as a TrainConfig)."""
    from core.errors import InputError
    from core.train.config import from_dict

    path = configs_dir / f"{name}.toml"
    if not path.is_file():
        raise ChainError(f"{name} has no config configs/{name}.toml, so nothing in the repository rebuilds it.")
    values = _read_toml(path, configs_dir)
    where = _rel(path, configs_dir)
    try:
        from_dict(values)
    except (InputError, TypeError, ValueError) as exc:
        raise ChainError(f"{where} is not a valid training config ({exc}).") from exc
    if values.get("name") != name:
        raise ChainError(f"{where} trains {values.get('name')!r}, not {name!r}; a config's name must be its file name.")
    inputs = [values[k] for k in DATA_KEYS if values.get(k)]
    init = values.get("init_from")
    if init:
        inputs.append(_init_input(init, name, where))
    from core.models.registry import MODEL_NAMES, model_kind

    model = values.get("model", "equivariant_ae")
    if model not in MODEL_NAMES:
        raise ChainError(f"{where} names model {model!r}, which the registry does not know.")
    return Step("pretrain" if model_kind(model) == "encoder" else "train", name, path, values, inputs)


def _init_input(init: str, name: str, where: str) -> str:
    """The runs/Y.pt an init_from reads; ChainError for itself, a shipped checkpoint or any other file."""
    p = Path(init)
    if init in (name, f"runs/{name}.pt", f"checkpoints/{name}.pt") or (p.parent.name == "checkpoints" and p.stem == name):
        raise ChainError(f"{where} initialises from itself (init_from = {init!r}), so it cannot be rebuilt from scratch.")
    if p.parent.as_posix() == "runs" and p.suffix == ".pt":
        return init
    raise ChainError(f"{where} initialises from {init!r}, which resolves to whatever is shipped or lying around, not to "
                     "an earlier step's output; point init_from to runs/<stage>.pt made by configs/<stage>.toml.")


def _input_step(ref: str, reader: Step, configs_dir: Path) -> Step | None:
    """The step producing input `ref` of `reader` (None for a folder shipped in the repository)."""
    where = _rel(reader.config, configs_dir)
    p = Path(ref)
    if not p.is_absolute() and len(p.parts) == 2 and p.parts[0] == "data":
        return data_step(p.parts[1], configs_dir, where)
    if not p.is_absolute() and len(p.parts) == 2 and p.parts[0] == "runs" and p.suffix == ".pt":
        if not (configs_dir / f"{p.stem}.toml").is_file():
            raise ChainError(f"{where} initialises from {ref}, which no config produces (no configs/{p.stem}.toml).")
        return model_step(p.stem, configs_dir)
    shipped = (paths.REPO_ROOT / p).resolve()
    if not p.is_absolute() and shipped.exists() and shipped.is_relative_to(paths.REPO_ROOT) \
            and not any(shipped.is_relative_to(d) for d in (paths.REPO_ROOT / "data", paths.REPO_ROOT / "runs", paths.REPO_ROOT / "checkpoints")):
        return None
    raise ChainError(f"{where} reads {ref}, which is neither shipped in the repository nor made by a step (use data/<set> "
                     "with configs/data/<set>.toml).")


def chain(name: str, configs_dir: Path | None = None) -> list[Step]:
    """The steps that rebuild `name`, each after the steps it reads from; ChainError (one sentence) if broken."""
    configs_dir = Path(configs_dir or paths.CONFIGS_DIR)
    order: list[Step] = []
    done: set[str] = set()

    def visit(step: Step, stack: tuple[str, ...]) -> None:
        if step.output in done:
            return
        if step.output in stack:
            loop = " -> ".join([*stack[stack.index(step.output):], step.output])
            raise ChainError(f"The chain of {name} loops ({loop}), so no step can start.")
        for ref in step.inputs:
            dep = _input_step(ref, step, configs_dir)
            if dep is not None:
                if dep.kind in ("train", "pretrain") and step.kind in ("train", "pretrain"):
                    _check_same_model(step, dep, configs_dir)
                visit(dep, (*stack, step.output))
        done.add(step.output)
        order.append(step)

    visit(model_step(name, configs_dir), ())
    return order


def _check_same_model(step: Step, init: Step, configs_dir: Path) -> None:
    """fit fine-tunes only the same model and model_config: compare the two configs as written."""
    a, b = step.values, init.values
    if a.get("model", "equivariant_ae") != b.get("model", "equivariant_ae") or a.get("model_config", {}) != b.get("model_config", {}):
        raise ChainError(f"{_rel(step.config, configs_dir)} fine-tunes runs/{init.name}.pt, but {_rel(init.config, configs_dir)} "
                         "trains another model or model_config, so the weights would not fit.")


# ---------------------------------------------------------------------------- static check


def expected_manifest(step: Step, configs_dir: Path) -> dict:
    """What the data set of `step` is at HEAD, in the index's `data` terms: generator, version, seed, size, n, preset."""
    from core.data.simulator_versions import default_size, version_of

    v = step.values
    if step.kind == "pairs-mix":
        n = 0
        for part in v["parts"]:
            src = expected_manifest(data_step(Path(part["data"]).name, configs_dir, _rel(step.config, configs_dir)), configs_dir)
            n += min(int(part["limit"]), src["n"]) if part.get("limit") is not None else src["n"]
        return {"generator": "lenses", "version": "pairs-mix-1", "seed": None, "n": n,
                "preset": "+".join(p["name"] for p in v["parts"])}
    preset = v.get("domain", "none") if v["kind"] == "lensfinding" else v.get("preset", "project")
    size = v.get("size") or default_size(v["kind"], preset)
    return {"generator": v["kind"], "version": version_of(v["kind"], preset), "seed": v["seed"], "size": size, "n": v["n"],
            "preset": None if v["kind"] == "disks" and preset == "project" else preset}


def _index_entries(index_path: Path) -> list[dict]:
    return json.loads(index_path.read_text()).get("checkpoints", [])


def check_entry(entry: dict, configs_dir: Path) -> tuple[list[Step], list[str]]:
    """The chain of a shipped checkpoint, checked against its index entry; returns (steps, notes).
    ChainError when the chain is broken or trains something else than the entry describes."""
    name = entry["name"]
    steps = chain(name, configs_dir)
    final = steps[-1]
    where = _rel(final.config, configs_dir)
    if entry.get("model") and entry["model"] != final.values.get("model", "equivariant_ae"):
        raise ChainError(f"{where} trains a {final.values.get('model')}, but the shipped {name} is a {entry['model']}.")
    shipped_config = entry.get("config") or {}
    for key, value in (final.values.get("model_config") or {}).items():
        if key in shipped_config and _plain(shipped_config[key]) != _plain(value):
            raise ChainError(f"{where} sets model_config.{key} = {value!r}, but the shipped {name} has {shipped_config[key]!r}.")
    notes = []
    data = entry.get("data") or {}
    if data and final.values.get("data"):
        made = expected_manifest(data_step(Path(final.values["data"]).name, configs_dir, where), configs_dir)
        for key in ("generator", "seed", "size", "n", "preset"):
            shipped = data.get(key)
            if key == "preset" and shipped == "project":
                shipped = None
            if key in made and made[key] != shipped and not (key == "preset" and made[key] in (None, "project") and shipped in (None, "project")):
                raise ChainError(f"{name} was trained on data with {key} {shipped!r}, but its chain makes {final.values['data']} "
                                 f"with {key} {made[key]!r}.")
        if data.get("version") != made["version"]:
            notes.append(f"{name}: trained on {made['generator']} generator {data.get('version')}; HEAD simulates "
                         f"{made['version']}, so a rebuild is comparable, not identical.")
    return steps, notes


def _plain(value):
    return list(value) if isinstance(value, tuple | list) else value


def check(names: list[str] | None = None, configs_dir: Path | None = None,
          index_path: Path | None = None) -> tuple[dict[str, list[Step]], list[str], list[str]]:
    """Check the chains of `names` (default: every checkpoint in the index, then every other config).
    Returns (chains, problems, notes): one sentence per broken chain in `problems`."""
    configs_dir = Path(configs_dir or paths.CONFIGS_DIR)
    entries = {e["name"]: e for e in _index_entries(Path(index_path or paths.CHECKPOINTS_DIR / "index.json"))}
    if names is None:
        names = list(entries) + sorted(p.stem for p in configs_dir.glob("*.toml") if p.stem not in entries)
    chains, problems, notes = {}, [], []
    for name in names:
        try:
            if name in entries:
                chains[name], entry_notes = check_entry(entries[name], configs_dir)
                notes += entry_notes
            else:
                chains[name] = chain(name, configs_dir)
        except ChainError as exc:
            problems.append(str(exc))
    return chains, problems, notes


def describe(steps: list[Step]) -> str:
    """One line: data sets, then model stages, e.g. "data/disks-train, data/disks-test -> disks-ae-cnn-stage1 -> disks-ae-cnn"."""
    data = [s.output for s in steps if s.kind in ("simulate", "pairs-mix")]
    models = [s.name for s in steps if s.kind in ("train", "pretrain")]
    return ", ".join(data) + " -> " + " -> ".join(models)


# ---------------------------------------------------------------------------- running a chain


def step_argv(step: Step) -> list[str] | None:
    """The `python -m core` arguments of a step (run from the repository root; None for a pairs mix)."""
    v = step.values
    if step.kind == "simulate":
        argv = ["simulate", v["kind"], "--n", str(v["n"]), "--seed", str(v["seed"])]
        if v.get("size"):
            argv += ["--size", str(v["size"])]
        for key in ("preset", "domain", "noise", "pairs"):
            if v.get(key) is not None:
                argv += [f"--{key}", str(v[key])]
        return argv + (["--twins"] if v.get("twins") else []) + ["--out", step.output]
    if step.kind in ("train", "pretrain"):
        argv = [step.kind, "--config", paths.repo_relative(step.config), "--out", paths.repo_relative(paths.RUNS_DIR)]
        init = v.get("init_from")
        return argv + (["--init-from", paths.repo_relative(paths.RUNS_DIR / Path(init).name)] if init else [])
    return None


def existing_output(step: Step, configs_dir: Path) -> bool:
    """True when the step's output exists and was made by this recipe; ChainError when it exists but differs."""
    if step.kind in ("simulate", "pairs-mix"):
        manifest = paths.REPO_ROOT / step.output / "manifest.json"
        if not manifest.is_file():
            return False
        have = json.loads(manifest.read_text())
        want = expected_manifest(step, configs_dir)
        have_n = len(have["images"]) if isinstance(have.get("images"), list) else sum(s.get("n", 0) for s in have.get("sources", []))
        same = (have.get("generator"), have.get("version"), have.get("seed"), have_n) == (want["generator"], want["version"], want["seed"], want["n"])
        same = same and (step.kind == "pairs-mix" or (have.get("size") == want["size"] and have.get("noise") == step.values.get("noise")))
        if same and step.values.get("twins") and not have.get("twins"):
            return False  # the same images without their noiseless twins: the step re-runs into the folder and adds them
        if not same:
            raise ChainError(f"{step.output} exists but holds other data ({have.get('generator')} {have.get('version')}, seed "
                             f"{have.get('seed')}, n {have_n}) than {_rel(step.config, configs_dir)} makes; move it away to rebuild it.")
        return True
    out = paths.RUNS_DIR / f"{step.name}.pt"
    if not out.is_file():
        return False
    index = paths.RUNS_DIR / "index.json"
    entry = next((e for e in (_index_entries(index) if index.is_file() else []) if e.get("name") == step.name), {})
    data = (entry.get("data") or {})
    if data and step.values.get("data"):
        want = expected_manifest(data_step(Path(step.values["data"]).name, configs_dir, step.name), configs_dir)
        if data.get("version") != want["version"]:
            raise ChainError(f"{paths.repo_relative(out)} exists but was trained on generator {data.get('version')} data, not "
                             f"HEAD's {want['version']}; move it away to rebuild it.")
    return True


def run_step(step: Step) -> None:
    """Run one step in this process, from the repository root."""
    if step.kind == "pairs-mix":
        from core.data.pairs import mix_pairs

        parts = [(p["name"], p["data"], p.get("limit"), bool(p.get("decimated"))) for p in step.values["parts"]]
        print(f"wrote {paths.repo_relative(mix_pairs(step.output, parts))}")
        return
    from core.cli import main

    code = main(step_argv(step))
    if code:
        raise ChainError(f"The step `python -m core {' '.join(step_argv(step))}` failed (exit {code}); fix it and rerun "
                         "`python -m core reproduce` to resume.")


def reproduce(name: str, configs_dir: Path | None = None, runner=run_step) -> list[Path]:
    """Run the chain of `name`; returns the outputs. Steps with an existing output are skipped."""
    import contextlib

    from tqdm import tqdm

    configs_dir = Path(configs_dir or paths.CONFIGS_DIR)
    steps = chain(name, configs_dir)
    bar = tqdm(total=len(steps), unit="step", desc=f"reproduce {name}", position=0, dynamic_ncols=True)
    try:
        with contextlib.chdir(paths.REPO_ROOT):  # steps name data/ and runs/ relative to the repository
            for i, step in enumerate(steps, 1):
                argv = step_argv(step)
                line = f"python -m core {' '.join(argv)}" if argv else f"mix {step.output} from {', '.join(step.inputs)}"
                if existing_output(step, configs_dir):
                    bar.write(f"[{i}/{len(steps)}] skip {step.output} (exists): {line}")
                else:
                    bar.write(f"[{i}/{len(steps)}] {line}")
                    runner(step)
                bar.update(1)
    finally:
        bar.close()
    return [paths.REPO_ROOT / s.output for s in steps]


# ---------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="checkpoint (or config) name, e.g. disks-ae-equivariant")
    parser.add_argument("--check", action="store_true",
                        help="verify the chain of NAME, or of every shipped checkpoint and config, without running anything")


def run(args: argparse.Namespace) -> int:
    if args.check:
        chains, problems, notes = check([args.name] if args.name else None)
        for name, steps in chains.items():
            print(f"ok  {name}: {describe(steps)}")
        for note in notes:
            print(f"note: {note}")
        for problem in problems:
            print(f"broken: {problem}", file=sys.stderr)
        print(f"{len(chains)} chain(s) ok, {len(problems)} broken.")
        return 1 if problems else 0
    if not args.name:
        raise ValueError("Name a model to rebuild (python -m core reproduce disks-ae-equivariant), or pass --check.")
    outputs = reproduce(args.name)
    built = paths.repo_relative(outputs[-1])
    shipped = paths.CHECKPOINTS_DIR / f"{args.name}.pt"
    print(f"rebuilt {built}" + (f"; the shipped one is {paths.repo_relative(shipped)} (compare both with "
                                f"python -m core evaluate --checkpoint ...)" if shipped.is_file() else ""))
    return 0
