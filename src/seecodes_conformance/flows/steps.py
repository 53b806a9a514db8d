"""Shared protocol steps: the one place suites mint permits, launch codes and runs.

Each step does what a first-party client does (see the protocol's "Common integration flows")
and asserts only what the protocol promises about that step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from seecodes_conformance.http import JiraAppSession, PermitSession
from seecodes_conformance.ids import IdFactory, TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, body_json, fail
from seecodes_conformance.redaction import REGISTRY
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


# Every route that takes Forge bearer + request key (the progress read when Jira calls it).
JIRA_APP_ROUTES = (
    "GET /v1/instances/me",
    "POST /v1/security/vscode-link",
    "POST /v1/security/task-permit",
    "GET /v1/jira/usage",
    "POST /v1/jira/instance-metrics",
    "GET /v1/jira/team-competition",
    "GET /v1/tasks/{taskId}/progress",
)


def route_id(route: str) -> str:
    """A short test id for a route: "GET /v1/jira/usage" -> "jira-usage"."""
    path = route.partition(" ")[2]
    return "-".join(part for part in path.split("/")[2:] if part and not part.startswith("{"))


@dataclass(frozen=True)
class JiraCall:
    """A valid minimal request to one Jira-App route, sendable with any key and Forge token."""

    route: str  # as in JIRA_APP_ROUTES
    method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    task: TaskRef | None = None  # the task the request names, if any

    def send(
        self, jira: JiraAppSession, key: str | None, *, forge_token: str | None = ""
    ) -> httpx.Response:
        """Send with exactly ``key`` (None: no key header); ``forge_token`` as in send_with_key."""
        response = jira.send_with_key(
            key, self.method, self.path, forge_token=forge_token, params=self.params, json=self.json
        )
        Protocol._register(response)
        return response


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

    # -- module-scoped use ------------------------------------------------------------------
    @classmethod
    def standalone(
        cls,
        *,
        http: httpx.Client,
        forge: Any,
        ids: IdFactory,
        settings: Settings,
        owner: str,
    ) -> Protocol:
        """A Protocol for module-scoped fixtures (``jira_factory`` is per test).

        ``forge`` is the session's CredentialSource; principals are named after ``owner`` and
        the xdist worker (via ``ids.base``) where the source allows more than one per tenant.
        """
        from seecodes_conformance.credentials import Principal

        counter = iter(range(1, 1000))
        unique = forge.principals_per_tenant is None

        def make(tenant: str = "a", principal: str | None = None) -> JiraAppSession:
            name = principal or (f"{owner}@{ids.base}#{next(counter)}" if unique else "p1")
            who = Principal(tenant, name)
            return JiraAppSession(http, lambda: forge.token(who), who)

        return cls(http=http, jira_factory=make, ids=ids, settings=settings)

    # -- runs, observed without judging (fixtures record, tests judge) ----------------------
    @staticmethod
    def run_status(response: httpx.Response) -> str | None:
        """``status.status`` of a ``GET /v1/tasks/{runId}`` answer, or None."""
        body = body_json(response)
        status = body.get("status") if isinstance(body, dict) else None
        value = status.get("status") if isinstance(status, dict) else None
        return value if isinstance(value, str) else None

    def run_history(
        self,
        permit: PermitSession,
        run_id: str,
        *,
        timeout: float = 120.0,
        interval: float = 0.02,
        polls_after_settled: int = 5,
    ) -> list[httpx.Response]:
        """Every status answer until the run settles, then ``polls_after_settled`` more.

        Stops early at a non-2xx answer or an undocumented status, and at ``timeout`` if the
        run never settles; the caller judges the history. The polls after settling catch a
        status that moves backwards.
        """
        history: list[httpx.Response] = []
        deadline = time.monotonic() + timeout
        remaining: int | None = None
        while True:
            response = permit.get(f"/v1/tasks/{run_id}")
            history.append(response)
            status = self.run_status(response)
            if not response.is_success or status not in RUN_STATUSES:
                return history
            if remaining is None and status in SETTLED:
                remaining = polls_after_settled
            if remaining is not None:
                if remaining <= 0:
                    return history
                remaining -= 1
            elif time.monotonic() > deadline:
                return history
            time.sleep(interval)

    @staticmethod
    def is_number(value: Any) -> bool:
        """A JSON number (examples' numbers are not necessarily integers; a bool is not one)."""
        return isinstance(value, int | float) and not isinstance(value, bool)

    # -- context, snapshots, analytics, indexes ---------------------------------------------
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

    @staticmethod
    def snapshot_now(**overrides: Any) -> dict[str, Any]:
        """SAMPLE_SNAPSHOT with a window that ended a minute ago (analytics scope by date)."""
        from datetime import UTC, datetime, timedelta

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

    # -- permit probes: does a bearer open a pair? (launch-code, permit, tenancy suites) -----
    @staticmethod
    def marked_progress(marker: str) -> dict[str, Any]:
        """SAMPLE_PROGRESS whose ``ready`` list carries ``marker``, to recognise it on read-back."""
        return {**SAMPLE_PROGRESS, "ready": [f"Marker {marker}"]}

    @staticmethod
    def server_time(response: httpx.Response) -> float:
        """When the target answered, by its own clock (``Date``), else by ours.

        Lifetimes (``expiresAt``) are in the target's clock; measuring them against its ``Date``
        keeps expiry waits and lifetime bounds right even when the two clocks disagree.
        """
        from email.utils import parsedate_to_datetime

        date = response.headers.get("date")
        if date:
            try:
                return parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass
        return time.time()

    def context_opens(self, permit: PermitSession) -> httpx.Response | None:
        """``GET /v1/tasks/context``; None when it served the permit's pair (context or the
        documented Context-not-found answer, 2xx or 4xx), else the refusing response."""
        response = self.read_context(permit)
        if response.is_success or (
            400 <= response.status_code < 500 and self.is_context_not_found(body_json(response))
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
            self._register(response)
            if route == "/v1/tasks/context" and self.is_context_not_found(body_json(response)):
                fail(invariant, f"{what} opened {route}: it looked the pair up", [response])
            assert_rejected(response, invariant, what=f"{what} as permit on {method} {route}")
        for name, before, after in (
            ("progress", progress_before, self.progress_of(readback)),
            ("project index", index_before, self.index_match(readback, path, digest)),
        ):
            if after != before:
                fail(invariant, f"{what} was rejected but changed the pair's {name}")

    def index_match(self, permit: PermitSession, path: str, digest: str) -> Any:
        """What the permit's project index says about ``path`` (for read-backs)."""
        response = self.index_query(permit, [(path, digest)])
        body = body_json(response)
        if response.is_success and isinstance(body, dict):
            matches = body.get("matches")
            return matches.get(path) if isinstance(matches, dict) else matches
        return ("status", response.status_code)

    def permit_with_context(
        self, task: TaskRef, marker: str, jira: JiraAppSession | None = None
    ) -> PermitSession:
        """Launch ``task`` with Jira context titled ``marker`` (vscode-link ``jiraContext``),
        exchange the code and return the permit: the IDE's first-party launch."""
        context = {"title": marker, "descriptionMd": marker, "attachments": [], "images": []}
        link = self.mint_launch_code(task, jira, jiraContext=context)
        response = self.exchange(link.code, task)
        body = assert_success(response, "LC-EXCHANGE", what="exchanging a fresh launch code")
        permit = body.get("permit") if isinstance(body, dict) else None
        if not isinstance(permit, str) or not permit:
            fail("LC-EXCHANGE", "launch-exchange answered 2xx without a permit", [response])
        return PermitSession(self.http, permit, task, expires_at=body.get("expiresAt"))

    # -- Jira-App routes and request keys (request-key and Forge-token suites) ---------------
    def jira_call(self, route: str, jira: JiraAppSession | None = None) -> JiraCall:
        """A valid minimal request to ``route`` (one of JIRA_APP_ROUTES) on a fresh task.

        Build it before taking the key it will carry: the progress route first stores a progress
        document through a permit minted by ``jira`` (so a valid read answers 2xx), and minting
        moves ``jira``'s key chain.
        """
        task = self.new_task()
        method, _, path = route.partition(" ")
        ids = {"projectId": task.project_id, "taskId": task.task_id}
        if route == "GET /v1/tasks/{taskId}/progress":
            permit = self.mint_permit(task, jira)
            stored = self.write_progress(permit)
            assert_success(stored, "PROGRESS-ROUNDTRIP", what="storing progress to read Jira-side")
            path = f"/v1/tasks/{task.task_id}/progress"
            return JiraCall(route, method, path, params={"projectId": task.project_id}, task=task)
        if route in ("POST /v1/security/vscode-link", "POST /v1/security/task-permit"):
            return JiraCall(route, method, path, json=ids, task=task)
        if route == "POST /v1/jira/instance-metrics":
            body = {"installedUsersCount": 17, "source": "forge-hourly-sync"}
            return JiraCall(route, method, path, json=body)
        if route == "GET /v1/jira/team-competition":
            return JiraCall(route, method, path, params={"projectId": task.project_id})
        if route not in JIRA_APP_ROUTES:
            raise ValueError(f"not a Jira-App route: {route!r}")
        return JiraCall(route, method, path)

    @staticmethod
    def own_key(jira: JiraAppSession) -> str:
        """A freshly bootstrapped key that the test owns (``jira``'s chain forgets it)."""
        jira.fresh_key()
        return jira.take_key()

    def bootstrap_response(self, forge_token: str | None) -> httpx.Response:
        """``POST /v1/jira/request-key`` with this bearer (None: no Authorization at all)."""
        headers = {"Authorization": f"Bearer {forge_token}"} if forge_token is not None else {}
        response = self.http.post("/v1/jira/request-key", json={}, headers=headers)
        self._register(response)
        return response

    @staticmethod
    def key_probe(jira: JiraAppSession, key: str) -> httpx.Response:
        """Use ``key`` with ``jira``'s valid Forge token on ``GET /v1/instances/me``."""
        return jira.send_with_key(key, "GET", "/v1/instances/me")

    def assert_no_usable_next_key(
        self,
        jira: JiraAppSession,
        rejection: httpx.Response,
        invariant: str = "RK-NO-NEXT-ON-REJECT",
        *,
        what: str = "the request",
    ) -> None:
        """A rejection may carry a next-key header, but that key must not work for ``jira``."""
        from seecodes_conformance.http import NEXT_KEY_HEADER

        next_key = rejection.headers.get(NEXT_KEY_HEADER)
        if not next_key:
            return
        REGISTRY.add(next_key, "request-key")
        probe = self.key_probe(jira, next_key)
        if probe.is_success:
            fail(
                invariant,
                f"{what} was rejected, yet the {NEXT_KEY_HEADER} it carried works as a request key",
                [rejection, probe],
            )

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
