"""The CI gate (exit status) and the certification verdict, from the invariant results.

The gate answers "may this change ship?": failures fail it, unless waived (unexpired) or, with a
baseline, already failing before. The verdict answers "does the target conform?": certified only
when every catalog invariant passed, nothing was waived, the run was complete and it ran under the
certify profile (more examples and bursts, a fixed seed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from seecodes_conformance.report.baseline import change
from seecodes_conformance.report.model import (
    ADVISORY,
    FAILED,
    NOT_VERIFIED,
    PASSED,
    WAIVED,
    Gate,
    InvariantResult,
    TestRecord,
    Verdict,
)
from seecodes_conformance.report.waivers import Waiver


def apply_waivers(
    results: Sequence[InvariantResult],
    waivers: Mapping[str, Waiver],
    today: dt.date,
    gate: Gate,
) -> None:
    by_id = {r.id: r for r in results}
    for iid, waiver in waivers.items():
        result = by_id.get(iid)
        if result is None:
            gate.fail(f"waiver for {iid}: no such invariant in the catalog")
            continue
        result.waiver = waiver.as_dict()
        if waiver.expired(today):
            result.waiver["state"] = "expired"
            gate.expired_waivers.append(iid)
            gate.fail(f"waiver for {iid} expired on {waiver.expires.isoformat()}: renew or fix")
        elif result.status == FAILED:
            result.waiver["state"] = "applied"
            result.status = WAIVED
            gate.waived.append(iid)
        elif result.status == PASSED:
            result.waiver["state"] = "stale"
            gate.stale_waivers.append(iid)
            gate.fail(f"waiver for {iid} is stale: {iid} now passes; remove the waiver")
        else:
            result.waiver["state"] = "unused"


def apply_baseline(
    results: Sequence[InvariantResult], baseline: Mapping[str, str], gate: Gate
) -> None:
    for result in results:
        result.baseline = baseline.get(result.id)
        result.change = change(result.baseline, result.status)
        bucket = {
            "regression": gate.regressions,
            "progress": gate.progress,
            "known-failure": gate.known_failures,
            "new-failure": gate.new_failures,
            "lost": gate.lost,
        }.get(result.change or "")
        if bucket is not None:
            bucket.append(result.id)


def decide(
    results: Sequence[InvariantResult],
    records: Sequence[TestRecord],
    unattributed: Sequence[TestRecord],
    *,
    waivers: Mapping[str, Waiver],
    baseline: Mapping[str, str] | None,
    today: dt.date,
    stop_reason: str | None = None,
    strict_robustness: bool = False,
) -> Gate:
    """Apply waivers and the baseline to ``results`` (in place) and decide the gate.

    A failed advisory invariant (robustness the protocol does not state) is a finding: reported
    with its evidence, never failing the gate unless the user asks (``strict_robustness``).
    """
    gate = Gate()
    if stop_reason:
        gate.fail(stop_reason)
    apply_waivers(results, waivers, today, gate)
    if baseline is not None:
        apply_baseline(results, baseline, gate)
    tolerated: dict[str, str] = {}
    for result in results:
        if result.status == WAIVED and result.waiver:
            tolerated[result.id] = (
                f"waived until {result.waiver['expires']}: {result.waiver['reason']}"
            )
        elif result.status == FAILED and result.level == ADVISORY and not strict_robustness:
            tolerated[result.id] = "advisory finding (--strict-robustness makes it fail the gate)"
            gate.advisories.append(result.id)
        elif result.status == FAILED:
            if baseline is not None and result.change != "regression":
                tolerated[result.id] = f"{result.change} (baseline: {result.baseline or 'absent'})"
            else:
                why = "regressed from passing" if result.change == "regression" else "failed"
                gate.fail(f"{result.id} {why}")
    for record in records:
        counted = record.failed_invariants()
        if counted and all(iid in tolerated for iid in counted):
            record.tolerated = "; ".join(f"{iid} {tolerated[iid]}" for iid in counted)
    for record in unattributed:
        gate.fail(f"{record.nodeid}: {record.outcome} outside any invariant: {record.message}")
    return gate


def verdict(
    results: Sequence[InvariantResult],
    unattributed: Sequence[TestRecord],
    *,
    profile: str,
    stop_reason: str | None = None,
    strict_robustness: bool = False,
    version_claim: str | None = None,
) -> Verdict:
    """``version_claim``: the target claims another protocol version than the one checked (a
    certificate is for the checked version only; a gate run just states it)."""
    reasons: list[str] = []
    if stop_reason:
        reasons.append(stop_reason.splitlines()[0])
    if version_claim and profile == "certify":
        reasons.append(version_claim)
    counts: dict[str, int] = {}
    advisories = 0
    for result in results:
        if result.status == FAILED and result.level == ADVISORY and not strict_robustness:
            advisories += 1  # a finding, listed below; it does not decide the verdict
            continue
        counts[result.status] = counts.get(result.status, 0) + 1
    for status, words in (
        (FAILED, "failed"),
        (WAIVED, "failed under a waiver"),
        (NOT_VERIFIED, "not verified"),
    ):
        if counts.get(status):
            reasons.append(f"{counts[status]} invariant(s) {words}")
    if unattributed:
        reasons.append(f"{len(unattributed)} failure(s) outside any invariant")
    if not results:
        reasons.append("the invariant catalog is empty")
    conformant = not reasons
    certified = conformant and profile == "certify"
    if profile == "certify":
        label = "CERTIFIED" if certified else "NOT CERTIFIED"
    else:
        # A gate run certifies nothing: its label never reads as a certificate, in any report.
        label = "ALL INVARIANTS PASSED" if conformant else "NOT ALL INVARIANTS PASSED"
        reasons.append(
            f"not a certification run: profile {profile!r} runs fewer examples and bursts; "
            "a certificate needs --profile certify"
        )
    if advisories:
        reasons.append(f"{advisories} advisory robustness finding(s), reported, not gating")
    return Verdict(certified=certified, label=label, reasons=reasons, conformant=conformant)
