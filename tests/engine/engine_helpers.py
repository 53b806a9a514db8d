"""Helpers for the reference engine's own tests: the harness's public clients, and engines.

Sessions, header names, Forge tokens and ids come from the harness (`seecodes_conformance.http`,
`.credentials`, `.ids`), so these tests talk to the engine exactly as the suites do. What stays
here is specific to testing the engine: starting one with a fast run step, and the check every
Jira-App call of these tests makes on the key hand-out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx

from seecodes_conformance.credentials import Principal, TestIssuer
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import NEXT_KEY_HEADER, JiraAppSession, PermitSession
from seecodes_conformance.ids import IdFactory, TaskRef, new_run_prefix

RUN_PREFIX = new_run_prefix()
# One issuer per process; it parses its key once, so tokens are cheap enough to sign per call.
ISSUER = TestIssuer(run_id=RUN_PREFIX)
# Fresh project/task ids per test, distinct across xdist workers, so tests never share state.
IDS = IdFactory(RUN_PREFIX, os.environ.get("PYTEST_XDIST_WORKER", ""))
USER_ACCOUNT = "557058:test"


def forge_token(tenant: str = "a", name: str = "p1") -> str:
    """A valid Forge-shaped token for principal `name` of tenant `tenant`."""
    return ISSUER.token(Principal(tenant, name))


def installation_id(tenant: str = "a") -> str:
    return ISSUER.identity(Principal(tenant)).installation_id


def jira_session(
    http: httpx.Client, tenant: str = "a", name: str = "p1", *, max_key_age: float | None = None
) -> JiraAppSession:
    """The harness's Jira-App session for one principal, signing a fresh token per call.

    `max_key_age` re-bootstraps keys older than that, for engines started with keys that live
    about a second (their `expiresAt`, in whole seconds, cannot say so precisely).
    """
    who = Principal(tenant, name)
    return JiraAppSession(http, lambda: ISSUER.token(who), who, max_key_age=max_key_age)


def call(jira: JiraAppSession, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One Jira-App call that also checks the hand-out: a next key on success, none otherwise."""
    response = jira.request(method, path, **kwargs)
    next_key = response.headers.get(NEXT_KEY_HEADER)
    if response.is_success:
        assert next_key, f"{method} {path} succeeded without a next request key"
    else:
        assert next_key is None, f"{method} {path} was rejected but handed out a next key"
    return response


def mint_permit(jira: JiraAppSession, task: TaskRef) -> PermitSession:
    """`POST /v1/security/task-permit`; the permit as the harness's permit session."""
    response = call(
        jira,
        "POST",
        "/v1/security/task-permit",
        json={"projectId": task.project_id, "taskId": task.task_id, "userAccountId": USER_ACCOUNT},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return PermitSession(jira.http, str(body["permit"]), task, expires_at=body.get("expiresAt"))


def launch_code(jira: JiraAppSession, task: TaskRef, **extra: Any) -> dict[str, Any]:
    """`POST /v1/security/vscode-link`; the whole answer (launchCode, URLs, expiresAt)."""
    response = call(
        jira,
        "POST",
        "/v1/security/vscode-link",
        json={
            "projectId": task.project_id,
            "taskId": task.task_id,
            "userAccountId": USER_ACCOUNT,
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rejected(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_engine(
    *,
    faults: Sequence[str] = (),
    variants: Sequence[str] = (),
    workers: int = 1,
    database: str | None = None,
    extra_args: Sequence[str] = (),
) -> EngineProcess:
    """Not started yet: use as a context manager."""
    return EngineProcess(
        faults=faults,
        variants=variants,
        workers=workers,
        database=database,
        extra_args=("--run-step", "0.05", *extra_args),
    )
