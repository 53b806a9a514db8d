"""Short lifetimes make expiry testable in seconds: keys, launch codes and permits expire."""

from __future__ import annotations

import time

import httpx
from engine_helpers import Jira, bearer, new_pair, start_engine


def test_everything_expires() -> None:
    ttls = ("--request-key-ttl", "1", "--launch-code-ttl", "1", "--permit-ttl", "1.5")
    with start_engine(extra_args=ttls) as engine, httpx.Client(base_url=engine.base_url) as http:
        jira = Jira(http)
        project, task = new_pair()
        permit = jira.permit(project, task)
        code = jira.launch_code(project, task)["launchCode"]
        stale_key = jira.key
        assert http.get("/v1/tasks/context", headers=bearer(permit)).status_code != 401
        time.sleep(1.6)
        expired_key = http.get(
            "/v1/instances/me",
            headers={**bearer(_forge()), "X-SeeCodes-Jira-Request-Key": str(stale_key)},
        )
        assert expired_key.status_code == 410
        expired_code = http.post(
            "/v1/security/launch-exchange",
            json={"code": code, "projectId": project, "taskId": task},
        )
        assert expired_code.status_code == 410
        assert http.get("/v1/tasks/context", headers=bearer(permit)).status_code == 410


def test_short_key_lifetime_variant() -> None:
    with (
        start_engine(variants=["short-key-lifetime"]) as engine,
        httpx.Client(base_url=engine.base_url) as http,
    ):
        started = time.time()
        jira = Jira(http)
        jira.bootstrap()
        response = http.post("/v1/jira/request-key", headers=bearer(_forge()), json={}).json()
        assert 1 <= response["expiresAt"] - started <= 4


def _forge() -> str:
    from engine_helpers import forge_token

    return forge_token()
