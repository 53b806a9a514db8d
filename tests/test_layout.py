"""The package layout keeps its shape: no import cycle, dependencies pointing one way.

A cycle between modules is how a layout decays (a report reaching back into the plugin for a
private key, say); these tests read the imports of every harness module from source, so a new
cycle fails here before it can surprise anyone at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seecodes_conformance"
ROOT = "seecodes_conformance"


def _module_name(path: Path) -> str:
    parts = (ROOT, *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> Iterator[str]:
    """Harness modules ``path`` imports, at any depth (function-level imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(ROOT):
            candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            yield from (name for name in candidates if name in MODULES)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in MODULES)


GRAPH: dict[str, set[str]] = {name: set(_imports(path)) - {name} for name, path in MODULES.items()}


def _cycle_through(start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for imported in sorted(GRAPH[name]):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_itself_back(module: str) -> None:
    cycle = _cycle_through(module)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


@pytest.mark.parametrize(
    ("package", "must_not_import"),
    [
        ("report", "plugin"),  # the plugin hands the report what it needs
        ("http", "flows"),  # sessions are transport; steps build on them, never the reverse
        ("race", "flows"),
        ("flows", "plugin"),
        ("fuzz", "plugin"),
        ("fuzz", "report"),
    ],
)
def test_dependencies_point_one_way(package: str, must_not_import: str) -> None:
    offenders = sorted(
        f"{name} imports {imported}"
        for name, imported_names in GRAPH.items()
        if _package_of(name) == package
        for imported in imported_names
        if _package_of(imported) == must_not_import
    )
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    """Options and environment variables are read once, into typed settings; the one other
    use of ``os.environ`` hands the environment to the bundled engine's process unchanged."""
    readers = sorted(
        name
        for name, path in MODULES.items()
        if "os.environ" in path.read_text(encoding="utf-8") or "getenv(" in path.read_text()
    )
    assert readers == [f"{ROOT}.engine_process", f"{ROOT}.settings"]
