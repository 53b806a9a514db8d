"""Tenant isolation: the same project/task ids in two installations are two separate worlds.

Protocol: permits are minted per installation (Forge token) and bound to a pair; the pair's
progress, context, project index and runs belong to that installation alone. Tenant ``b``
reading the ids tenant ``a`` wrote sees nothing of ``a`` (its own data, or none).
"""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.http import PermitSession
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, fail

INVARIANT = "TENANT-ISOLATION"


def _marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def _twins(protocol: ProtocolSteps) -> tuple[TaskRef, PermitSession, PermitSession]:
    """One pair of ids, and a permit for it in tenant a and in tenant b."""
    task = protocol.new_task()
    return task, protocol.mint_permit(task), protocol.mint_permit(task, protocol.jira("b"))


def _refuse_leak(response: httpx.Response, marker: str, what: str) -> None:
    """Tenant b may get its own answer or a rejection, never tenant a's data."""
    if response.status_code >= 500:
        fail(INVARIANT, f"server error on {what}", [response])
    if marker in response.text:
        fail(INVARIANT, f"{what} shows tenant a's data", [response])


@pytest.mark.invariant(INVARIANT)
def test_same_ids_in_two_tenants_are_separate_worlds(protocol: ProtocolSteps) -> None:
    """Progress, Jira context, project index and runs tenant a keeps for a pair are invisible to
    tenant b's permit (and Jira App) for the same ids, and tenant b's writes leave them alone."""
    task, permit_a, permit_b = _twins(protocol)

    _check_progress(protocol, task, permit_a, permit_b)
    _check_context(protocol, task, permit_b)
    _check_index(protocol, permit_a, permit_b)
    _check_runs(protocol, permit_a, permit_b)


def _check_progress(
    protocol: ProtocolSteps, task: TaskRef, permit_a: PermitSession, permit_b: PermitSession
) -> None:
    mark_a, mark_b = _marker("tenant-a"), _marker("tenant-b")
    assert_success(
        protocol.write_progress(permit_a, protocol.marked_progress(mark_a)),
        INVARIANT,
        what="a progress write in tenant a",
    )
    _refuse_leak(protocol.read_progress(permit_b), mark_a, "tenant b's permit reading progress")
    _refuse_leak(
        protocol.read_progress_as_jira(protocol.jira("b"), task),
        mark_a,
        "tenant b's Jira App reading progress",
    )
    assert_success(
        protocol.write_progress(permit_b, protocol.marked_progress(mark_b)),
        INVARIANT,
        what="a progress write in tenant b",
    )
    read_a = protocol.read_progress(permit_a)
    assert_success(read_a, INVARIANT, what="tenant a reading its own progress")
    if mark_a not in read_a.text or mark_b in read_a.text:
        fail(INVARIANT, "tenant b's write to the same ids replaced tenant a's progress", [read_a])


def _check_context(protocol: ProtocolSteps, task: TaskRef, permit_b: PermitSession) -> None:
    """Skipped quietly where the target does not serve context stored through vscode-link."""
    mark_a = _marker("context-a")
    if mark_a in protocol.read_context(protocol.permit_with_context(task, mark_a)).text:
        _refuse_leak(protocol.read_context(permit_b), mark_a, "tenant b's permit reading context")


def _check_index(protocol: ProtocolSteps, permit_a: PermitSession, permit_b: PermitSession) -> None:
    mark_a, mark_b = _marker("index-a"), _marker("index-b")
    path = f"src/{mark_a}.ts"
    digest = hashlib.sha256(path.encode()).hexdigest()
    assert_success(
        protocol.index_upsert(permit_a, {path: protocol.index_entry(digest, short=mark_a)}),
        INVARIANT,
        what="an index upsert in tenant a",
    )
    _refuse_leak(protocol.index_query(permit_b, [(path, digest)]), mark_a, "tenant b's index query")
    assert_success(
        protocol.index_upsert(permit_b, {path: protocol.index_entry(digest, short=mark_b)}),
        INVARIANT,
        what="an index upsert in tenant b",
    )
    query_a = protocol.index_query(permit_a, [(path, digest)])
    assert_success(query_a, INVARIANT, what="tenant a querying its own index")
    if mark_b in query_a.text:
        fail(INVARIANT, "tenant b's upsert of the same path changed tenant a's index", [query_a])


def _check_runs(protocol: ProtocolSteps, permit_a: PermitSession, permit_b: PermitSession) -> None:
    run = protocol.started_run(permit_a)
    protocol.poll_statuses(permit_a, run.run_id)
    for suffix in ("", "/output", "/logs"):
        response = permit_b.get(f"/v1/tasks/{run.run_id}{suffix}")
        assert_rejected(
            response, INVARIANT, what=f"tenant b's permit on GET run{suffix} of tenant a"
        )
