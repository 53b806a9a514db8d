"""Task data: progress documents, context, activity snapshots, team competition, indexes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from seecodes_conformance.flows._base import StepsBase
from seecodes_conformance.http import JiraAppSession, PermitSession, json_or_none
from seecodes_conformance.ids import TaskRef

SAMPLE_PROGRESS: dict[str, Any] = {
    "ready": ["Protected-route wrapper is live"],
    "left": ["Callback validation still needs coverage"],
    "progress": "67%",
    "confidence": "Medium",
    "risks": ["Identity provider payload may still change"],
    "logs": ["Recent activity summary line"],
}
# How long a stored activity snapshot may take to show on the board: the protocol says nothing
# of when, and an asynchronous aggregation may take a moment.
SNAPSHOT_VISIBLE_WITHIN_S = 5.0
SAMPLE_SNAPSHOT: dict[str, Any] = {
    "windowStartedAt": "2026-04-04T10:00:00.000Z",
    "windowEndedAt": "2026-04-04T10:15:00.000Z",
    "taskStartedAt": "2026-04-04T08:30:00.000Z",
    "taskAgeMinutes": 105,
    "humanActiveMs": 420000,
    "locAdded": 28,
    "locRemoved": 11,
    "locTotal": 39,
    "changedFiles": ["src/auth.ts", "src/routes.tsx"],
    "changedFilesCount": 2,
    "architectureChange": False,
    "logicChange": True,
    "specificationUiChange": False,
}


class DataSteps(StepsBase):
    """Writes and reads of a pair's data, plus the read-backs that tell whether it changed."""

    # -- progress ---------------------------------------------------------------------------
    def write_progress(
        self, permit: PermitSession, doc: dict[str, Any] | None = None, task_id: str | None = None
    ) -> httpx.Response:
        path_task = task_id or permit.task.task_id
        return permit.post(f"/v1/tasks/{path_task}/progress", json=doc or SAMPLE_PROGRESS)

    def read_progress(
        self, permit: PermitSession, project_id: str | None = None, task_id: str | None = None
    ) -> httpx.Response:
        return permit.get(
            f"/v1/tasks/{task_id or permit.task.task_id}/progress",
            params={"projectId": project_id or permit.task.project_id},
        )

    def read_progress_as_jira(self, jira: JiraAppSession, task: TaskRef) -> httpx.Response:
        return jira.get(f"/v1/tasks/{task.task_id}/progress", params={"projectId": task.project_id})

    def progress_of(self, permit: PermitSession) -> Any:
        """The stored progress document as the right permit reads it (for read-backs)."""
        response = self.read_progress(permit)
        body = json_or_none(response)
        if response.is_success and isinstance(body, dict):
            return body.get("progress")
        return ("status", response.status_code)

    @staticmethod
    def marked_progress(marker: str) -> dict[str, Any]:
        """SAMPLE_PROGRESS whose ``ready`` list carries ``marker``, to recognise it on read-back."""
        return {**SAMPLE_PROGRESS, "ready": [f"Marker {marker}"]}

    # -- context ----------------------------------------------------------------------------
    def read_context(self, permit: PermitSession) -> httpx.Response:
        return permit.get("/v1/tasks/context")

    @staticmethod
    def is_context_not_found(body: Any) -> bool:
        """The one ok:false form the protocol allows (GET /v1/tasks/context, 2xx or 4xx)."""
        return (
            isinstance(body, dict)
            and body.get("ok") is False
            and body.get("error") == "Context not found"
        )

    # -- snapshots and analytics ------------------------------------------------------------
    @staticmethod
    def snapshot_now(**overrides: Any) -> dict[str, Any]:
        """SAMPLE_SNAPSHOT with a window that ended a minute ago (analytics scope by date)."""

        def iso(t: datetime) -> str:
            return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

        end = datetime.now(UTC) - timedelta(minutes=1)
        return {
            **SAMPLE_SNAPSHOT,
            "windowStartedAt": iso(end - timedelta(minutes=15)),
            "windowEndedAt": iso(end),
            "taskStartedAt": iso(end - timedelta(minutes=105)),
            **overrides,
        }

    def write_snapshot(
        self, permit: PermitSession, doc: dict[str, Any] | None = None
    ) -> httpx.Response:
        return permit.post("/v1/tasks/activity-snapshot", json=doc or self.snapshot_now())

    def team_competition(
        self, jira: JiraAppSession | None = None, project_id: str | None = None
    ) -> httpx.Response:
        params = {"projectId": project_id} if project_id else None
        return (jira or self.default_jira).get("/v1/jira/team-competition", params=params)

    # -- project indexes --------------------------------------------------------------------
    @staticmethod
    def index_entry(hash_hex: str, short: str = "Authentication helper") -> dict[str, Any]:
        """An index entry as the IDE extension upserts it (protocol example shape)."""
        return {
            "hash": hash_hex,
            "updatedAt": int(time.time() * 1000),
            "short": short,
            "detailed": "Longer explainer...",
            "important_symbols": ["AuthGuard"],
            "dependencies": ["src/session.ts"],
            "exports": ["AuthGuard"],
        }

    def index_upsert(
        self,
        permit: PermitSession,
        entries: dict[str, Any],
        delete_paths: list[str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"entries": entries}
        if delete_paths is not None:
            body["deletePaths"] = delete_paths
        return permit.post(f"/v1/projects/{permit.task.project_id}/indexes/upsert", json=body)

    def index_query(self, permit: PermitSession, items: list[tuple[str, str]]) -> httpx.Response:
        """Query ``(path, hash)`` pairs against the permit's project index."""
        body = {"items": [{"path": path, "hash": digest} for path, digest in items]}
        return permit.post(f"/v1/projects/{permit.task.project_id}/indexes/query", json=body)

    def index_match(self, permit: PermitSession, path: str, digest: str) -> Any:
        """What the permit's project index says about ``path`` (for read-backs)."""
        response = self.index_query(permit, [(path, digest)])
        body = json_or_none(response)
        if response.is_success and isinstance(body, dict):
            matches = body.get("matches")
            return matches.get(path) if isinstance(matches, dict) else matches
        return ("status", response.status_code)
