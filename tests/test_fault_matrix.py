"""Every fault switch of the reference engine is caught by the tests of its invariant.

For each fault, one faulty engine is started, the suites run against it restricted to the tests
marked with the fault's invariant, and at least one of them must fail naming that invariant.
The terminal summary prints the matrix and the mutation score (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from seecodes_reference_engine.faults import FAULTS

from restartable_engine import RestartableEngine
from seecodes_conformance.contract import load_catalog
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import ROOT, SuiteRun, run_suites

# Faults whose invariant shows only with a lifetime shorter than the bundled engine's: the
# expiry of 24-hour permits is otherwise checked across runs (tests/test_deferred_expiry.py).
FAULT_ENGINE_ARGS: dict[str, tuple[str, ...]] = {"permit-lifetime-expiry": ("--permit-ttl", "4")}


def invariant_map() -> dict[str, list[str]]:
    """{test node id: [invariant ids]} for the whole conformance suite, by collection."""
    path = ROOT / "reports" / ".invariant-map.json"
    path.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites",
            "--collect-only",
            "-q",
            "-n",
            "0",
            f"--invariant-map={path}",
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(path.read_text()))


def test_every_fault_names_a_catalog_invariant() -> None:
    catalog = load_catalog()
    unknown = {name: f.invariant for name, f in FAULTS.items() if f.invariant not in catalog}
    assert not unknown, f"faults naming invariants missing from the catalog: {unknown}"


def test_every_invariant_has_a_fault_and_a_test() -> None:
    """No unproven invariants: each has a fault that breaks it and a test that checks it."""
    catalog = load_catalog()
    faulted = {f.invariant for f in FAULTS.values()}
    tested = {iid for ids in invariant_map().values() for iid in ids}
    without_fault = sorted(set(catalog) - faulted)
    without_test = sorted(set(catalog) - tested)
    assert not without_fault, f"unproven invariants (no fault): {without_fault}"
    assert not without_test, f"invariants no test checks: {without_test}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught(
    fault: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    invariant = FAULTS[fault].invariant
    if FAULTS[fault].after_restart:
        run = _run_across_restarts(fault, invariant, tmp_path)
    else:
        extra_args = (*EMBEDDED_ENGINE_ARGS, *FAULT_ENGINE_ARGS.get(fault, ()))
        with EngineProcess(faults=[fault], extra_args=extra_args) as engine:
            run = run_suites(engine.base_url, tmp_path, invariants=[invariant])
    failed = run.with_outcome("failed", "error")
    catching = [c.name for c in failed if f"[{invariant}]" in c.message]
    record_property("seecodes_matrix", json.dumps({
        "fault": fault, "invariant": invariant, "caught_by": catching or [c.name for c in failed],
        "seconds": round(run.elapsed, 1), "ran": len(run.cases),
    }))  # fmt: skip
    assert run.cases, f"no test checks {invariant}:\n{run.summary()}"
    assert failed, f"fault {fault!r} (breaks {invariant}) was not caught:\n{run.summary()}"
    assert catching, (
        f"fault {fault!r} made tests fail, but none named [{invariant}]:\n{run.summary()}"
    )


def _run_across_restarts(fault: str, invariant: str, tmp_path: Path) -> SuiteRun:
    """A fault that shows only across a restart: the engine runs on a database file, restarted
    by the command the suites are given, and the durability suite must be what catches it."""
    with RestartableEngine(tmp_path / "engine", faults=[fault]) as engine:
        restart = f"--restart-command={engine.restart_command}"
        run = run_suites(engine.base_url, tmp_path, invariants=[invariant], args=[restart])
    caught_here = [
        c.name
        for c in run.with_outcome("failed", "error")
        if c.name.startswith("suites.test_durability")
    ]
    assert caught_here, f"{fault!r} was not caught by the durability suite:\n{run.summary()}"
    return run
