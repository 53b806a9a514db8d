"""Bad input never produces a 5xx: every anticipated mistake or attack gets a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import IDS, ISSUER, bearer, call, forge_token, jira_session, mint_permit

from seecodes_conformance.credentials import NegativeToken, Principal
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import (
    REQUEST_KEY_HEADER,
    JiraAppSession,
    PermitSession,
    new_http_client,
)

MALFORMED: list[bytes] = [
    b"{bad",
    b"[]",
    b'"text"',
    b"null",
    b"\xff\xfe\x00garbage",
    b'{"projectId": "\\ud800"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"installedUsersCount": 1e400}',
    b'{"installedUsersCount": ' + b"9" * 5000 + b"}",
    b'{"a": NaN}',
]
HOSTILE = ["", "x" * 10000, "A\x00B", "A\nB", "<script>", "\u202eevil", "../../etc/passwd",
           12, None, ["A"], {"a": 1}, True]  # fmt: skip


@pytest.fixture(scope="module")
def world(engine: EngineProcess) -> Iterator[dict[str, Any]]:
    with new_http_client(engine.base_url) as http:
        jira = jira_session(http)
        task = IDS.task()
        permit = mint_permit(jira, task)
        run = permit.post("/v1/tasks/init", json={}).json()
        yield {"project": task.project_id, "task": task.task_id, "permit": permit,
               "run": run["runId"], "jira": jira}  # fmt: skip


def jira_headers(world: dict[str, Any]) -> dict[str, str]:
    jira: JiraAppSession = world["jira"]
    return {
        "Authorization": f"Bearer {jira.forge_token()}",
        REQUEST_KEY_HEADER: str(jira.current_key),
    }


def permit_headers(world: dict[str, Any]) -> dict[str, str]:
    permit: PermitSession = world["permit"]
    return permit.headers()


def post_routes(world: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    p, t, r = world["project"], world["task"], world["run"]
    return [
        ("/v1/security/vscode-link", jira_headers(world)),
        ("/v1/security/task-permit", jira_headers(world)),
        ("/v1/jira/instance-metrics", jira_headers(world)),
        ("/v1/security/launch-exchange", {}),
        (f"/v1/tasks/{t}/progress", permit_headers(world)),
        ("/v1/tasks/init", permit_headers(world)),
        (f"/v1/tasks/{r}/start", permit_headers(world)),
        ("/v1/tasks/activity-snapshot", permit_headers(world)),
        (f"/v1/projects/{p}/indexes/query", permit_headers(world)),
        (f"/v1/projects/{p}/indexes/upsert", permit_headers(world)),
    ]


def assert_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (
        f"{response.request.method} {response.request.url.path}: "
        f"{response.status_code} {response.text[:200]}"
    )


def test_malformed_bodies(http: httpx.Client, world: dict[str, Any]) -> None:
    for path, headers in post_routes(world):
        for body in MALFORMED:
            response = http.post(path, headers={**headers, "Content-Type": "application/json"},
                                 content=body)  # fmt: skip
            assert_4xx(response)
    # None of that consumed the Jira key: the session carries on.
    assert call(world["jira"], "GET", "/v1/instances/me").status_code == 200


def valid_bodies(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A valid body per POST route, so the one hostile field is what the engine judges."""
    p, t = world["project"], world["task"]
    return {
        "/v1/security/vscode-link": {"projectId": p, "taskId": t, "expirationDays": 3,
                                     "userAccountId": "u", "jiraContext": {}},
        "/v1/security/task-permit": {"projectId": p, "taskId": t, "cloudIdHint": "c"},
        "/v1/jira/instance-metrics": {"installedUsersCount": 1, "source": "s"},
        "/v1/security/launch-exchange": {"code": "nope", "projectId": p, "taskId": t},
        f"/v1/tasks/{t}/progress": {"ready": [], "progress": "1%", "risks": []},
        "/v1/tasks/init": {"model": "strict light", "files": ["list.md"], "projectId": p},
        f"/v1/tasks/{world['run']}/start": {"model": "strict light", "userPrompt": "x"},
        "/v1/tasks/activity-snapshot": {"humanActiveMs": 1, "windowStartedAt":
                                        "2026-04-04T10:00:00Z", "changedFiles": [],
                                        "logicChange": True, "taskId": t},
        f"/v1/projects/{p}/indexes/query": {"items": []},
        f"/v1/projects/{p}/indexes/upsert": {"entries": {}, "deletePaths": []},
    }  # fmt: skip


def test_wrong_types_and_hostile_strings(http: httpx.Client, world: dict[str, Any]) -> None:
    bodies = valid_bodies(world)
    for path, headers in post_routes(world):
        for name in bodies[path]:
            for value in HOSTILE:
                if REQUEST_KEY_HEADER in headers:
                    headers = jira_headers(world)
                response = http.post(path, headers=headers, json={**bodies[path], name: value})
                assert response.status_code < 500, (path, name, value, response.text[:200])
                if REQUEST_KEY_HEADER in headers:
                    world["jira"].adopt_next_key(response)


def test_oversized_body(http: httpx.Client, world: dict[str, Any]) -> None:
    for path, headers in post_routes(world)[:4]:
        response = http.post(path, headers=headers, content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
        assert response.status_code == 413


def test_unknown_ids_and_routes(http: httpx.Client, world: dict[str, Any]) -> None:
    headers = permit_headers(world)
    for run_id in ("run_doesnotexist", "x" * 5000, "%00", "..%2F..%2Fetc", "run_ü"):
        for suffix in ("", "/output", "/logs"):
            assert_4xx(http.get(f"/v1/tasks/{run_id}{suffix}", headers=headers))
        assert_4xx(http.post(f"/v1/tasks/{run_id}/start", headers=headers, json={}))
    assert_4xx(http.get("/v1/nothing-here"))
    assert http.delete("/healthz").status_code == 405
    assert_4xx(http.put(f"/_uploads/{world['run']}/list.md?expires=1&sig=0", content=b"x"))
    assert_4xx(http.put(f"/_uploads/{world['run']}/list.md?expires=abc", content=b"x"))


def test_hostile_query_parameters(http: httpx.Client, world: dict[str, Any]) -> None:
    for params in ({"p": "x" * 5000, "t": "T-1", "c": "c"}, {"p": "A\x00", "t": "T-1", "c": "c"},
                   {"p": "A", "t": "T", "c": "c", "baseUrl": "x" * 10000}, {}):  # fmt: skip
        assert_4xx(http.get("/v1/launch", params=params))
    task = world["task"]
    assert_4xx(http.get(f"/v1/tasks/{task}/progress", headers=permit_headers(world)))
    for params in ({"startDate": "yesterday"}, {"endDate": "2026-13-45"}, {"projectId": "x" * 500}):
        response = http.get("/v1/jira/team-competition", headers=jira_headers(world), params=params)
        assert_4xx(response)


def test_garbage_credentials(http: httpx.Client, world: dict[str, Any]) -> None:
    garbage = ["=", "x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "Bearer", "\u00e9" * 10, "x" * 20000]
    for value in garbage:
        auth = {b"Authorization": f"Bearer {value}".encode()}
        assert_4xx(http.get("/v1/tasks/context", headers=auth))
        assert_4xx(http.post("/v1/jira/request-key", headers=auth))
        keyed = {b"Authorization": f"Bearer {forge_token()}".encode(),
                 REQUEST_KEY_HEADER.encode(): value.encode()}  # fmt: skip
        assert_4xx(http.get("/v1/instances/me", headers=keyed))
    assert_4xx(http.post("/v1/jira/request-key", headers={"Authorization": "Basic Zm9vOmJhcg=="}))
    expired = ISSUER.negative(Principal("a"), NegativeToken.EXPIRED)
    assert_4xx(http.post("/v1/jira/request-key", headers=bearer(expired)))
