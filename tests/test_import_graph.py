"""No import cycles inside ketabridge, lazy ones included.

The graph is read from the source with ast, so it sees what runs: imports at module level and
inside functions (a lazy import that closes a cycle still makes two modules need each other),
relative imports resolved, and importing ``a.b.c`` counted as importing package ``a.b`` too, since
Python runs ``a/b/__init__.py`` first (that is how _batch and _crosscheck once came to need each
other through their package __init__ files).
"""

from __future__ import annotations

import ast
from pathlib import Path

import ketabridge

PACKAGE_ROOT = Path(ketabridge.__file__).parent
PACKAGE = PACKAGE_ROOT.name


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted module name -> source file; a package is named by its __init__.py."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute dotted names an import statement may load (`from x import y`: x, and x.y in case
    y is a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: climb from the module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    return [stem] + [f"{stem}.{alias.name}" for alias in node.names]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules that importing it runs (directly)."""
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in imported_names(module, path, node):
                while name and name not in modules:  # `from pkg import function`: the module is pkg
                    name = name.rpartition(".")[0]
                # importing a.b.c runs a.b's __init__ first; a module's own enclosing packages are
                # already running when it is imported, so they close no cycle
                while name and name != PACKAGE:
                    if name != module and not module.startswith(name + "."):
                        graph[module].add(name)
                    name = name.rpartition(".")[0]
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that all reach each other (Tarjan), each with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def shortest_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A shortest import path from the group's first module back to itself, [a, b, ..., a]."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & members):
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if target not in came_from:
                    came_from[target] = module
                    following.append(target)
        frontier = following
    return []


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per group of modules that import each other."""
    return [shortest_cycle(graph, group) for group in strongly_connected(graph)]


def test_the_package_has_no_import_cycle():
    cycles = import_cycles(import_graph(module_files()))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_lazy_relative_and_package_init_imports(tmp_path):
    # a guard on the reader itself: each kind of edge it must count closes one planted cycle
    package = tmp_path / PACKAGE
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("from .deep import thing\n")
    (package / "inner" / "deep.py").write_text("thing = 1\n")
    (package / "lazy.py").write_text("def later():\n    from .inner.deep import thing\n")
    (package / "other.py").write_text("from ketabridge import lazy\n")
    modules = module_files(package)
    graph = import_graph(modules)
    assert graph[f"{PACKAGE}.lazy"] == {f"{PACKAGE}.inner", f"{PACKAGE}.inner.deep"}
    assert graph[f"{PACKAGE}.other"] == {f"{PACKAGE}.lazy"}
    assert import_cycles(graph) == []
    (package / "inner" / "deep.py").write_text("def later():\n    from .. import other\n")
    assert import_cycles(import_graph(modules)) == [
        [f"{PACKAGE}.inner", f"{PACKAGE}.inner.deep", f"{PACKAGE}.other", f"{PACKAGE}.lazy", f"{PACKAGE}.inner"]
    ]
