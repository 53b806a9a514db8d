"""Shared protocol steps: the one place suites mint permits, launch codes and runs.

Each step does what a first-party client does (see the protocol's "Common integration flows")
and asserts only what the protocol promises about that step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from seecodes_conformance.clients import JiraAppSession, PermitSession
from seecodes_conformance.ids import IdFactory, TaskRef
from seecodes_conformance.oracle import assert_success, body_json, fail
from seecodes_conformance.secrets import REGISTRY
from seecodes_conformance.settings import Settings

SETTLED = frozenset({"succeeded", "failed"})
RUN_STATUSES = ("queued", "in_process", "processing_remote", "succeeded", "failed")

SAMPLE_LIST_MD = b"# Tasks\n\n- [ ] Summarise the change log for the release notes\n"
SAMPLE_PROGRESS: dict[str, Any] = {
    "ready": ["Protected-route wrapper is live"],
    "left": ["Callback validation still needs coverage"],
    "progress": "67%",
    "confidence": "Medium",
    "risks": ["Identity provider payload may still change"],
    "logs": ["Recent activity summary line"],
}
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


@dataclass(frozen=True)
class LaunchLink:
    task: TaskRef
    code: str
    body: dict[str, Any]
    response: httpx.Response


@dataclass(frozen=True)
class Run:
    run_id: str
    uploads: dict[str, str]
    permit: PermitSession


class Protocol:
    """The first-party flows, parameterised by who calls and on which task."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        jira_factory: Callable[..., JiraAppSession],
        ids: IdFactory,
        settings: Settings,
    ) -> None:
        self.http = http
        self.jira_factory = jira_factory
        self.ids = ids
        self.settings = settings
        self._default_jira: JiraAppSession | None = None

    # -- who and where ----------------------------------------------------------------------
    def jira(self, tenant: str = "a", principal: str | None = None) -> JiraAppSession:
        return self.jira_factory(tenant, principal)

    @property
    def default_jira(self) -> JiraAppSession:
        if self._default_jira is None:
            self._default_jira = self.jira("a")
        return self._default_jira

    def new_task(self, project_id: str | None = None, number: int = 1) -> TaskRef:
        return self.ids.task(project_id, number)

    # -- permits and launch codes -----------------------------------------------------------
    def task_permit_response(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"projectId": task.project_id, "taskId": task.task_id, **extra}
        response = (jira or self.default_jira).post("/v1/security/task-permit", json=body)
        self._register(response)
        return response

    def mint_permit(self, task: TaskRef, jira: JiraAppSession | None = None) -> PermitSession:
        """``POST /v1/security/task-permit`` for ``task``; the permit as a session."""
        response = self.task_permit_response(task, jira)
        body = assert_success(response, "PERMIT-MINT", what="minting a task permit")
        permit = body.get("permit") if isinstance(body, dict) else None
        if not isinstance(permit, str) or not permit:
            fail("PERMIT-MINT", "task-permit answered 2xx without a permit", [response])
        return PermitSession(self.http, permit, task, expires_at=body.get("expiresAt"))

    def launch_link_response(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"projectId": task.project_id, "taskId": task.task_id, **extra}
        response = (jira or self.default_jira).post("/v1/security/vscode-link", json=body)
        self._register(response)
        return response

    def mint_launch_code(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> LaunchLink:
        """``POST /v1/security/vscode-link`` for ``task``; the one-time code and the payload."""
        response = self.launch_link_response(task, jira, **extra)
        body = assert_success(response, "LC-MINT", what="minting a launch link")
        code = body.get("launchCode") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            fail("LC-MINT", "vscode-link answered 2xx without a launchCode", [response])
        return LaunchLink(task, code, body, response)

    def exchange(self, code: str, task: TaskRef, **overrides: Any) -> httpx.Response:
        """``POST /v1/security/launch-exchange``: the code in the body is the only credential."""
        body = {"code": code, "projectId": task.project_id, "taskId": task.task_id, **overrides}
        response = self.http.post("/v1/security/launch-exchange", json=body)
        self._register(response)
        return response

    def permit_via_exchange(
        self, task: TaskRef, jira: JiraAppSession | None = None
    ) -> PermitSession:
        link = self.mint_launch_code(task, jira)
        response = self.exchange(link.code, task)
        body = assert_success(response, "LC-EXCHANGE", what="exchanging a fresh launch code")
        permit = body.get("permit") if isinstance(body, dict) else None
        if not isinstance(permit, str) or not permit:
            fail("LC-EXCHANGE", "launch-exchange answered 2xx without a permit", [response])
        return PermitSession(self.http, permit, task, expires_at=body.get("expiresAt"))

    # -- runs -------------------------------------------------------------------------------
    def init_run(self, permit: PermitSession, files: list[str] | None = None) -> Run:
        body: dict[str, Any] = {"model": "strict light"}
        if files is not None:
            body["files"] = files
        response = permit.post("/v1/tasks/init", json=body)
        data = assert_success(response, "RUN-INIT", what="initialising a run")
        uploads = data.get("uploads") if isinstance(data, dict) else None
        run_id = data.get("runId") if isinstance(data, dict) else None
        if not isinstance(run_id, str) or not isinstance(uploads, dict):
            fail("RUN-INIT", "init answered 2xx without runId and uploads", [response])
        for url in uploads.values():
            REGISTRY.add(str(url), "presigned-url")
        return Run(run_id, {str(k): str(v) for k, v in uploads.items()}, permit)

    def upload(self, url: str, content: bytes) -> httpx.Response:
        """PUT to a presigned target, as object stores take uploads; no harness credentials."""
        with httpx.Client(
            timeout=self.settings.request_timeout, verify=self.settings.tls_verify
        ) as c:
            return c.put(url, content=content)

    def upload_all(self, run: Run, content: bytes = SAMPLE_LIST_MD) -> None:
        for name, url in run.uploads.items():
            response = self.upload(url, content)
            if not response.is_success:
                fail(
                    "RUN-INIT",
                    f"presigned upload of {name} answered {response.status_code}",
                    [response],
                )

    def start_run(self, permit: PermitSession, run_id: str, **extra: Any) -> httpx.Response:
        body = {"model": "strict light", "userPrompt": "generate change log", **extra}
        return permit.post(f"/v1/tasks/{run_id}/start", json=body)

    def started_run(self, permit: PermitSession) -> Run:
        """Init, upload list.md and start: a run that the target has queued."""
        run = self.init_run(permit)
        self.upload_all(run)
        assert_success(self.start_run(permit, run.run_id), "RUN-START", what="starting a run")
        return run

    def poll_statuses(
        self, permit: PermitSession, run_id: str, timeout: float = 60.0, interval: float = 0.1
    ) -> list[str]:
        """Poll ``GET /v1/tasks/{runId}`` until the run settles; every status seen, in order."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            response = permit.get(f"/v1/tasks/{run_id}")
            data = assert_success(response, "RUN-STATUS", what="polling a run")
            status = data.get("status", {}).get("status") if isinstance(data, dict) else None
            if status not in RUN_STATUSES:
                fail("RUN-STATUS", f"run status {status!r} is not a documented status", [response])
            seen.append(str(status))
            if status in SETTLED or time.monotonic() > deadline:
                return seen
            time.sleep(interval)

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
        body = body_json(response)
        if response.is_success and isinstance(body, dict):
            return body.get("progress")
        return ("status", response.status_code)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _register(response: httpx.Response) -> None:
        """Credentials in a response body are secrets from the moment they arrive."""
        body = body_json(response)
        if isinstance(body, dict):
            for name, label in (
                ("permit", "permit"),
                ("launchCode", "launch-code"),
                ("requestKey", "request-key"),
            ):
                value = body.get(name)
                if isinstance(value, str):
                    REGISTRY.add(value, label)
