"""Expiry checks deferred across runs, end to end: two runs, one state file, one database.

Run 1 targets an engine with production lifetimes (5-minute request keys, 24-hour permits,
14-day codes): the expiry checks are "pending" and the credentials go to the state file (which
starts corrupt here: one message, a fresh 0600 file, no crash). Run 2 targets the same database
through an engine whose clock is past every expiry (``--clock-offset``) on the same origin: the
kept credentials are presented, and the invariants pass on the clean engine and fail under the
faults that accept expired keys, codes or permits. No kept credential ever shows in the output
or the reports.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from seecodes_conformance.engine_process import EngineProcess
from suite_runner import SuiteRun, run_suites

INVARIANTS = ("RK-EXPIRY", "LC-EXPIRY", "PERMIT-LIFETIME")
PRODUCTION = ["production-lifetimes"]
LATER = str(24 * 3600 + 14 * 86400 + 3600)  # past a 24 h permit and a 14-day code, and skew
KEPT_CODE = "test_code_kept_by_an_earlier_run_is_rejected_after_expiry"
KEPT_PERMIT = "test_permit_kept_by_an_earlier_run_is_rejected_after_expiry"
KEPT_KEY = "test_key_kept_by_an_earlier_run_is_rejected_after_expiry"


@dataclass
class FirstRun:
    workdir: Path
    database: Path
    state: Path
    run: SuiteRun
    secrets: list[str]


def _suites(base_url: str, workdir: Path, state: Path) -> SuiteRun:
    return run_suites(
        base_url,
        workdir,
        invariants=INVARIANTS,
        args=[f"--state-file={state}"],
        reports=True,
        timeout=600,
    )


def _leaks(run: SuiteRun, workdir: Path, secrets: list[str]) -> list[str]:
    """Where a kept credential shows: the run's output or any file under its reports."""
    places = [("output", run.output)]
    for path in (workdir / "reports").rglob("*"):
        if path.is_file():
            places.append((str(path), path.read_text(encoding="utf-8", errors="replace")))
    return [where for where, text in places for s in secrets if s in text]


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    workdir = tmp_path_factory.mktemp("run1")
    database, state = workdir / "engine.sqlite3", workdir / "state.json"
    state.write_text("{not json")  # a corrupt state file: one message, then a fresh one
    with EngineProcess(variants=PRODUCTION, database=str(database)) as engine:
        run = _suites(engine.base_url, workdir, state)
    entries = json.loads(state.read_text())["entries"] if state.exists() else []
    yield FirstRun(workdir, database, state, run, [e["credential"] for e in entries])


def _second(first: FirstRun, tmp_path: Path, faults: list[str]) -> SuiteRun:
    """Run 2 on copies of the database and state file, the engine's clock past every expiry.

    The two engine processes play one target, so the file is handed to the second one's
    origin (a fresh port each start: a port fixed across the restart could be taken meanwhile).
    """
    database, state = tmp_path / "engine.sqlite3", tmp_path / "state.json"
    shutil.copy(first.database, database)
    with EngineProcess(
        faults=faults,
        variants=PRODUCTION,
        database=str(database),
        extra_args=("--clock-offset", LATER),
    ) as engine:
        kept = json.loads(first.state.read_text())
        state.write_text(json.dumps({**kept, "target": engine.base_url}))
        state.chmod(0o600)
        run = _suites(engine.base_url, tmp_path, state)
    assert not _leaks(run, tmp_path, first.secrets), "a kept credential leaked"
    assert "seecodes: warning" not in run.output  # the file was this target's: no message
    return run


def test_first_run_keeps_the_credentials_and_reports_pending(first: FirstRun) -> None:
    run = first.run
    assert run.certification, run.summary()
    assert run.output.count("is corrupt") == 1, run.output[-3000:]
    assert stat.S_IMODE(first.state.stat().st_mode) == 0o600
    kinds = sorted(e["kind"] for e in json.loads(first.state.read_text())["entries"])
    assert kinds == ["launch-code", "permit", "request-key"], kinds
    for invariant in ("RK-EXPIRY", "LC-EXPIRY"):
        result = run.invariant(invariant)
        assert result["status"] == "not_verified", result
        assert any("pending until" in reason for reason in result["reasons"]), result
    permit = run.invariant("PERMIT-LIFETIME")  # its 24-hour bound holds in this very run
    assert any("pending until" in note for note in permit.get("notes", [])), permit
    assert "EXPIRY PERMIT-LIFETIME" in run.output and "pending until" in run.output
    assert first.secrets and not _leaks(run, first.workdir, first.secrets)


def test_a_later_run_verifies_them_at_production_lifetime(first: FirstRun, tmp_path: Path) -> None:
    run = _second(first, tmp_path, faults=[])
    assert not run.with_outcome("failed", "error"), run.summary()
    for invariant in INVARIANTS:
        result = run.invariant(invariant)
        assert result["status"] == "passed", result
        assert any("verified at production lifetime" in n for n in result.get("notes", [])), result
    assert "verified at production lifetime" in run.output  # the terminal's EXPIRY lines
    passed = {c.name.rsplit("::", 1)[-1] for c in run.with_outcome("passed")}
    assert {KEPT_KEY, KEPT_CODE, KEPT_PERMIT} <= passed, run.summary()


@pytest.mark.parametrize(
    ("fault", "invariant", "test"),
    [
        ("permit-lifetime-expiry", "PERMIT-LIFETIME", KEPT_PERMIT),
        ("lc-expiry", "LC-EXPIRY", KEPT_CODE),
        ("rk-expiry", "RK-EXPIRY", KEPT_KEY),
    ],
)
def test_a_later_run_catches_an_engine_accepting_them(
    first: FirstRun, tmp_path: Path, fault: str, invariant: str, test: str
) -> None:
    run = _second(first, tmp_path, faults=[fault])
    failed = {c.name.rsplit("::", 1)[-1]: c.message for c in run.with_outcome("failed")}
    assert test in failed and f"[{invariant}]" in failed[test], run.summary()
    assert run.invariant(invariant)["status"] == "failed"
