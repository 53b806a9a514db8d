"""Permit probes: does a bearer open a pair, and only its own? (launch-code, permit, tenancy)"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from seecodes_conformance.flows.data import DataSteps
from seecodes_conformance.flows.launch import LaunchSteps
from seecodes_conformance.flows.run_registry import RunRegistry, TrackedRun
from seecodes_conformance.flows.runs import RunSteps
from seecodes_conformance.http import PermitSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, controlled, fail, throttled
from seecodes_conformance.redaction import register_credentials


@dataclass(frozen=True)
class PermitRoutes:
    """A pair's permit and a resource behind each of its run routes: ``settled_run`` settled
    as ``settled_as`` (status, output, logs), ``idle_run`` uploaded but never started (start)."""

    permit: PermitSession
    settled_run: str
    settled_as: str
    idle_run: str


@dataclass(frozen=True)
class PendingRoutes:
    """``PermitRoutes`` whose run was started and is still settling (in a ``RunRegistry``)."""

    task: TaskRef
    permit: PermitSession
    run: TrackedRun
    idle_run: str


class PermitProbes(LaunchSteps, RunSteps, DataSteps):
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

    def _assert_context_served(self, permit: PermitSession, invariant: str, *, what: str) -> None:
        """``GET /v1/tasks/context`` with ``permit`` serves its pair: the context, or the
        documented ``{ ok: false, error: "Context not found" }``."""
        refused = self.context_opens(permit)
        if refused is None:
            return
        if is_throttled(refused.status_code, refused.headers):
            throttled(refused, invariant, f"{what}: GET /v1/tasks/context")
        fail(
            invariant,
            f"{what}: GET /v1/tasks/context answered {refused.status_code}, neither context "
            "nor 'Context not found'",
            [refused],
        )

    def assert_permit_opens(self, permit: PermitSession, invariant: str, *, what: str) -> None:
        """``permit`` works on its own pair: the context route serves it, and a progress write
        for its task succeeds and reads back (what the IDE does right after receiving it)."""
        self._assert_context_served(permit, invariant, what=what)
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

    def start_permit_routes(self, task: TaskRef, registry: RunRegistry) -> PendingRoutes:
        """A permit for ``task`` with something behind every permit route, in two halves: this
        one starts a run and hands it to ``registry`` (it settles beside the session's other
        runs), and initialises and uploads a run never started; ``settled_routes`` waits."""
        permit = self.mint_permit(task)
        run = self.started_run(permit)
        started = registry.track(run, label=f"{run.run_id} (task {task.task_id})")
        idle = self.init_run(permit)
        self.upload_all(idle)
        return PendingRoutes(task, permit, started, idle.run_id)

    @staticmethod
    def settled_routes(
        pending: PendingRoutes, registry: RunRegistry, invariant: str
    ) -> PermitRoutes:
        """The routes of ``pending`` once its run settled (not verified for ``invariant`` if it
        did not within the wait)."""
        tracked = registry.settled(pending.run, invariant)
        settled_as = tracked.final or ""
        return PermitRoutes(pending.permit, tracked.run.run_id, settled_as, pending.idle_run)

    def assert_not_a_permit(
        self, bearers: Mapping[str, str | None], invariant: str, *, on: PermitRoutes
    ) -> None:
        """Every permit route of ``on``'s pair rejects each of ``bearers`` (a description and
        the bearer; None: no Authorization), and the pair's progress, project index and idle run
        read back unchanged. Then the pair's own permit succeeds with the same requests on the
        same resources: the positive control, showing the rejections are about the bearer."""
        real = on.permit
        path = f"src/probe-{uuid.uuid4().hex[:12]}.ts"
        digest = hashlib.sha256(path.encode()).hexdigest()
        requests = self._permit_route_requests(on, path, digest)

        def state() -> dict[str, Any]:
            return {
                "progress": self.progress_of(real),
                "project index": self.index_match(real, path, digest),
                "unstarted run": self.run_view(real, on.idle_run),
            }

        before = state()
        for what, bearer in bearers.items():
            headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
            for method, route, kwargs in requests:
                response = self.http.request(method, route, headers=headers, **kwargs)
                body = json_or_none(response)
                register_credentials(body)
                if route == "/v1/tasks/context" and self.is_context_not_found(body):
                    fail(invariant, f"{what} opened {route}: it looked the pair up", [response])
                assert_rejected(response, invariant, what=f"{what} as permit on {method} {route}")
        after = state()
        for name in before:
            if after[name] != before[name]:
                fail(
                    invariant,
                    f"requests without a valid permit were rejected but changed the pair's "
                    f"{name}: {before[name]!r} became {after[name]!r}",
                )

        for method, route, kwargs in requests:
            what = f"the pair's own permit on {method} {route}"
            if route == "/v1/tasks/context":
                self._assert_context_served(real, invariant, what=what)
                controlled(invariant)
            elif route != f"/v1/tasks/{on.settled_run}/output" or on.settled_as == "succeeded":
                # (output is "the final text artifact produced by a successful AI run" only)
                assert_success(real.request(method, route, **kwargs), invariant, what=what)

    def _permit_route_requests(
        self, on: PermitRoutes, path: str, digest: str
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """One valid request per permit route of ``on``'s pair (the index ones about ``path``)."""
        task = on.permit.task
        project = f"/v1/projects/{task.project_id}/indexes"
        progress = f"/v1/tasks/{task.task_id}/progress"
        settled = f"/v1/tasks/{on.settled_run}"
        return [
            ("GET", "/v1/tasks/context", {}),
            ("GET", progress, {"params": {"projectId": task.project_id}}),
            ("POST", progress, {"json": self.marked_progress(path)}),
            ("POST", "/v1/tasks/init", {"json": {"model": "strict light"}}),
            ("POST", "/v1/tasks/activity-snapshot", {"json": self.snapshot_now()}),
            ("POST", f"{project}/query", {"json": {"items": [{"path": path, "hash": digest}]}}),
            ("POST", f"{project}/upsert", {"json": {"entries": {path: self.index_entry(digest)}}}),
            ("GET", settled, {}),
            ("GET", f"{settled}/output", {}),
            ("GET", f"{settled}/logs", {}),
            ("POST", f"/v1/tasks/{on.idle_run}/start", {"json": {"model": "strict light"}}),
        ]

    @staticmethod
    def run_view(permit: PermitSession, run_id: str) -> tuple[int, str | None]:
        """(HTTP status, run status) of ``GET /v1/tasks/{runId}`` with ``permit`` (read-backs)."""
        response = permit.get(f"/v1/tasks/{run_id}")
        return response.status_code, RunSteps.run_status(response)
