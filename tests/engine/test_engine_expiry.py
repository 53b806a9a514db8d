"""Short lifetimes make expiry testable in seconds: keys, launch codes and permits expire."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from pathlib import Path

from engine_helpers import (
    IDS,
    bearer,
    forge_token,
    jira_session,
    launch_code,
    mint_permit,
    start_engine,
)

from seecodes_conformance.http import REQUEST_KEY_HEADER, new_http_client

TTL = 1.0


def wait_until_older_than(moment: float, age: float) -> None:
    time.sleep(max(0.0, moment + age - time.monotonic()))


def test_everything_expires() -> None:
    ttls = ("--request-key-ttl", str(TTL), "--launch-code-ttl", str(TTL), "--permit-ttl", str(TTL))
    with start_engine(extra_args=ttls) as engine, new_http_client(engine.base_url) as http:
        jira = jira_session(http, max_key_age=TTL / 4)
        task = IDS.task()
        permit = mint_permit(jira, task)
        code = launch_code(jira, task)["launchCode"]
        minted = time.monotonic()  # every credential above is at most this old...
        stale_key = str(jira.current_key)
        fresh = permit.get("/v1/tasks/context")
        if time.monotonic() - minted < TTL / 2:  # ...and still valid, unless the box stalled
            assert fresh.status_code == 404, fresh.text
        wait_until_older_than(minted, TTL + 0.5)
        expired_key = http.get(
            "/v1/instances/me", headers={**bearer(forge_token()), REQUEST_KEY_HEADER: stale_key}
        )
        assert expired_key.status_code == 410, expired_key.text
        expired_code = http.post(
            "/v1/security/launch-exchange",
            json={"code": code, "projectId": task.project_id, "taskId": task.task_id},
        )
        assert expired_code.status_code == 410, expired_code.text
        expired_permit = permit.get("/v1/tasks/context")
        assert expired_permit.status_code == 410, expired_permit.text


def test_short_key_lifetime_variant() -> None:
    with (
        start_engine(variants=["short-key-lifetime"]) as engine,
        new_http_client(engine.base_url) as http,
    ):
        started = time.time()
        key = http.post("/v1/jira/request-key", headers=bearer(forge_token()), json={}).json()
        assert 1 <= key["expiresAt"] - started <= 4


def test_production_lifetimes_variant_ignores_the_ttl_options() -> None:
    """Under production-lifetimes the short TTL options the harness passes change nothing."""
    ttls = ("--request-key-ttl", str(TTL), "--launch-code-ttl", str(TTL), "--permit-ttl", str(TTL))
    with (
        start_engine(variants=["production-lifetimes"], extra_args=ttls) as engine,
        new_http_client(engine.base_url) as http,
    ):
        jira = jira_session(http)
        task = IDS.task()
        started = time.time()
        key = http.post("/v1/jira/request-key", headers=bearer(forge_token()), json={}).json()
        assert abs(key["expiresAt"] - (started + 300)) < 60
        for days in (2, 30):
            code = launch_code(jira, task, expirationDays=days)
            assert abs(code["expiresAt"] - (started + min(days, 14) * 86400)) < 60
        permit = mint_permit(jira, task)
        assert permit.expires_at is not None
        assert abs(permit.expires_at - (started + 86400)) < 60


LATER = 15 * 86400.0  # past a 24 h permit and a 14-day launch code


def test_a_clock_offset_plays_the_same_engine_later(tmp_path: Path) -> None:
    """A second engine on the same database with --clock-offset: what the first minted has
    expired by its clock (and its Date header says so); under permit-lifetime-expiry an
    expired permit still opens its routes."""
    database = str(tmp_path / "engine.sqlite3")
    production = ["production-lifetimes"]
    with (
        start_engine(variants=production, database=database) as engine,
        new_http_client(engine.base_url) as http,
    ):
        jira = jira_session(http)
        task = IDS.task()
        permit = mint_permit(jira, task)
        code = launch_code(jira, task, expirationDays=14)["launchCode"]
    offset = ("--clock-offset", str(LATER))
    with (
        start_engine(variants=production, database=database, extra_args=offset) as later,
        new_http_client(later.base_url) as http,
    ):
        answer = http.get("/healthz")
        served = parsedate_to_datetime(answer.headers["date"]).timestamp()
        assert abs(served - (time.time() + LATER)) < 60, answer.headers["date"]
        assert len(answer.headers.get_list("date")) == 1
        expired_permit = http.get("/v1/tasks/context", headers=bearer(permit.permit))
        assert expired_permit.status_code == 410, expired_permit.text
        expired_code = http.post(
            "/v1/security/launch-exchange",
            json={"code": code, "projectId": task.project_id, "taskId": task.task_id},
        )
        assert expired_code.status_code == 410, expired_code.text
        fresh = mint_permit(jira_session(http), IDS.task())  # minted and checked by one clock
        assert fresh.get("/v1/tasks/context").status_code == 404
    with (
        start_engine(
            faults=["permit-lifetime-expiry"], variants=production, database=database,
            extra_args=offset,
        ) as faulty,
        new_http_client(faulty.base_url) as http,
    ):  # fmt: skip
        accepted = http.get("/v1/tasks/context", headers=bearer(permit.permit))
        assert accepted.status_code == 404, accepted.text  # "Context not found": it opened
