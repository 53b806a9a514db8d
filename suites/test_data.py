"""Progress, task context, activity snapshots, analytics, instance metrics and project indexes.

Every test works on a project/task of its own (``protocol.new_task()``), so no outcome depends
on another test or on the order they run in.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import pytest

from seecodes_conformance.flows import SNAPSHOT_VISIBLE_WITHIN_S, ProtocolSteps
from seecodes_conformance.http import JiraAppSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_success, checked, fail, throttled

# A store that aggregates asynchronously may take a moment; this bounds the wait (not a timing
# assertion: the check passes as soon as the snapshot shows up).
METRICS_BODY = {"installedUsersCount": 17, "source": "forge-hourly-sync"}
TEAM_COMPETITION_PARTS: dict[str, type] = {
    "items": list,
    "taskSummaries": list,
    "monthBaseline": dict,
    "formula": dict,
    "sourceSummary": dict,
}


def _progress_doc(task: TaskRef) -> dict[str, Any]:
    """The protocol's example document, made unique to the task so no stale read passes."""
    tag = task.task_id
    return {
        "ready": [f"Protected-route wrapper is live ({tag})"],
        "left": [f"Callback validation still needs coverage ({tag})"],
        "progress": "67%",
        "confidence": "Medium",
        "risks": [f"Identity provider payload may still change ({tag})"],
        "logs": [f"Recent activity summary line ({tag})"],
    }


def _digest(task: TaskRef, name: str) -> str:
    return hashlib.sha256(f"{task.task_id}/{name}".encode()).hexdigest()


def _assert_progress_equals(response: httpx.Response, sent: dict[str, Any], how: str) -> None:
    """Every field sent reads back equal; extra fields (updatedAt ...) are the target's choice."""
    body = assert_success(response, "PROGRESS-ROUNDTRIP", what=f"reading progress {how}")
    stored = body.get("progress") if isinstance(body, dict) else None
    if not isinstance(stored, dict):
        fail("PROGRESS-ROUNDTRIP", f"reading progress {how}: no progress document", [response])
    differing = {k: stored.get(k, "<missing>") for k, v in sent.items() if stored.get(k) != v}
    if differing:
        fail(
            "PROGRESS-ROUNDTRIP",
            f"progress read {how} differs from what the permit stored: {differing!r} "
            f"(sent {sent!r})",
            [response],
        )


# -- PROGRESS-ROUNDTRIP -------------------------------------------------------------------------


@pytest.mark.invariant("PROGRESS-ROUNDTRIP")
def test_progress_reads_back_with_the_permit(protocol: ProtocolSteps) -> None:
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    sent = _progress_doc(task)

    written = protocol.write_progress(permit, sent)
    assert_success(written, "PROGRESS-ROUNDTRIP", what="storing progress with the task permit")

    _assert_progress_equals(protocol.read_progress(permit), sent, "with the permit")
    checked("PROGRESS-ROUNDTRIP")


@pytest.mark.invariant("PROGRESS-ROUNDTRIP")
def test_progress_reads_back_via_the_jira_app(
    protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    sent = _progress_doc(task)

    written = protocol.write_progress(permit, sent)
    assert_success(written, "PROGRESS-ROUNDTRIP", what="storing progress with the task permit")

    response = protocol.read_progress_as_jira(jira, task)
    _assert_progress_equals(response, sent, "via the Jira App (Forge + request key)")
    checked("PROGRESS-ROUNDTRIP")


# -- CONTEXT-NOT-FOUND --------------------------------------------------------------------------


@pytest.mark.invariant("CONTEXT-NOT-FOUND")
def test_task_without_context_answers_context_not_found(protocol: ProtocolSteps) -> None:
    # task-permit stores no Jira context (only vscode-link can carry jiraContext).
    permit = protocol.mint_permit(protocol.new_task())

    response = protocol.read_context(permit)

    # The status is the target's choice (2xx or 4xx); the body is what the protocol documents.
    if is_throttled(response.status_code, response.headers):
        throttled(response, "CONTEXT-NOT-FOUND", "reading the context of a task without one")
    if not (response.is_success or response.is_client_error):
        fail("CONTEXT-NOT-FOUND", f"expected 2xx or 4xx, got {response.status_code}", [response])
    if not ProtocolSteps.is_context_not_found(json_or_none(response)):
        fail(
            "CONTEXT-NOT-FOUND",
            'a task with no stored context must answer { ok: false, error: "Context not found" }',
            [response],
        )
    checked("CONTEXT-NOT-FOUND")


# -- SNAPSHOT-STORED ----------------------------------------------------------------------------


@pytest.mark.invariant("SNAPSHOT-STORED")
def test_snapshot_answers_stored_with_effort_units(protocol: ProtocolSteps) -> None:
    permit = protocol.mint_permit(protocol.new_task())

    response = protocol.write_snapshot(permit)

    body = assert_success(response, "SNAPSHOT-STORED", what="saving an activity snapshot")
    if not isinstance(body, dict) or body.get("stored") is not True:
        fail("SNAPSHOT-STORED", "the snapshot answer lacks stored: true", [response])
    if not ProtocolSteps.is_number(body.get("effortUnits")):
        fail("SNAPSHOT-STORED", "effortUnits is not a number", [response])
    checked("SNAPSHOT-STORED")


@pytest.mark.invariant("SNAPSHOT-STORED")
def test_snapshot_reaches_team_competition(protocol: ProtocolSteps) -> None:
    # Read back by the user who minted the permit that recorded it: whether the board is the
    # team's or each user's is the target's choice, but a user's own windows are on either.
    recorder = protocol.default_jira
    task = protocol.new_task()
    permit = protocol.mint_permit(task, recorder)
    stored = protocol.write_snapshot(permit)
    assert_success(stored, "SNAPSHOT-STORED", what="saving an activity snapshot")

    deadline = time.monotonic() + SNAPSHOT_VISIBLE_WITHIN_S
    while True:
        response = protocol.team_competition(recorder, project_id=task.project_id)
        body = assert_success(response, "SNAPSHOT-STORED", what="reading team-competition")
        items = body.get("items") if isinstance(body, dict) else None
        if isinstance(items, list) and any(
            isinstance(item, dict) and item.get("taskId") == task.task_id for item in items
        ):
            checked("SNAPSHOT-STORED")
            return
        if time.monotonic() > deadline:
            fail(
                "SNAPSHOT-STORED",
                f"a stored snapshot for {task.task_id} never reached team-competition items "
                f"(waited {SNAPSHOT_VISIBLE_WITHIN_S:.0f} s)",
                [stored, response],
            )
        time.sleep(0.5)


# -- TEAM-COMPETITION ---------------------------------------------------------------------------


@pytest.mark.invariant("TEAM-COMPETITION")
def test_team_competition_has_every_part(protocol: ProtocolSteps, jira: JiraAppSession) -> None:
    response = protocol.team_competition(jira, project_id=protocol.new_task().project_id)

    body = assert_success(response, "TEAM-COMPETITION", what="reading team-competition")
    if not isinstance(body, dict):
        fail("TEAM-COMPETITION", "team-competition answered without a JSON object", [response])
    wrong = [
        f"{name} ({'missing' if name not in body else type(body[name]).__name__})"
        for name, kind in TEAM_COMPETITION_PARTS.items()
        if not isinstance(body.get(name), kind)
    ]
    if wrong:
        fail("TEAM-COMPETITION", f"missing or malformed parts: {', '.join(wrong)}", [response])
    checked("TEAM-COMPETITION")


# -- METRICS-ACCEPTED ---------------------------------------------------------------------------


@pytest.mark.invariant("METRICS-ACCEPTED")
def test_instance_metrics_accepts_the_documented_body(jira: JiraAppSession) -> None:
    response = jira.post("/v1/jira/instance-metrics", json=METRICS_BODY)

    body = assert_success(response, "METRICS-ACCEPTED", what="reporting instance metrics")
    if not isinstance(body, dict) or body.get("ok") is not True:
        fail("METRICS-ACCEPTED", "instance-metrics must answer { ok: true }", [response])
    checked("METRICS-ACCEPTED")


# -- INDEX-ROUNDTRIP ----------------------------------------------------------------------------


def _upsert(
    protocol: ProtocolSteps, permit: Any, entries: dict[str, Any], delete: list[str] | None = None
) -> None:
    response = protocol.index_upsert(permit, entries, delete)
    body = assert_success(response, "INDEX-ROUNDTRIP", what="upserting index entries")
    not_numbers = [
        name
        for name in ("upserted", "deleted", "totalFiles")
        if not ProtocolSteps.is_number(body.get(name) if isinstance(body, dict) else None)
    ]
    if not_numbers:
        fail("INDEX-ROUNDTRIP", f"upsert answer: {', '.join(not_numbers)} not numbers", [response])


def _matches(response: httpx.Response) -> dict[str, Any]:
    body = assert_success(response, "INDEX-ROUNDTRIP", what="querying the project index")
    matches = body.get("matches") if isinstance(body, dict) else None
    if not isinstance(matches, dict):
        fail("INDEX-ROUNDTRIP", "the index query answered without a matches object", [response])
    return matches


@pytest.mark.invariant("INDEX-ROUNDTRIP")
def test_index_query_matches_the_same_path(protocol: ProtocolSteps) -> None:
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    path, digest = "src/auth.ts", _digest(task, "auth")
    entry = protocol.index_entry(digest, short=f"Authentication helper {task.task_id}")
    _upsert(protocol, permit, {path: entry})

    response = protocol.index_query(permit, [(path, digest)])

    match = _matches(response).get(path)
    found = match.get("entry") if isinstance(match, dict) else None
    if not isinstance(match, dict) or match.get("pathMatched") is not True:
        fail("INDEX-ROUNDTRIP", f"{path} was upserted but reports no path match", [response])
    if not isinstance(found, dict) or any(
        found.get(k) != entry[k] for k in ("hash", "short", "detailed", "important_symbols")
    ):
        fail("INDEX-ROUNDTRIP", f"the match for {path} is not the upserted entry", [response])
    checked("INDEX-ROUNDTRIP")


@pytest.mark.invariant("INDEX-ROUNDTRIP")
def test_index_query_reports_hash_reuse_at_another_path(protocol: ProtocolSteps) -> None:
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    stored_path, moved_path, digest = "src/auth.ts", "src/login/auth.ts", _digest(task, "auth")
    _upsert(protocol, permit, {stored_path: protocol.index_entry(digest)})

    response = protocol.index_query(permit, [(moved_path, digest)])

    match = _matches(response).get(moved_path)
    if not isinstance(match, dict) or match.get("hashMatchedPath") != stored_path:
        fail(
            "INDEX-ROUNDTRIP",
            f"{moved_path} has the hash stored at {stored_path}; the query must report "
            f"hashMatchedPath {stored_path!r}",
            [response],
        )
    checked("INDEX-ROUNDTRIP")


@pytest.mark.invariant("INDEX-ROUNDTRIP")
def test_index_delete_paths_removes_the_path(protocol: ProtocolSteps) -> None:
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    doomed, other = "src/old-auth.ts", "src/auth.ts"
    digest = _digest(task, "old-auth")
    _upsert(protocol, permit, {doomed: protocol.index_entry(digest)})
    first = protocol.index_query(permit, [(doomed, digest)])
    before = _matches(first).get(doomed)
    if not isinstance(before, dict) or before.get("pathMatched") is not True:
        fail("INDEX-ROUNDTRIP", f"{doomed} was upserted but does not path-match", [first])

    _upsert(protocol, permit, {other: protocol.index_entry(_digest(task, "auth"))}, [doomed])

    response = protocol.index_query(permit, [(doomed, digest)])
    # A deleted path may be left out of matches or reported without a path match.
    after = _matches(response).get(doomed)
    if isinstance(after, dict) and after.get("pathMatched") is True:
        fail("INDEX-ROUNDTRIP", f"{doomed} was in deletePaths but still path-matches", [response])
    checked("INDEX-ROUNDTRIP")
