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

from seecodes_conformance.report.model import InvariantResult, Result, TestRecord

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
    }
    if inv.reasons:
        entry["reasons"] = inv.reasons
    if inv.notes:
        entry["notes"] = inv.notes
    if inv.failures:
        entry["failures"] = [
            {
                "test": f.test,
                "message": f.message,
                "evidence": [dataclasses.asdict(e) for e in f.evidence],
                "reproduce": f.reproduce,
            }
            for f in inv.failures
        ]
    if inv.waiver:
        entry["waiver"] = inv.waiver
    if inv.baseline is not None or inv.change:
        entry["baseline"] = {"status": inv.baseline, "change": inv.change}
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
