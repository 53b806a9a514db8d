"""Tenant isolation: the same project/task ids in two installations are two separate worlds.

Protocol: permits are minted per installation (Forge token) and bound to a pair; the pair's
progress, context, project index and runs belong to that installation alone. Tenant ``b``
reading the ids tenant ``a`` wrote sees nothing of ``a`` (its own data, or none), and tenant
``b`` writing to the same ids leaves tenant ``a``'s data as it was.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from typing import Any

import httpx
import pytest

from seecodes_conformance.flows import SNAPSHOT_VISIBLE_WITHIN_S, ProtocolSteps
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry, TrackedRun
from seecodes_conformance.http import JiraAppSession, PermitSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, checked, fail, throttled
from seecodes_conformance.outcomes import not_verified

INVARIANT = "TENANT-ISOLATION"


def _marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def _twins(protocol: ProtocolSteps) -> tuple[TaskRef, PermitSession, PermitSession]:
    """One pair of ids, and a permit for it in tenant a and in tenant b."""
    task = protocol.new_task()
    return task, protocol.mint_permit(task), protocol.mint_permit(task, protocol.jira("b"))


def _refuse_leak(response: httpx.Response, marker: str, what: str) -> None:
    """Tenant b may get its own answer or a rejection (its choice), never tenant a's data."""
    if is_throttled(response.status_code, response.headers):
        throttled(response, INVARIANT, what)
    if response.status_code >= 500:
        fail(INVARIANT, f"server error on {what}", [response])
    if marker in response.text:
        fail(INVARIANT, f"{what} shows tenant a's data", [response])


@pytest.mark.invariant(INVARIANT)
def test_progress_of_the_same_ids_is_separate(protocol: ProtocolSteps) -> None:
    """Tenant a's progress is invisible to tenant b's permit and Jira App for the same ids, and
    tenant b's write to them leaves it alone."""
    task, permit_a, permit_b = _twins(protocol)
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
    checked(INVARIANT)


@pytest.mark.invariant(INVARIANT)
def test_context_of_the_same_ids_is_separate(protocol: ProtocolSteps) -> None:
    """The Jira context tenant a launched a pair with is invisible to tenant b's permit for the
    same ids, and tenant b's launch with its own context leaves it alone."""
    task = protocol.new_task()
    mark_a, mark_b = _marker("context-a"), _marker("context-b")
    permit_a = protocol.permit_with_context(task, mark_a)
    own = protocol.read_context(permit_a)
    what = "tenant a reading the context it launched the pair with"
    if is_throttled(own.status_code, own.headers):
        throttled(own, INVARIANT, what)
    if own.status_code >= 500:
        fail(INVARIANT, f"server error on {what}", [own])
    if mark_a not in own.text:
        # vscode-link's jiraContext is "optional task context": a target may not store it.
        not_verified(
            INVARIANT,
            "capability",
            f"{what} answered {own.status_code} without that context"
            + (" (Context not found)" if protocol.is_context_not_found(json_or_none(own)) else "")
            + ", so there is no context for tenant b to reach",
            "a target that serves the jiraContext of POST /v1/security/vscode-link "
            "from GET /v1/tasks/context",
        )
    permit_b = protocol.permit_with_context(task, mark_b, protocol.jira("b"))

    _refuse_leak(protocol.read_context(permit_b), mark_a, "tenant b's permit reading context")
    read_a = protocol.read_context(permit_a)

    assert_success(read_a, INVARIANT, what="tenant a reading its own context again")
    if mark_a not in read_a.text or mark_b in read_a.text:
        fail(INVARIANT, "tenant b's launch of the same ids replaced tenant a's context", [read_a])
    checked(INVARIANT)


@pytest.mark.invariant(INVARIANT)
def test_project_index_of_the_same_ids_is_separate(protocol: ProtocolSteps) -> None:
    """Tenant a's index entry is invisible to tenant b's query of the same project and path,
    and tenant b's upsert of that path leaves it alone."""
    _, permit_a, permit_b = _twins(protocol)
    mark_a, mark_b = _marker("index-a"), _marker("index-b")
    # The markers travel in the entries' `short` (which the query answer shows), never in the
    # path: tenant b's answer may echo the path it asked about.
    path = f"src/tenancy-{uuid.uuid4().hex[:12]}.ts"
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
    if mark_a not in query_a.text or mark_b in query_a.text:
        fail(INVARIANT, "tenant b's upsert of the same path replaced tenant a's entry", [query_a])
    checked(INVARIANT)


def _start_twin_run(
    protocol: ProtocolSteps, registry: RunRegistry
) -> tuple[PermitSession, PermitSession, TrackedRun]:
    """Twins, and tenant a's run started and handed to ``registry`` (settling beside the
    session's other runs)."""
    _, permit_a, permit_b = _twins(protocol)
    run = protocol.started_run(permit_a)
    return permit_a, permit_b, registry.track(run, label=f"{run.run_id} (tenant a)")


EARLY_RUNS = {"test_runs_of_the_same_ids_are_separate": _start_twin_run}


@pytest.mark.invariant(INVARIANT)
def test_runs_of_the_same_ids_are_separate(early_runs: EarlyRuns) -> None:
    """Tenant a's run, its output and its logs are refused to tenant b's permit for the same
    ids, where tenant a's permit reads them."""
    permit_a, permit_b, tracked = early_runs.take(_start_twin_run)
    # Not verified if it does not settle within --run-wait: its output and logs are read then.
    run = early_runs.registry.settled(tracked, INVARIANT).run
    # "GET /v1/tasks/{runId}/output: Returns the final text artifact produced by a successful
    # AI run": a failed run has no output for tenant a to read, so there is nothing to protect.
    suffixes = ("", "/logs", "/output") if tracked.final == "succeeded" else ("", "/logs")

    for suffix in suffixes:
        theirs = permit_b.get(f"/v1/tasks/{run.run_id}{suffix}")
        mine = permit_a.get(f"/v1/tasks/{run.run_id}{suffix}")

        assert_rejected(theirs, INVARIANT, what=f"tenant b's permit on GET run{suffix} of tenant a")
        assert_success(mine, INVARIANT, what=f"tenant a's permit on GET run{suffix} of its own run")

    if "/output" not in suffixes:
        not_verified(
            INVARIANT,
            "setup",
            "tenant a's run failed, so it has no output; the run and its logs were checked",
            "a target whose runs succeed on the sample list.md",
        )


@pytest.mark.invariant(INVARIANT)
def test_a_run_of_the_same_ids_is_started_only_in_its_tenant(protocol: ProtocolSteps) -> None:
    """POST /v1/tasks/{runId}/start with tenant b's permit for the same ids is refused on
    tenant a's run; the run stays as tenant a reads it, and tenant a's permit then starts it."""
    _, permit_a, permit_b = _twins(protocol)
    run = protocol.init_run(permit_a)
    protocol.upload_all(run)
    before = protocol.run_view(permit_a, run.run_id)

    theirs = protocol.start_run(permit_b, run.run_id)

    assert_rejected(
        theirs,
        INVARIANT,
        what="tenant b's permit starting tenant a's run of the same ids",
        readback=functools.partial(protocol.run_view, permit_a, run.run_id),
        before=before,
    )
    mine = protocol.start_run(permit_a, run.run_id)
    assert_success(mine, INVARIANT, what="tenant a's permit starting its own run")


@pytest.mark.invariant(INVARIANT)
def test_a_snapshot_of_the_same_ids_stays_in_its_tenant(protocol: ProtocolSteps) -> None:
    """POST /v1/tasks/activity-snapshot with tenant b's permit is stored for tenant b (it
    reaches tenant b's board: the control), and never shows on tenant a's board for the same
    ids, where tenant a recorded nothing."""
    task = protocol.new_task()
    jira_a, jira_b = protocol.default_jira, protocol.jira("b")
    permit_b = protocol.mint_permit(task, jira_b)  # b's board may be b's recorder's alone

    stored = protocol.write_snapshot(permit_b)

    assert_success(stored, INVARIANT, what="tenant b's permit saving an activity snapshot")
    deadline = time.monotonic() + SNAPSHOT_VISIBLE_WITHIN_S
    while not _board_items(protocol, jira_b, task):
        if time.monotonic() > deadline:
            not_verified(
                INVARIANT,
                "timeout",
                f"tenant b's snapshot for {task.task_id} did not reach tenant b's board within "
                f"{SNAPSHOT_VISIBLE_WITHIN_S:.0f} s, so whether it reaches tenant a's cannot be "
                "told",
                "a target whose snapshots reach GET /v1/jira/team-competition within seconds",
            )
        time.sleep(0.5)
    leaked = _board_items(protocol, jira_a, task)
    if leaked:
        fail(INVARIANT, f"tenant a's board shows tenant b's snapshot of {task.task_id}: {leaked}")
    checked(INVARIANT)


def _board_items(protocol: ProtocolSteps, jira: JiraAppSession, task: TaskRef) -> list[Any]:
    """The team-competition items of ``task`` on ``jira``'s board (its project's view)."""
    response = protocol.team_competition(jira, project_id=task.project_id)
    body = assert_success(response, INVARIANT, what="reading team-competition")
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        fail(INVARIANT, "team-competition answered without items", [response])
    return [i for i in items if isinstance(i, dict) and i.get("taskId") == task.task_id]
