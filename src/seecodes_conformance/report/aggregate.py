"""Each catalog invariant's status, from the checks the tests actually ran.

failed: a check of it failed. passed: at least one check of it ran to a pass and none failed.
not verified: nothing ran to a verdict; the reasons say why and what would verify it.

Markers only say which tests are meant to check an invariant (listed under ``tests``); a test
that passed without recording a check of its invariant adds a reason, never a pass. What counts
as a check is ``outcomes.Tally.executed``: a rejection counts only beside its positive control.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from seecodes_conformance.outcomes import Tally, Unverified, reason_in_skip
from seecodes_conformance.report.model import (
    FAILED,
    NOT_VERIFIED,
    PASSED,
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
        route_sources=dict(getattr(entry, "route_sources", ())),
    )


def invariant_results(
    catalog: Mapping[str, Any],
    records: Iterable[TestRecord],
    reproduce: Callable[[TestRecord], str],
) -> list[InvariantResult]:
    """One result per catalog invariant (catalog order), plus any id only the tests named."""
    records = list(records)
    results = {iid: _result_for(iid, entry) for iid, entry in catalog.items()}
    # An invariant some test checked by a rejection is one whose checks are rejections: a
    # rightful caller's success alone checks nothing of it.
    by_rejection = {iid for r in records for iid, t in r.checks.items() if t.rejections}
    reasons: dict[str, list[str]] = {}
    for record in records:
        counted = record.failed_invariants()
        for iid in {*record.invariants, *counted}:
            result = results.setdefault(iid, _result_for(iid, None))
            result.tests.append(record.nodeid)
            if iid in counted:
                result.failures.append(
                    Failure(record.nodeid, record.message, record.evidence, reproduce(record))
                )
                continue
            tally = record.checks.get(iid, Tally())
            result.notes.extend(f"{_name(record)}: {note}" for note in tally.notes)
            needs_rejection = iid in by_rejection
            finished = record.outcome in ("passed", "xpassed")
            executed = tally.executed(needs_rejection=needs_rejection, finished=finished)
            result.checks += executed
            if executed:
                for route in {*record.routes, *tally.routes} & set(result.routes):
                    result.route_checks[route] = result.route_checks.get(route, 0) + 1
            why = [str(u) for u in tally.reasons(needs_rejection=needs_rejection)]
            if not why and not executed:
                why = [str(_silent(record))]
            reasons.setdefault(iid, []).extend(why)
    for iid, result in results.items():
        if result.failures:
            result.status = FAILED
        elif result.checks:
            result.status = PASSED
        else:
            result.status = NOT_VERIFIED
            result.reasons = _unique(reasons.get(iid) or [str(Unverified("no-check", _NO_TEST))])
    return list(results.values())


_NO_TEST = "no test checking it ran (deselected, or the run stopped before it)"


def _silent(record: TestRecord) -> Unverified:
    """Why a test meant to check an invariant recorded no check of it."""
    name = _name(record)
    if record.failed:
        return Unverified("stopped", f"{name} stopped at a failure of {record.violated}")
    if record.outcome in ("skipped", "xfailed"):
        carried = reason_in_skip(record.message)
        if carried is not None:
            return Unverified(carried.kind, f"{name}: {carried.detail}", carried.configure)
        return Unverified("capability", f"{name}: {record.message or 'skipped without a reason'}")
    return Unverified("no-check", f"{name} ran without reaching a check of it")


def _name(record: TestRecord) -> str:
    return record.nodeid.rsplit("::", 1)[-1]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
