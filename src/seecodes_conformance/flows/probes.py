"""Permit probes: does a bearer open a pair, and only its own? (launch-code, permit, tenancy)"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from seecodes_conformance.flows.data import DataSteps
from seecodes_conformance.http import PermitSession, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, fail
from seecodes_conformance.redaction import register_credentials


class PermitProbes(DataSteps):
    """Checks that a permit opens its own pair, stays confined to it, or is no permit at all."""

    def context_opens(self, permit: PermitSession) -> httpx.Response | None:
        """``GET /v1/tasks/context``; None when it served the permit's pair (context or the
        documented Context-not-found answer, 2xx or 4xx), else the refusing response."""
        response = self.read_context(permit)
        if response.is_success or (
            400 <= response.status_code < 500 and self.is_context_not_found(json_or_none(response))
        ):
            return None
        return response

    def assert_permit_opens(self, permit: PermitSession, invariant: str, *, what: str) -> None:
        """``permit`` works on its own pair: the context route serves it, and a progress write
        for its task succeeds and reads back (what the IDE does right after receiving it)."""
        refused = self.context_opens(permit)
        if refused is not None:
            fail(
                invariant,
                f"{what}: GET /v1/tasks/context with the permit answered "
                f"{refused.status_code}, neither context nor 'Context not found'",
                [refused],
            )
        marker = f"opens-{uuid.uuid4().hex[:12]}"
        write = self.write_progress(permit, self.marked_progress(marker))
        assert_success(write, invariant, what=f"{what}: a progress write for the permit's own task")
        read = self.read_progress(permit)
        assert_success(read, invariant, what=f"{what}: reading the permit's own progress")
        if marker not in read.text:
            fail(
                invariant,
                f"{what}: progress written with the permit does not read back with it",
                [write, read],
            )

    def assert_permit_confined(
        self,
        permit: PermitSession,
        other: TaskRef,
        invariant: str,
        *,
        other_permit: PermitSession | None = None,
    ) -> None:
        """``permit`` is rejected on ``other``'s progress (read and write); with
        ``other_permit``, the other pair's progress reads back unchanged and unleaked."""
        before = self.progress_of(other_permit) if other_permit is not None else None
        protected = [json.dumps(before)] if isinstance(before, dict) else []
        what = f"a permit for {permit.task.task_id} on {other.project_id}/{other.task_id}"
        read = self.read_progress(permit, other.project_id, other.task_id)
        assert_rejected(read, invariant, what=f"reading progress with {what}", protected=protected)
        write = self.write_progress(
            permit, self.marked_progress(f"confined-{uuid.uuid4().hex[:12]}"), other.task_id
        )
        readback: Callable[[], Any] | None = None
        if other_permit is not None:
            readback = functools.partial(self.progress_of, other_permit)
        assert_rejected(
            write, invariant, what=f"writing progress with {what}", readback=readback, before=before
        )

    def assert_not_a_permit(
        self,
        bearer: str | None,
        invariant: str,
        *,
        what: str,
        readback: PermitSession,
        run_id: str | None = None,
    ) -> None:
        """Every permit route rejects ``bearer`` (None: no Authorization) for ``readback``'s
        pair, and that pair's progress and project index read back unchanged."""
        task = readback.task
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
        path = f"src/probe-{uuid.uuid4().hex[:12]}.ts"
        digest = hashlib.sha256(path.encode()).hexdigest()
        progress_before = self.progress_of(readback)
        index_before = self.index_match(readback, path, digest)
        project = f"/v1/projects/{task.project_id}/indexes"
        progress = f"/v1/tasks/{task.task_id}/progress"
        attempts: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/v1/tasks/context", {}),
            ("GET", progress, {"params": {"projectId": task.project_id}}),
            ("POST", progress, {"json": self.marked_progress(path)}),
            ("POST", "/v1/tasks/init", {"json": {"model": "strict light"}}),
            ("POST", "/v1/tasks/activity-snapshot", {"json": self.snapshot_now()}),
            ("POST", f"{project}/query", {"json": {"items": [{"path": path, "hash": digest}]}}),
            ("POST", f"{project}/upsert", {"json": {"entries": {path: self.index_entry(digest)}}}),
        ]
        if run_id is not None:
            attempts += [
                ("GET", f"/v1/tasks/{run_id}", {}),
                ("GET", f"/v1/tasks/{run_id}/output", {}),
                ("GET", f"/v1/tasks/{run_id}/logs", {}),
                ("POST", f"/v1/tasks/{run_id}/start", {"json": {"model": "strict light"}}),
            ]
        for method, route, kwargs in attempts:
            response = self.http.request(method, route, headers=headers, **kwargs)
            body = json_or_none(response)
            register_credentials(body)
            if route == "/v1/tasks/context" and self.is_context_not_found(body):
                fail(invariant, f"{what} opened {route}: it looked the pair up", [response])
            assert_rejected(response, invariant, what=f"{what} as permit on {method} {route}")
        for name, before, after in (
            ("progress", progress_before, self.progress_of(readback)),
            ("project index", index_before, self.index_match(readback, path, digest)),
        ):
            if after != before:
                fail(invariant, f"{what} was rejected but changed the pair's {name}")
