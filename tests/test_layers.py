"""The floor plan, checked: one layer per folder, imports flow one way (down), and no two modules
import each other, not even through an import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"vidseek": "vidseek", "vidseek.indexer": "indexer", "vidseek.search": "search",
           "vidseek.web": "web", "vidseek.migrations": "migrations"}  # pyproject's package-dir
# Bottom to top: a module may import its own layer and the layers below it.
LAYERS = ["vidseek.core", "vidseek.models", "vidseek.search.storage", "vidseek.search.queries",
          "vidseek.search.labels", "vidseek.search.people",
          "vidseek.search", "vidseek.indexer", "vidseek.export",
          "vidseek.library", "vidseek.web", "vidseek.migrations", "vidseek"]


def product_modules() -> dict[str, Path]:
    """Every module of the product by its import name."""
    modules = {}
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            modules[".".join((package, *parts)).removesuffix(".__init__")] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules `path` imports, wherever in it the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def layer_of(module: str) -> int:
    return max((i for i, layer in enumerate(LAYERS)
                if module == layer or module.startswith(layer + ".")), key=lambda i: len(LAYERS[i]))


def graph() -> dict[str, set[str]]:
    modules = product_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_imports_flow_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)]}) imports {t} ({LAYERS[layer_of(t)]})"
              for m, targets in graph().items() for t in sorted(targets)
              if layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(upward)


def test_no_modules_import_each_other():
    edges = graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [node, target])
                              if target in path else f"{node} -> {target}")
            elif target not in state:
                walk(target, path + [node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node, [])
    assert not cycles, "\n".join(cycles)


def test_every_layer_says_what_it_owns_and_may_import():
    modules = product_modules()
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse(modules[layer].read_text())) or ""
        assert "import" in doc.lower(), f"{layer}'s __init__ docstring says nothing of its imports"


def test_the_web_and_the_cli_go_through_the_library():
    """`Library` is the one door: the web and the CLI never reach past it into its store or
    its labels."""
    modules = product_modules()
    clients = [m for m in modules if m.startswith("vidseek.web") or m == "vidseek.cli"]
    around = [f"{m}:{node.lineno} {ast.unparse(node)}" for m in clients
              for node in ast.walk(ast.parse(modules[m].read_text()))
              if isinstance(node, ast.Attribute) and node.attr in ("store", "labels")
              and is_a_library(node.value)]
    assert not around, "\n".join(around)


def is_a_library(node: ast.expr) -> bool:
    """How the web and the CLI name a library: `lib`, `library`, or `current_library()`."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Name) and node.id in ("lib", "library", "current_library")
