"""grader/'s imports only point down its layers, and no two modules import each other.

The layers, lowest first, are data (LAYERS, as docs/architecture.md draws them): a
module may import from its own layer's packages and from the layers below, never
from above. Every `import` counts, also one inside a function: a lazy import is a
dependency all the same, and it is how cycles hide. A new subpackage must be given
its place here, or this test fails and says so.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

GRADER = REPO / "grader"

#: The layers, lowest first; each names the subpackages (or top-level modules) in it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "paths", "progress", "tags", "util"),  # shared by all
    ("evidence",),  # what a boot left behind: KTAP, kernel log, device trace, channel
    ("lab",),  # the lab as data
    ("engine",),  # toolchain, kernel pair, module build, initramfs, QEMU
    ("grading",),  # the check's stages, points, results
    ("course",),  # notebooks and their rendering
    ("batch",),  # a class's submissions in sandboxes, gradebook, reports
    ("images",),  # Docker images and the student lab server
    ("hub", "cluster"),  # JupyterHub and Dask grading (subsystems that land later)
    ("cli",),  # the kdlab command
]
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The grader modules `path` imports (a package when no module of it is named)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "grader"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "grader":
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in GRADER.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def _part(module: str) -> str:
    """The layer entry a module belongs to: grader.engine.qemu -> engine."""
    return module.split(".")[1] if "." in module else ""


def test_every_package_has_a_layer() -> None:
    parts = {_part(m) for m in _graph()} - {""}
    assert parts <= set(RANK), (f"not in LAYERS (tests/unit/test_layers.py): "
                                f"{sorted(parts - set(RANK))}; give each its layer")


def test_imports_only_point_down() -> None:
    upward = [f"{module} imports {target}"
              for module, targets in _graph().items() if _part(module)
              for target in targets
              if RANK.get(_part(target), -1) > RANK.get(_part(module), -1)]
    assert not upward, "imports pointing up the layers:\n  " + "\n  ".join(sorted(upward))


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` (module names, first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_check_finds_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: on a made-up graph with a cycle, and on an upward edge."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
    assert RANK[_part("grader.cli.main")] > RANK[_part("grader.engine.kernel")]


def test_the_architecture_page_has_one_line_per_module() -> None:
    """docs/architecture.md names every module of grader/ (and no module that is gone)."""
    page = (REPO / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^\| `([\w/]+)` \|", page, re.M))
    modules = {str(p.relative_to(GRADER).with_suffix("")) for p in GRADER.rglob("*.py")
               if p.name != "__init__.py"}
    assert listed == modules, (f"missing: {sorted(modules - listed)}; "
                               f"gone: {sorted(listed - modules)}")
