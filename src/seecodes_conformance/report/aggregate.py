"""Each catalog invariant's status, from the tests that carry its marker.

failed: a test counted a failure against it; passed: at least one test passed and none failed;
skipped: every test that would check it skipped (reasons kept); not run: no test concluded it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from seecodes_conformance.report.model import (
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    Failure,
    InvariantResult,
    TestRecord,
)

UNKNOWN_AREA = "other"


def _result_for(invariant_id: str, entry: Any) -> InvariantResult:
    if entry is None:
        return InvariantResult(invariant_id, UNKNOWN_AREA, "?", "(not in the catalog)", [])
    return InvariantResult(
        id=invariant_id,
        area=str(getattr(entry, "area", UNKNOWN_AREA)),
        level=str(getattr(entry, "level", "?")),
        quote=str(getattr(entry, "quote", "")),
        routes=list(getattr(entry, "routes", ())),
        rationale=getattr(entry, "rationale", None),
    )


def invariant_results(
    catalog: Mapping[str, Any],
    records: Iterable[TestRecord],
    reproduce: Callable[[TestRecord], str],
) -> list[InvariantResult]:
    """One result per catalog invariant (catalog order), plus any id only the tests named."""
    results = {iid: _result_for(iid, entry) for iid, entry in catalog.items()}
    passed: dict[str, int] = {}
    skipped: dict[str, list[str]] = {}
    stopped: dict[str, list[str]] = {}
    for record in records:
        counted = record.failed_invariants()
        for iid in {*record.invariants, *counted}:
            result = results.setdefault(iid, _result_for(iid, None))
            result.tests.append(record.nodeid)
            if iid in counted:
                result.failures.append(
                    Failure(record.nodeid, record.message, record.evidence, reproduce(record))
                )
            elif record.failed:
                stopped.setdefault(iid, []).append(str(record.violated))
            elif record.outcome in ("passed", "xpassed"):
                passed[iid] = passed.get(iid, 0) + 1
            else:
                skipped.setdefault(iid, []).append(record.message or "skipped without a reason")
    for iid, result in results.items():
        if result.failures:
            result.status = FAILED
        elif passed.get(iid):
            result.status = PASSED
        elif skipped.get(iid):
            result.status = SKIPPED
            result.reasons = _unique(skipped[iid])
        else:
            result.status = NOT_RUN
            result.reasons = [_not_run_reason(stopped.get(iid, []))]
    return list(results.values())


def _not_run_reason(stopped_at: list[str]) -> str:
    if not stopped_at:
        return "no test checking it ran"
    return (
        f"not concluded: {len(stopped_at)} test(s) checking it stopped earlier, at a failure of "
        + ", ".join(_unique(stopped_at))
    )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
