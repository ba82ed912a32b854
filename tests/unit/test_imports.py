"""The import graph of the project's packages, read statically with `ast` (imports inside functions
included): no import circle, and the libraries never import the web app or Django.

`from pkg import name` counts as importing the submodule `pkg.name` when that is a module, else as
importing `pkg`; `import pkg.sub` counts as importing `pkg.sub` only (not its parent packages, which
Python imports on the way). Imports by string (`importlib.import_module`) are not seen.
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("study", "explainers", "analysis", "evaluation")
LIBRARIES = ("explainers", "analysis", "evaluation")
FORBIDDEN_IN_LIBRARIES = ("study", "django")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `packages` under `root`."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` (in file `path`) imports, by dotted name: a submodule where `from X import y`
    names one in `known`, else X."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (itself left out)."""
    modules = module_files(root, packages)
    known = set(modules)
    return {name: {m for m in imported_names(name, path, known) if m in known and m != name}
            for name, path in modules.items()}


def circular_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of two or more modules that import each other, directly or not (Tarjan's strongly
    connected components), ordered by their first module's name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(components, key=min)


def shortest_circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """[a, b, ..., a]: the shortest import circle through the group's first module by name."""
    start = min(component)
    previous = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no circle in {sorted(component)}")


def describe(graph: dict[str, set[str]], component: set[str]) -> str:
    """The circle, then every module of the group with the group's modules it imports."""
    lines = [" -> ".join(shortest_circle(graph, component))]
    lines += [f"    {m} imports {', '.join(sorted(graph[m] & component))}" for m in sorted(component)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT, PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(graph, package):
    assert "explainers.targets" in graph["explainers.cam"]  # the walker sees the imports
    found = [group for group in circular_groups(graph) if any(m.split(".")[0] == package for m in group)]
    assert not found, f"import circles through {package}:\n" + "\n".join(describe(graph, g) for g in found)


@pytest.mark.parametrize("package", LIBRARIES)
def test_libraries_import_neither_the_web_app_nor_django(package):
    modules = module_files(ROOT, (package,))
    bad = sorted(f"{name} imports {imported}" for name, path in modules.items()
                 for imported in imported_names(name, path, set(modules))
                 if imported.split(".")[0] in FORBIDDEN_IN_LIBRARIES)
    assert not bad, "\n".join(bad)


def test_the_walker_resolves_submodules_relative_imports_and_imports_in_functions(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "THING = 1\n",
        "a.py": "from pkg import b, THING\n",
        "b.py": "def late():\n    from .sub import c\n",
        "sub/__init__.py": "",
        "sub/c.py": "import pkg.a\nfrom .. import THING\n",
        "d.py": "import pkg.sub.c\nimport os\nfrom django.db import models\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {"pkg": set(), "pkg.a": {"pkg", "pkg.b"}, "pkg.b": {"pkg.sub.c"}, "pkg.sub": set(),
                     "pkg.sub.c": {"pkg", "pkg.a"}, "pkg.d": {"pkg.sub.c"}}
    assert "django.db" in imported_names("pkg.d", package / "d.py", set(graph))
    groups = circular_groups(graph)
    assert groups == [{"pkg.a", "pkg.b", "pkg.sub.c"}]
    assert shortest_circle(graph, groups[0]) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
