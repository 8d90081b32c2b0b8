"""The modules of tune_gae import each other in one direction only: no cycle, deferred imports included.

Every ``import``/``from ... import`` anywhere in a module counts (at the top, inside a function,
inside ``try``), except those under ``if TYPE_CHECKING:``, which never run. ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import tune_gae

PACKAGE = Path(tune_gae.__file__).parent


def _module_name(file: Path, package: Path) -> str:
    parts = list(file.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(name: str, modules: set[str]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _package_of(module: str, file: Path) -> str:
    return module if file.name == "__init__.py" else module.rpartition(".")[0]


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the tune_gae modules it imports at run time (anywhere in its code)."""
    files = {_module_name(f, package): f for f in package.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, file in files.items():
        for node in _runtime_nodes(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x / from ..a import b
                    anchor = _package_of(module, file).split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, modules) if target.split(".")[0] == package.name else None
                if resolved is not None and resolved != module:
                    graph[module].add(resolved)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycle_among_tune_gae_modules() -> None:
    graph = import_graph()
    assert "tune_gae.search.runner" in graph and graph["tune_gae.search.runner"], "the graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_deferred_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle closed by an import inside a function (or a relative one) is
    found; one closed only under TYPE_CHECKING is not."""
    package = tmp_path / "tune_gae"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from tune_gae.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from tune_gae import a\n")
    assert find_cycle(import_graph(package)) == ["tune_gae.a", "tune_gae.sub.b", "tune_gae.a"]
    (package / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    assert find_cycle(import_graph(package)) == ["tune_gae.a", "tune_gae.sub.b", "tune_gae.a"]
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tune_gae import a\n")
    assert find_cycle(import_graph(package)) is None

