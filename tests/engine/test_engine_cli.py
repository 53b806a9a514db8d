"""The command line: fault/variant listings and the configurations it refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from seecodes_reference_engine.faults import FAULTS, VARIANTS

from seecodes_conformance.contract import load_catalog


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
    ],
)
def test_refuses_bad_configuration(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = cli("--port", "1", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
