"""The shape of the tree: imports point down, no import circles (lazy imports included), no file over 700 lines.

The imports are parsed, not run: every ``import`` and ``from ... import`` anywhere in a
file counts, at module level or inside a function. ``from package import name`` imports the
package's ``__init__`` (and the submodule ``name``, if it is one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("customer_models", "envs", "agents", "experiments")
"""The four packages, lowest layer first: a module may import its own layer or the ones before it."""
MAX_LINES = 700
NAMESPACE = "difficult_customer"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([NAMESPACE, *parts])


def _files() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
            for target in targets:
                while target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in files and target != module:
                    graph[module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    return PACKAGES.index(module.split(".")[1])


# ----------------------------------------------------------------------------- the checker checks
def test_the_checker_finds_a_lazy_circle_and_the_package_init(tmp_path):
    files = {"difficult_customer.envs": tmp_path / "envs" / "__init__.py",
             "difficult_customer.envs.a": tmp_path / "envs" / "a.py",
             "difficult_customer.envs.b": tmp_path / "envs" / "b.py"}
    for path in files.values():
        path.parent.mkdir(exist_ok=True)
    files["difficult_customer.envs"].write_text("from difficult_customer.envs.a import x\n")
    files["difficult_customer.envs.a"].write_text("def f():\n    from difficult_customer.envs import b\n")
    files["difficult_customer.envs.b"].write_text("import numpy\n")
    graph = import_graph(files)
    assert graph["difficult_customer.envs.a"] == {"difficult_customer.envs", "difficult_customer.envs.b"}
    assert circles(graph) == [["difficult_customer.envs", "difficult_customer.envs.a"]]
    files["difficult_customer.envs.a"].write_text("def f():\n    from difficult_customer.envs.b import y\n")
    assert circles(import_graph(files)) == []


# ----------------------------------------------------------------------------- the tree
def test_no_import_circle_among_the_files():
    assert circles(import_graph(_files())) == []


def test_imports_point_down_only():
    graph = import_graph(_files())
    upward = sorted((m, t) for m, targets in graph.items() for t in targets if _layer(t) > _layer(m))
    assert upward == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_file_is_over_700_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_function_level_imports_are_only_for_optional_extras():
    """A function-level import is a hidden edge unless it loads an optional extra, and says so in a comment.

    Imports of third-party packages other than the core's (gymnasium, numpy) are extras by
    nature; an import of the project's own code or of the core inside a function must name the
    extra it waits for (``# ... extra``), e.g. a module that needs stable-baselines3.
    """
    core = (NAMESPACE, "gymnasium", "numpy")
    hidden = []
    for path in _files().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] if not node.level else [NAMESPACE]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                text = " ".join(lines[node.lineno - 1:node.end_lineno])
                said = "#" in text and "extra" in text.split("#", 1)[1]
                if any(n.startswith(core) for n in names) and not said:
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} {names[0]}")
    assert hidden == []
