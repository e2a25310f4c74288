"""Layers of core point one way: basics -> io -> data -> models -> checkpoints -> analysis -> train -> CLI.

Every module of core/ is parsed (ast, so imports inside functions count too); a module may
import only modules of its own layer or below, no two modules may import each other (directly
or round a longer cycle), and core never imports streamlit or ui.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"

# Low-level helpers every layer may import (no core imports of their own beyond each other).
BASICS = {"core", "core.errors", "core.atomic", "core.json_values", "core.progress", "core.paths",
          "core.device", "core.escnn_setup", "core.settings"}
LAYERS = ["io", "data", "models", "checkpoints", "analysis", "train", "cli"]  # bottom to top


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name `name` imports, anywhere in the file (absolute, relative, in functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)  # `from core.data import lenses`
    return out


def core_imports(name: str) -> set[str]:
    """The modules of core that module `name` imports (`from pkg import sub` counts as sub)."""
    found = set()
    for imported in imported_names(name, MODULES[name]):
        if imported in MODULES:
            found.add(imported)
    # `from core.data.datasets import scan_dataset` adds both "core.data.datasets" and
    # "core.data.datasets.scan_dataset"; only real modules are kept above.
    found.discard(name)
    return found


GRAPH = {name: core_imports(name) for name in MODULES}


def layer(name: str) -> int:
    if name in BASICS:
        return -1
    if name == "core.__main__":
        return LAYERS.index("cli")
    if name == "core.checkpoints":
        return LAYERS.index("checkpoints")
    part = name.split(".")[1]
    assert part in LAYERS, f"{name} is in no layer; add it to LAYERS or BASICS in tests/test_layers.py"
    return LAYERS.index(part)


def edges_into(sources: str, targets: tuple[str, ...]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, deps in GRAPH.items() if a == sources or a.startswith(sources + ".")
                  for b in deps if any(b == t or b.startswith(t + ".") for t in targets))


def test_the_scan_sees_function_level_imports():
    assert "core.checkpoints" in GRAPH["core.cli.embed"]  # imported inside _embed()
    assert len(MODULES) > 40


def test_every_module_imports_only_its_layer_or_below():
    upward = sorted(f"{a} ({LAYERS[layer(a)] if layer(a) >= 0 else 'basics'}) -> {b} ({LAYERS[layer(b)]})"
                    for a, deps in GRAPH.items() for b in deps if layer(b) > layer(a))
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


@pytest.mark.parametrize("sources, forbidden", [
    ("core.io", ("core.data", "core.models", "core.checkpoints", "core.analysis", "core.train", "core.cli")),
    ("core.data", ("core.models", "core.checkpoints", "core.analysis", "core.train", "core.cli")),
    ("core.models", ("core.checkpoints", "core.analysis", "core.train", "core.cli")),
    ("core.analysis", ("core.train", "core.cli")),
])
def test_lower_layers_do_not_import_higher_ones(sources, forbidden):
    assert not edges_into(sources, forbidden)


def test_core_never_imports_streamlit_or_ui():
    offenders = sorted(f"{name} -> {imp}" for name, path in MODULES.items() for imp in imported_names(name, path)
                       if imp.split(".")[0] in ("streamlit", "ui", "pages", "app"))
    assert not offenders, "\n".join(offenders)


def test_bench_imports_nothing_from_the_app():
    """The benchmarks measure core (and run the app only as a server or AppTest): no bench module imports ui/, pages/ or app."""
    scripts = sorted((ROOT / "bench").glob("*.py"))
    found = {path: imported_names(module_name(path), path) for path in scripts}
    assert "core.analysis.reference_sets" in found[ROOT / "bench" / "batch_evaluation.py"]  # imported inside main()
    offenders = sorted(f"{path.relative_to(ROOT)} -> {imp}" for path, names in found.items() for imp in names
                       if imp.split(".")[0] in ("ui", "pages", "app"))
    assert not offenders, "\n".join(offenders)


def test_the_app_serves_models_without_the_training_layer():
    """Inference, metrics and evaluation are core.analysis; only the Train page's code imports core.train."""
    training_ui = {ROOT / "ui" / "training.py", ROOT / "pages" / "train.py"}
    offenders = []
    for path in sorted([ROOT / "app.py", *(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]):
        if path not in training_ui:
            found = imported_names(module_name(path), path)
            offenders += [f"{path.relative_to(ROOT)} -> {m}" for m in sorted(found) if m in MODULES and m.startswith("core.train")]
    assert not offenders, "\n".join(offenders)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_detection_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
