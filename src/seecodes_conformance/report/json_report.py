"""The certification report as JSON: the machine-readable record of one run.

Schema ``seecodes-certification/1``: run facts, the verdict, the gate, one entry per catalog
invariant (status, reasons, evidence, the protocol sentence it rests on), and every test.
A later run reads it back as ``--baseline``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from seecodes_conformance.report.model import Failure, InvariantResult, Result, TestRecord
from seecodes_conformance.report.records import is_note

SCHEMA = "seecodes-certification/1"


def _invariant(inv: InvariantResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": inv.id,
        "area": inv.area,
        "level": inv.level,
        "status": inv.status,
        "protocol": inv.quote,
        "rationale": inv.rationale,
        "routes": inv.routes,
        "tests": inv.tests,
        "checks": inv.checks,
        # the sentence x route matrix: per governed route, the tests whose check reached it
        "routes_checked": {route: inv.route_checks.get(route, 0) for route in inv.routes},
        # and the sentence each of those cells comes from (route_sources in the catalog, or quote)
        "route_sources": {route: inv.source_of(route) for route in inv.routes},
    }
    if inv.reasons:
        entry["reasons"] = inv.reasons
    if inv.notes:
        entry["notes"] = inv.notes
    if inv.failures:
        entry["failures"] = [_failure(f) for f in inv.failures]
    if inv.waiver:
        entry["waiver"] = inv.waiver
    if inv.baseline is not None or inv.change:
        entry["baseline"] = {"status": inv.baseline, "change": inv.change}
    return entry


def _failure(failure: Failure) -> dict[str, Any]:
    """Its exchanges under ``evidence``; a note on them (how many were left out) apart."""
    entry: dict[str, Any] = {
        "test": failure.test,
        "message": failure.message,
        "evidence": [dataclasses.asdict(e) for e in failure.evidence if not is_note(e)],
    }
    notes = [e.text for e in failure.evidence if is_note(e)]
    if notes:
        entry["evidence_note"] = "; ".join(notes)
    entry["reproduce"] = failure.reproduce
    return entry


def _test(record: TestRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": record.nodeid,
        "outcome": record.outcome,
        "invariants": record.invariants,
        "duration_s": round(record.duration, 3),
    }
    if record.checks:  # what the test actually checked, per invariant
        entry["checks"] = {iid: tally.to_json() for iid, tally in record.checks.items()}
    if record.routes:
        entry["routes"] = record.routes
    if record.outcome != "passed" and record.message:
        entry["message"] = record.message.splitlines()[0][:500]
    if record.tolerated:
        entry["tolerated"] = record.tolerated
    return entry


def to_json(result: Result) -> dict[str, Any]:
    run = dataclasses.asdict(result.run)
    return {
        "schema": SCHEMA,
        "verdict": dataclasses.asdict(result.verdict),
        "exit_status": result.exit_status,
        "gate": dataclasses.asdict(result.gate),
        "counts": result.counts(),
        "run": run,
        "invariants": [_invariant(inv) for inv in result.invariants],
        "unattributed_failures": [
            {"id": r.nodeid, "outcome": r.outcome, "message": r.message, "details": r.longrepr}
            for r in result.unattributed
        ],
        "tests": [_test(r) for r in result.tests],
        "fuzz_coverage": result.coverage,
        "notes": result.notes,
    }


def write(result: Result, path: Path) -> None:
    path.write_text(json.dumps(to_json(result), indent=2, sort_keys=False) + "\n", "utf-8")
