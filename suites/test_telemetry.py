"""Telemetry ingestion is disabled: POST /v1/jira/telemetry/events refuses and stores nothing.

Protocol: "Ingest telemetry events (currently disabled)": the live codebase answers with an
authenticated-ingestion deprecation error, a body with a ``detail`` message. An "error", not a
status: any 4xx is one, and so is 501 Not Implemented (the one 5xx that says "this server does
not do that" rather than "this server broke"); the wording of ``detail`` is free. There is no
read route for telemetry, so "stores nothing" is read where stored events could surface: the
Jira usage rows and the team-competition board of the task the events name.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.http import JiraAppSession, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import (
    assert_rejected,
    assert_success,
    checked,
    fail,
    leaked_values,
)

INVARIANT = "TELEMETRY-DISABLED"
EVENTS = "/v1/jira/telemetry/events"
NOT_IMPLEMENTED = 501


def _events(task: TaskRef, cloud_id: str) -> dict[str, Any]:
    """Events as the extension-side sender would post them, naming our task."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "events": [
            {
                "eventType": event_type,
                "cloudId": cloud_id,
                "requestId": str(uuid.uuid4()),
                "timestamp": stamp,
                "projectId": task.project_id,
                "taskId": task.task_id,
                "credits": 5,
            }
            for event_type in ("ai.usage", "task_run", "activity")
        ]
    }


def _items_of(response: httpx.Response, invariant: str, what: str, task: TaskRef) -> list[str]:
    """The items naming ``task``; the read is ``invariant``'s route (its failure is that one's)."""
    body = assert_success(response, invariant, what=f"reading {what}")
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        fail(invariant, f"{what} answered without items", [response])
    return sorted(json.dumps(i, sort_keys=True) for i in items if task.task_id in json.dumps(i))


def _assert_refused(response: httpx.Response, what: str) -> None:
    """A rejection (any 4xx), or 501 Not Implemented; either way nothing leaks. Only here is a
    501 an answer: everywhere else a 5xx stays a server error."""
    if response.status_code != NOT_IMPLEMENTED:
        assert_rejected(response, INVARIANT, what=what)
        return
    leaks = leaked_values(response)
    if leaks:
        fail(INVARIANT, f"the refusal of {what} leaks {', '.join(leaks)}", [response])


def _stored_view(protocol: ProtocolSteps, jira: JiraAppSession, task: TaskRef) -> Any:
    """Everything the installation shows about ``task`` where telemetry could surface."""
    usage = _items_of(jira.get("/v1/jira/usage"), "USAGE-CREDITS", "usage", task)
    board = protocol.team_competition(jira, project_id=task.project_id)
    items = _items_of(board, "TEAM-COMPETITION", "team-competition", task)
    return {
        "usage": usage,
        "team-competition": items,
        "sourceSummary": json_or_none(board).get("sourceSummary"),
    }


@pytest.mark.invariant(INVARIANT)
def test_telemetry_events_are_rejected_with_a_detail_and_not_stored(
    protocol: ProtocolSteps,
) -> None:
    """The Jira App's authenticated post gets a 4xx (or 501) whose body has a non-empty
    ``detail``; the same events sent anonymously or with a task permit are refused too; nothing
    is stored."""
    jira = protocol.jira("a")
    task = protocol.new_task()
    permit = protocol.mint_permit(task, jira)
    me_response = jira.get("/v1/instances/me")
    me = assert_success(me_response, "INSTANCE-STATE", what="instances/me")
    cloud_id = me.get("cloudId") if isinstance(me, dict) else None
    if not isinstance(cloud_id, str) or not cloud_id:
        fail("INSTANCE-STATE", "instances/me answered without a cloudId", [me_response])
    before = _stored_view(protocol, jira, task)

    response = jira.post(EVENTS, json=_events(task, cloud_id))

    _assert_refused(response, "telemetry events from the Jira App")
    body = json_or_none(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str) or not detail.strip():
        fail(INVARIANT, "the refusal of telemetry events has no `detail` message", [response])
    for who, send in (
        ("anonymous", lambda: protocol.http.post(EVENTS, json=_events(task, cloud_id))),
        ("a task permit", lambda: permit.post(EVENTS, json=_events(task, cloud_id))),
    ):
        _assert_refused(send(), f"telemetry events sent by {who}")
    after = _stored_view(protocol, jira, task)
    if after != before:
        fail(
            INVARIANT,
            f"rejected telemetry events show up in the installation's analytics:\n"
            f"    before: {before}\n    after:  {after}",
        )
    checked(INVARIANT)
