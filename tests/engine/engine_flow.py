"""A black-box client that walks all 24 documented route-method combinations.

It is written against the protocol only, so it passes under every legal variant: any 4xx counts
as a rejection, error bodies may be `{detail}` (an RFC 9457 problem document is one) or `{ok:
false, error}`, the disabled telemetry route may answer 501, numbers need not be integers,
credentials are opaque strings, unknown response fields are ignored and header names are
compared case-insensitively.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from engine_helpers import (
    IDS,
    USER_ACCOUNT,
    bearer,
    call,
    installation_id,
    jira_session,
    launch_code,
    rejected,
)

from seecodes_conformance.flows import RUN_STATUSES, SAMPLE_PROGRESS, SAMPLE_SNAPSHOT
from seecodes_conformance.http import NEXT_KEY_HEADER, JiraAppSession, PermitSession
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.resources import contract_dir

DAY = 86400
ROUTES: dict[str, re.Pattern[str]] = {
    "GET /healthz": re.compile(r"^/healthz$"),
    "GET /openapi.json": re.compile(r"^/openapi\.json$"),
    "POST /v1/jira/request-key": re.compile(r"^/v1/jira/request-key$"),
    "GET /v1/instances/me": re.compile(r"^/v1/instances/me$"),
    "POST /v1/security/vscode-link": re.compile(r"^/v1/security/vscode-link$"),
    "POST /v1/security/task-permit": re.compile(r"^/v1/security/task-permit$"),
    "POST /v1/security/launch-exchange": re.compile(r"^/v1/security/launch-exchange$"),
    "GET /v1/tasks/context": re.compile(r"^/v1/tasks/context$"),
    "GET /v1/launch": re.compile(r"^/v1/launch$"),
    "POST /v1/tasks/{taskId}/progress": re.compile(r"^/v1/tasks/[^/]+/progress$"),
    "GET /v1/tasks/{taskId}/progress": re.compile(r"^/v1/tasks/[^/]+/progress$"),
    "POST /v1/tasks/init": re.compile(r"^/v1/tasks/init$"),
    "POST /v1/tasks/{runId}/start": re.compile(r"^/v1/tasks/[^/]+/start$"),
    "GET /v1/tasks/{runId}": re.compile(r"^/v1/tasks/(?!context$)[^/]+$"),
    "GET /v1/tasks/{runId}/output": re.compile(r"^/v1/tasks/[^/]+/output$"),
    "GET /v1/tasks/{runId}/logs": re.compile(r"^/v1/tasks/[^/]+/logs$"),
    "POST /v1/tasks/activity-snapshot": re.compile(r"^/v1/tasks/activity-snapshot$"),
    "GET /v1/jira/usage": re.compile(r"^/v1/jira/usage$"),
    "POST /v1/jira/instance-metrics": re.compile(r"^/v1/jira/instance-metrics$"),
    "POST /v1/jira/telemetry/events": re.compile(r"^/v1/jira/telemetry/events$"),
    "GET /v1/jira/team-competition": re.compile(r"^/v1/jira/team-competition$"),
    "GET /v1/models": re.compile(r"^/v1/models$"),
    "POST /v1/projects/{projectId}/indexes/query": re.compile(
        r"^/v1/projects/[^/]+/indexes/query$"
    ),
    "POST /v1/projects/{projectId}/indexes/upsert": re.compile(
        r"^/v1/projects/[^/]+/indexes/upsert$"
    ),
}
# The first-party sample bodies and run statuses live in one place: the harness's scenarios.
SNAPSHOT = SAMPLE_SNAPSHOT
PROGRESS = SAMPLE_PROGRESS
STATUSES = RUN_STATUSES


class RouteRecorder:
    """httpx event hook noting which documented combinations a client touched."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, request: httpx.Request) -> None:
        for route, pattern in ROUTES.items():
            method, _ = route.split(" ", 1)
            if request.method == method and pattern.match(request.url.path):
                self.seen.add(route)


def error_message(response: httpx.Response) -> str:
    """The message of a rejection in either legal body shape."""
    body = response.json()
    assert isinstance(body, dict), response.text
    if "detail" in body:
        return str(body["detail"])
    assert body.get("ok") is False and isinstance(body.get("error"), str), response.text
    return str(body["error"])


def assert_rejected(response: httpx.Response, *secrets: str) -> None:
    assert rejected(response), f"{response.request.method} {response.request.url.path}: " + (
        f"{response.status_code} {response.text[:300]}"
    )
    assert response.headers.get(NEXT_KEY_HEADER) is None
    for secret in secrets:
        assert secret not in response.text
    error_message(response)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code} {response.text[:300]}"
    )
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is True, body
    return dict(body)


def exercise(http: httpx.Client) -> set[str]:
    """Walks the protocol; returns the documented combinations it exercised."""
    recorder = RouteRecorder()
    http.event_hooks["request"].append(recorder)
    _system(http)
    jira = jira_session(http, max_key_age=1.5)
    jira.fresh_key()
    credits = _instances(jira)
    task = IDS.task()
    permit = _launch(http, jira, task)
    _permits(http, jira, task, permit)
    _progress(jira, task, permit)
    debited = _run(permit)
    _analytics(http, jira, permit, credits - debited)
    _indexes(permit)
    http.event_hooks["request"].remove(recorder)
    return recorder.seen


def _system(http: httpx.Client) -> None:
    ok(http.get("/healthz"))
    doc = http.get("/openapi.json")
    assert doc.status_code == 200
    published = json.loads((contract_dir() / "openapi.json").read_bytes())
    # The same paths and methods; their schemas and statuses are the document's own (FastAPI-style
    # documents list only 200 and 422).
    assert {p: set(i) for p, i in doc.json()["paths"].items()} == {
        p: set(i) for p, i in published["paths"].items()
    }
    docs = http.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "Swagger UI" in docs.text and "/openapi.json" in docs.text
    models = ok(http.get("/v1/models"))["models"]
    assert models, "empty model catalog"
    for model in models:
        assert {"id", "name", "maxContext", "description", "pricing"} <= model.keys()
        assert isinstance(model["pricing"]["base"], int | float)
        assert isinstance(model["pricing"]["per_token"], int | float)


def _instances(jira: JiraAppSession) -> float:
    used = jira.current_key
    assert used is not None
    me = ok(call(jira, "GET", "/v1/instances/me", params={"cloudIdHint": "x"}))
    assert me["installationId"] == installation_id("a")
    assert me["cloudId"] == installation_id("a")
    assert me["status"] == "active" and me["credits"] > 0
    assert isinstance(me["credits"], int | float)
    for name in ("apiKeyPrefix", "updatedAt", "capabilitySet", "licenseActive", "siteUrl"):
        assert name in me
    # The consumed key is dead and a replay hands out no key.
    assert_rejected(jira.send_with_key(used, "GET", "/v1/instances/me"))
    # Without a key, or without a Forge token: rejected. Whether the rejection used up the key
    # it carried is the engine's choice, so the session gives that key up and bootstraps anew.
    assert_rejected(jira.send_with_key(None, "GET", "/v1/instances/me"))
    current = jira.take_key()
    assert_rejected(jira.send_with_key(current, "GET", "/v1/instances/me", forge_token=None))
    return float(me["credits"])


def _launch(http: httpx.Client, jira: JiraAppSession, task: TaskRef) -> PermitSession:
    project, task_id = task.project_id, task.task_id
    minted_at = time.time()
    link = launch_code(
        jira,
        task,
        expirationDays=30,
        jiraContext={"title": "Implement auth flow", "descriptionMd": "...", "attachments": []},
        initialTaiDoc={"version": 1, "task": {"id": task_id}},
    )
    code = link["launchCode"]
    assert link["expiresAt"] <= minted_at + 14 * DAY + 5
    vscode = urlsplit(link["vscodeUrl"])
    assert vscode.scheme == "vscode"
    # The pair in the URI is the engine's choice (vscode-code-only leaves it to the exchange).
    assert f"/project/{project}/task/{task_id}" in vscode.path or vscode.path == "/launch"
    assert parse_qs(vscode.query) == {"code": [code]}
    https = urlsplit(link["httpsUrl"])
    assert https.scheme in ("http", "https") and https.path.endswith("/v1/launch")
    assert parse_qs(https.query) == {"p": [project], "t": [task_id], "c": [code]}

    page = http.get("/v1/launch", params={"p": project, "t": task_id, "c": code})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "vscode://" in page.text and code in page.text
    hostile = http.get("/v1/launch", params={"p": project, "t": '<script>"x"</script>', "c": code})
    assert hostile.status_code == 200 and "<script>" not in hostile.text
    assert_rejected(http.get("/v1/launch", params={"p": project, "t": task_id}))

    wrong = http.post(
        "/v1/security/launch-exchange",
        json={"code": code, "projectId": project, "taskId": task_id.lower()},
    )
    assert_rejected(wrong, code)
    # A mismatched exchange may burn the code (a legal choice): mint a fresh one to go on.
    code = launch_code(jira, task)["launchCode"]
    exchanged = ok(
        http.post(
            "/v1/security/launch-exchange",
            json={"code": code, "projectId": project, "taskId": task_id},
        )
    )
    assert (exchanged["projectId"], exchanged["taskId"]) == (project, task_id)
    assert abs(exchanged["expiresAt"] - (time.time() + DAY)) < 120
    assert exchanged["permit"] != code
    replay = http.post(
        "/v1/security/launch-exchange",
        json={"code": code, "projectId": project, "taskId": task_id},
    )
    assert_rejected(replay, exchanged["permit"])
    # The code is no permit, and the exchanged permit reads the stored context.
    assert_rejected(http.get("/v1/tasks/context", headers=bearer(code)))
    permit = PermitSession(http, exchanged["permit"], task, expires_at=exchanged["expiresAt"])
    context = ok(permit.get("/v1/tasks/context"))
    assert context["context"]["title"] == "Implement auth flow"
    # The initial editor payload is optional: absent, or the one the link carried.
    initial = context.get("initialTai", "absent")
    assert initial in ("absent", {"version": 1, "task": {"id": task_id}})
    return permit


def _permits(
    http: httpx.Client, jira: JiraAppSession, task: TaskRef, permit: PermitSession
) -> None:
    other_task = IDS.task(task.project_id, 99999)
    response = call(
        jira,
        "POST",
        "/v1/security/task-permit",
        json={
            "projectId": other_task.project_id,
            "taskId": other_task.task_id,
            "userAccountId": USER_ACCOUNT,
        },
    )
    minted = ok(response)
    assert (minted["projectId"], minted["taskId"]) == (other_task.project_id, other_task.task_id)
    assert minted["cloudId"] == installation_id("a")
    assert abs(minted["expiresAt"] - (time.time() + DAY)) < 120
    other = PermitSession(http, minted["permit"], other_task, expires_at=minted["expiresAt"])
    # No context was stored for the direct permit's pair.
    missing = other.get("/v1/tasks/context")
    assert missing.status_code == 200 or rejected(missing)
    assert missing.json()["ok"] is False and missing.json()["error"] == "Context not found"
    # Permits are not Forge tokens, Forge tokens are not permits, garbage is nothing.
    assert_rejected(
        jira.send_with_key(jira.take_key(), "GET", "/v1/instances/me", forge_token=permit.permit)
    )
    assert_rejected(http.get("/v1/tasks/context", headers=bearer(jira.forge_token())))
    assert_rejected(http.get("/v1/tasks/context", headers=bearer(permit.permit[:-2] + "xy")))
    assert_rejected(http.get("/v1/tasks/context"))
    # Binding: the other pair's permit cannot write this task's progress.
    assert_rejected(other.post(f"/v1/tasks/{task.task_id}/progress", json=PROGRESS))


def _progress(jira: JiraAppSession, task: TaskRef, permit: PermitSession) -> None:
    progress_path = f"/v1/tasks/{task.task_id}/progress"
    assert ok(permit.post(progress_path, json=PROGRESS))
    read = ok(permit.get(progress_path, params={"projectId": task.project_id}))
    assert {k: read["progress"][k] for k in PROGRESS} == PROGRESS
    assert_rejected(permit.get(progress_path, params={"projectId": "OTHER"}))
    via_jira = ok(call(jira, "GET", progress_path, params={"projectId": task.project_id}))
    assert {k: via_jira["progress"][k] for k in PROGRESS} == PROGRESS


def _run(permit: PermitSession) -> float:
    init = ok(
        permit.post(
            "/v1/tasks/init",
            json={"model": "strict light", "projectId": "ELSE", "taskId": "ELSE-1"},
        )
    )
    run_id = init["runId"]
    assert list(init["uploads"]) == ["list.md"]
    early = permit.post(f"/v1/tasks/{run_id}/start", json={})
    assert_rejected(early)
    listing = b"# Tasks\n\n- Summarise the change log\n- Draft release notes\n"
    put = httpx.put(init["uploads"]["list.md"], content=listing)
    assert put.status_code in (200, 201, 204), put.text
    forged = init["uploads"]["list.md"].replace("sig=", "sig=0")
    assert rejected(httpx.put(forged, content=b"x"))
    started = ok(
        permit.post(
            f"/v1/tasks/{run_id}/start",
            json={"model": "strict light", "userPrompt": "generate change log"},
        )
    )
    assert started["status"] == "queued" and started["runId"] == run_id
    assert isinstance(started["estimatedInputTokens"], int | float)
    assert isinstance(started["estimatedCredits"], int | float)
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = ok(permit.get(f"/v1/tasks/{run_id}"))["status"]
        assert status["status"] in STATUSES
        seen.append(status["status"])
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.02)
    assert seen[-1] == "succeeded", seen
    ranks = [STATUSES.index(s) for s in seen]
    assert ranks == sorted(ranks), f"status moved backwards: {seen}"
    output = permit.get(f"/v1/tasks/{run_id}/output")
    assert output.status_code == 200 and output.headers["content-type"].startswith("text/plain")
    assert "Summarise the change log" in output.text and "generate change log" in output.text
    logs = permit.get(f"/v1/tasks/{run_id}/logs")
    assert logs.status_code == 200 and logs.headers["content-type"].startswith("text/plain")
    assert "succeeded" in logs.text
    return float(started["estimatedCredits"])


def _analytics(
    http: httpx.Client, jira: JiraAppSession, permit: PermitSession, credits: float
) -> None:
    task = permit.task
    snapshot = ok(permit.post("/v1/tasks/activity-snapshot", json=SNAPSHOT))
    assert snapshot["stored"] is True and isinstance(snapshot["effortUnits"], int | float)
    assert_rejected(
        permit.post(
            "/v1/tasks/activity-snapshot",
            json={**SNAPSHOT, "taskId": f"{task.project_id}-77777"},
        )
    )
    in_project = {"projectId": task.project_id}
    board = ok(call(jira, "GET", "/v1/jira/team-competition", params=in_project))
    for part in ("items", "taskSummaries", "monthBaseline", "formula", "sourceSummary"):
        assert part in board
    assert [item["taskId"] for item in board["items"]] == [task.task_id]
    assert board["formula"]["weights"]["activeMinute"] == 1.8
    usage = ok(call(jira, "GET", "/v1/jira/usage"))
    me = ok(call(jira, "GET", "/v1/instances/me"))
    assert usage["availableCredits"] == me["credits"]
    assert abs(me["credits"] - credits) < 1e-6
    assert any(
        item["taskId"] == task.task_id and item["type"] == "task_run" for item in usage["items"]
    )
    ok(
        call(
            jira,
            "POST",
            "/v1/jira/instance-metrics",
            json={"installedUsersCount": 17, "source": "forge-hourly-sync"},
        )
    )
    telemetry = http.post(
        "/v1/jira/telemetry/events",
        json={"events": [{"eventType": "ai.usage", "cloudId": "c", "requestId": "r",
                          "timestamp": "2026-04-04T12:34:56Z"}]},
    )  # fmt: skip
    assert rejected(telemetry) or telemetry.status_code == 501
    assert "telemetry ingestion is disabled" in json.dumps(telemetry.json())
    assert "detail" in telemetry.json()


def _indexes(permit: PermitSession) -> None:
    project = permit.task.project_id
    digest = hashlib.sha256(project.encode()).hexdigest()
    entry = {
        "hash": digest,
        "updatedAt": 1710000000000,
        "short": "Authentication helper",
        "detailed": "Longer explainer...",
        "important_symbols": ["AuthGuard"],
    }
    upsert = ok(
        permit.post(
            f"/v1/projects/{project}/indexes/upsert",
            json={"entries": {"src/auth.ts": entry, "src/old.ts": {**entry, "hash": "0" * 64}}},
        )
    )
    assert upsert["upserted"] == 2 and upsert["totalFiles"] == 2
    query = ok(
        permit.post(
            f"/v1/projects/{project}/indexes/query",
            json={"items": [{"path": "src/auth.ts", "hash": digest},
                            {"path": "src/moved.ts", "hash": digest},
                            {"path": "src/new.ts", "hash": "f" * 64}]},
        )
    )  # fmt: skip
    matches = query["matches"]
    assert matches["src/auth.ts"]["pathMatched"] is True
    assert matches["src/auth.ts"]["entry"]["short"] == "Authentication helper"
    assert matches["src/moved.ts"]["pathMatched"] is False
    assert matches["src/moved.ts"]["hashMatchedPath"] == "src/auth.ts"
    assert "src/new.ts" not in matches or matches["src/new.ts"]["entry"] is None
    deleted = ok(
        permit.post(
            f"/v1/projects/{project}/indexes/upsert",
            json={"entries": {}, "deletePaths": ["src/old.ts"]},
        )
    )
    assert deleted["deleted"] == 1 and deleted["totalFiles"] == 1
    assert_rejected(permit.post("/v1/projects/OTHERPROJ/indexes/query", json={"items": []}))
