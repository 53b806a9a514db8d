"""Merge pytest's per-phase reports (local or from xdist workers) into one record per test."""

from __future__ import annotations

from typing import Any

import pytest

from seecodes_conformance.outcomes import Tally
from seecodes_conformance.redaction import redact
from seecodes_conformance.report.model import Evidence, TestRecord

ATTRIBUTE = "seecodes"  # extra report attribute set by capture.py; survives xdist serialisation
MESSAGE_LIMIT = 12000


def report_data(report: pytest.TestReport | pytest.CollectReport) -> dict[str, Any]:
    data = getattr(report, ATTRIBUTE, None)
    return data if isinstance(data, dict) else {}


def skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}".rstrip(": ")
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    return redact(reason.removeprefix("Skipped: "))


def first_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


class RecordBook:
    """Test records in the order tests finished, plus collection errors."""

    def __init__(self) -> None:
        self.records: dict[str, TestRecord] = {}
        self.collection_errors: list[TestRecord] = []

    def add(self, report: pytest.TestReport) -> None:
        data = report_data(report)
        nodeid = str(data.get("item") or report.nodeid)
        # Subtests (pytest's, schemathesis') report under their test: their failures fail it;
        # their passes and skips say nothing about it.
        subtest = nodeid != report.nodeid or type(report).__name__ == "SubtestReport"
        record = self.records.get(nodeid)
        if record is None:
            record = TestRecord(nodeid=nodeid)
            self.records[nodeid] = record
        if data.get("invariants"):
            record.invariants = [str(i) for i in data["invariants"]]
        if isinstance(data.get("checks"), dict) and not subtest:
            # Cumulative over the test's phases: the latest report holds all of them.
            record.checks = {
                str(iid): Tally.from_json(tally)
                for iid, tally in data["checks"].items()
                if isinstance(tally, dict)
            }
        if isinstance(data.get("routes"), list) and not subtest:
            record.routes = sorted({*record.routes, *(str(r) for r in data["routes"])})
        if not subtest:
            record.duration += float(getattr(report, "duration", 0.0) or 0.0)
        if report.failed:
            self._failed(record, report, data)
        elif record.failed or subtest:
            return  # a failure (of a subtest, say) is never undone by a later report
        elif report.skipped and report.when in ("setup", "call"):
            record.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            record.phase = report.when
            record.message = skip_reason(report)
        elif report.passed and report.when == "call" and record.outcome != "skipped":
            record.outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"

    def _failed(self, record: TestRecord, report: pytest.TestReport, data: dict[str, Any]) -> None:
        text = redact(report.longreprtext)[-MESSAGE_LIMIT:]
        message = redact(str(data.get("message") or "")) or _crash_message(report) or text
        if record.failed:  # a second failure (subtests, teardown): keep the first, note this one
            record.longrepr += f"\n\n--- {report.when} ---\n{text}"
            if data.get("violated") and not record.violated:
                # An oracle verdict beats an unattributed failure of the same test (a parent
                # test that names the invariant its failed subtests broke).
                record.violated = str(data["violated"])
                record.message = message[:MESSAGE_LIMIT]
                record.evidence += _evidence(data)
            return
        record.outcome = "failed" if report.when == "call" else "error"
        record.phase = report.when
        record.message = message[:MESSAGE_LIMIT]
        record.longrepr = text
        record.violated = data.get("violated") or None
        record.evidence = _evidence(data)

    def add_collection(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = redact(str(report.longrepr))
            self.collection_errors.append(
                TestRecord(
                    nodeid=report.nodeid or "(collection)",
                    outcome="error",
                    phase="collect",
                    message=first_line(text) or "collection error",
                    longrepr=text[-MESSAGE_LIMIT:],
                )
            )

    def all(self) -> list[TestRecord]:
        return list(self.records.values())


def left_out(count: int, shown: int) -> Evidence:
    """The evidence entry that says how many earlier exchanges a failure does not show."""
    return Evidence(
        text=f"{count} earlier exchange(s) of this test left out; the last {shown} are shown",
        curl="",
    )


def is_note(evidence: Evidence) -> bool:
    """An entry that is a note about the evidence, not an exchange (every exchange has a curl
    command that repeats it)."""
    return not evidence.curl


def _evidence(data: dict[str, Any]) -> list[Evidence]:
    exchanges = [
        Evidence(text=redact(str(e.get("text", ""))), curl=redact(str(e.get("curl", ""))))
        for e in data.get("evidence", [])
        if isinstance(e, dict)
    ]
    count = data.get("evidence_left_out")
    if isinstance(count, int) and count > 0:
        exchanges.insert(0, left_out(count, len(exchanges)))
    return exchanges


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", "")
    return redact(str(message)) if message else ""
