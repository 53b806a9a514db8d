"""The command line: fault/variant listings and the configurations it refuses to start."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import seecodes_reference_engine
from engine_helpers import start_engine
from seecodes_reference_engine.config import EngineConfig
from seecodes_reference_engine.faults import FAULTS, VARIANTS

from seecodes_conformance.contract import load_catalog
from seecodes_conformance.http import new_http_client

HARNESS = "seecodes_conformance"
# Data-only packages (pyproject maps contract/ and fixtures/forge/ onto them): reading them with
# importlib.resources is reading files, not running harness code.
DATA_PACKAGES = {"seecodes_conformance._contract", "seecodes_conformance._forge"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seecodes_reference_engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_list_faults_covers_every_fault_and_names_catalog_invariants() -> None:
    result = cli("--list-faults")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 3 for row in rows)
    assert {row[0] for row in rows} == set(FAULTS)
    catalog = load_catalog()
    assert {row[1] for row in rows} <= set(catalog)
    # Every invariant of the catalog has at least one fault that breaks it.
    assert set(catalog) <= {row[1] for row in rows}
    for name, invariant, _ in rows:  # named after the invariant, plus a suffix if shared
        assert name == invariant.lower() or name.startswith(invariant.lower() + "-"), name


def test_list_variants() -> None:
    result = cli("--list-variants")
    assert result.returncode == 0
    assert {line.split("\t")[0] for line in result.stdout.splitlines()} == set(VARIANTS)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--fault", "no-such-fault"), {}, "unknown fault"),
        ((), {"SEECODES_ENGINE_FAULTS": "rk-race,bogus"}, "unknown fault"),
        (("--variant", "bogus"), {}, "unknown variant"),
        (("--variant", "reject-401", "--variant", "reject-403"), {}, "at most one"),
        (("--workers", "2", "--database", ":memory:"), {}, ":memory:"),
        (("--request-key-ttl", "0"), {}, "positive"),
        ((), {"SEECODES_FORGE_JWKS": "/nonexistent/jwks.json"}, "JWKS"),
        (("--openapi", "/nonexistent/openapi.json"), {}, "OpenAPI"),
        ((), {"SEECODES_ENGINE_OPENAPI": "/nonexistent/openapi.json"}, "OpenAPI"),
        (("--variant", "http2", "--forwarded-allow-ips", "127.0.0.1"), {}, "uvicorn"),
    ],
)
def test_refuses_bad_configuration(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = cli("--port", "1", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_serves_the_openapi_document_it_is_given(tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_bytes(b'{"openapi": "3.1.0", "info": {"title": "elsewhere", "version": "9"}}\n')
    with (
        start_engine(extra_args=("--openapi", str(document))) as engine,
        new_http_client(engine.base_url) as http,
    ):
        served = http.get("/openapi.json")
    assert served.status_code == 200
    assert served.content == document.read_bytes()


def _harness_references(module: Path) -> list[str]:
    """Imports of the harness, and strings naming it other than its data packages."""
    found: list[str] = []
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(HARNESS) and node.value not in DATA_PACKAGES:
                found.append(f"{module.name}:{node.lineno} names {node.value!r}")
            continue
        else:
            continue
        found += [
            f"{module.name}:{node.lineno} imports {name}"
            for name in names
            if name == HARNESS or name.startswith(HARNESS + ".")
        ]
    return found


def test_engine_never_imports_the_harness() -> None:
    """The engine finds the packaged contract and JWKS as data, by package name; nothing more."""
    modules = sorted(Path(seecodes_reference_engine.__file__).parent.glob("*.py"))
    assert len(modules) > 10, modules
    assert [ref for module in modules for ref in _harness_references(module)] == []


def test_running_engine_loads_no_harness_module() -> None:
    """At run time too: building the app pulls in only the data packages (and their parent)."""
    probe = (
        "import sys\n"
        "from seecodes_reference_engine.app import create_app\n"
        "from seecodes_reference_engine.cli import build_parser\n"
        "from seecodes_reference_engine.config import EngineConfig\n"
        "create_app(EngineConfig()).state.engine.store.close()\n"
        f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] == {HARNESS!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) <= {HARNESS, *DATA_PACKAGES}, result.stdout


def test_sources_travel_to_workers_through_the_environment() -> None:
    config = EngineConfig(openapi_source="/srv/openapi.json", jwks_source="/srv/jwks.json")
    assert EngineConfig.from_env(config.to_env()) == config
    assert EngineConfig.from_env({}).effective_openapi_source.endswith("openapi.json")
    assert EngineConfig.from_env({}).effective_jwks_source.endswith("jwks.json")
