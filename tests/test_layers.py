"""The import graph: one-way layers and no cycles, read from the source (every import, also inside functions)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "swiftkit"
# lowest first; a module may import its own layer and the ones before it, never one after it
LAYERS = [
    {"errors", "fsutil", "layout", "cache", "tail", "resources", "inside_swift", "plugins", "installed", "__init__"},
    {"config"},
    {"model"},
    {"data"},
    {"sizing"},
    {"swift"},
    {"runs"},
    {"jobs"},
    {"serve"},
    {"eval"},
    {"cli", "__main__"},
]


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer; add its folder to LAYERS")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, name, set(found)) - {name} for name, path in found.items()}


def test_every_module_sits_in_a_layer():
    for name in modules():
        layer_of(name)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} (layer {layer_of(name)}) imports {dep} (layer {layer_of(dep)})"
        for name, deps in edges.items()
        for dep in sorted(deps)
        if layer_of(dep) > layer_of(name) and dep != "swiftkit"
    ]


def import_cycles(graph_: dict[str, set[str]]) -> list[list[str]]:
    edges = {k: {d for d in v if d != "swiftkit"} for k, v in graph_.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(trail[trail.index(dep) :] + [dep] if dep in trail else [node, dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return cycles


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []


def test_no_import_cycles():
    assert import_cycles(graph()) == []


def test_the_check_catches_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks themselves can fail: on a fake package with data -> jobs (upward) and a <-> b (a cycle, one
    side inside a function) they report exactly those."""
    fake = tmp_path / "swiftkit"
    (fake / "data").mkdir(parents=True)
    (fake / "jobs").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "jobs" / "__init__.py").write_text("")
    (fake / "data" / "a.py").write_text("from swiftkit.data import b\nfrom swiftkit.jobs import run\n")
    (fake / "data" / "b.py").write_text("def f():\n    from swiftkit.data.a import x\n")
    (fake / "jobs" / "run.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    edges = graph()
    assert upward_imports(edges) == ["swiftkit.data.a (layer 3) imports swiftkit.jobs.run (layer 7)"]
    assert import_cycles(edges) == [["swiftkit.data.a", "swiftkit.data.b", "swiftkit.data.a"]]


# After resolve, nothing looks back: render takes the resolved run or model and never locates the model or picks a
# checkpoint itself; no function takes a resolved object beside a (loaded) profile, the second copy that could drift.
RESOLVED = {"ResolvedRun", "ResolvedModel", "TrainPlan"}
PROFILES = {"LoadedProfile", "Profile"}
LOOKS_BACK = {"model_path", "is_local_model", "ensure_model", "model_key", "checkpoint_for", "pick", "resolve_model"}
LOOKS_BACK |= {"assemble_run", "assemble_model", "resolve_train_run", "plan_train", "load", "apply"}


def _called(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def render_looks_back(package: Path) -> list[str]:
    """Calls in swift/render.py that would decide again what resolve decided."""
    tree = ast.parse((package / "swift" / "render.py").read_text(encoding="utf-8"))
    return sorted(_called(tree) & LOOKS_BACK)


def _annotation(arg: ast.arg) -> str:
    text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
    return text.strip("'\"").rpartition(".")[2]


def second_profiles(package: Path) -> list[str]:
    """Functions that take a resolved object and a profile beside it."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kinds = {_annotation(a) for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
                if kinds & RESOLVED and kinds & PROFILES:
                    found.append(f"{path.relative_to(package.parent)}::{node.name}")
    return found


def test_render_never_looks_back_and_no_second_profile_travels():
    assert render_looks_back(PACKAGE) == []
    assert second_profiles(PACKAGE) == []


def test_the_look_back_checks_can_fail(tmp_path):
    """On a fake render that locates the model itself, and a job that takes the resolved model and the profile."""
    (tmp_path / "swift").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "swift" / "render.py").write_text("def r(t):\n    return locate.model_path(t.profile)\n")
    (tmp_path / "jobs" / "x.py").write_text("def f(t: 'ResolvedModel', lp: LoadedProfile):\n    pass\n")
    assert render_looks_back(tmp_path) == ["model_path"]
    assert second_profiles(tmp_path) == [f"{tmp_path.name}/jobs/x.py::f"]
