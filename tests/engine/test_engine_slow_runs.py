"""Variant slow-runs: a run settles only after --slow-run-settle seconds, its non-terminal
statuses meanwhile in another order than the default and repeating; the settled one is final."""

from __future__ import annotations

import time

import httpx
from engine_helpers import IDS, jira_session, mint_permit, start_engine

from seecodes_conformance.http import PermitSession, new_http_client

SETTLE_S = 4.0
NON_TERMINAL = ("queued", "in_process", "processing_remote")


def _start(permit: PermitSession) -> str:
    init = permit.post("/v1/tasks/init", json={"model": "strict light"})
    assert init.status_code == 200, init.text
    assert httpx.put(init.json()["uploads"]["list.md"], content=b"- one item\n").is_success
    run_id = str(init.json()["runId"])
    started = permit.post(f"/v1/tasks/{run_id}/start", json={"userPrompt": "p"})
    assert started.status_code == 200 and started.json()["status"] == "queued", started.text
    return run_id


def test_runs_settle_late_after_statuses_in_another_order() -> None:
    with (
        start_engine(
            variants=("slow-runs",), extra_args=("--slow-run-settle", str(SETTLE_S))
        ) as engine,
        new_http_client(engine.base_url) as http,
    ):
        permit = mint_permit(jira_session(http), IDS.task())
        began = time.monotonic()
        run_id = _start(permit)
        seen: list[str] = []
        deadline = began + SETTLE_S + 60  # generous: a busy machine only makes it later
        while time.monotonic() < deadline:
            seen.append(permit.get(f"/v1/tasks/{run_id}").json()["status"]["status"])
            if seen[-1] not in NON_TERMINAL:
                break
            time.sleep(0.05)
        settled_after = time.monotonic() - began
        after = [permit.get(f"/v1/tasks/{run_id}").json()["status"]["status"] for _ in range(3)]

    assert seen[-1] == "succeeded", seen
    assert settled_after >= SETTLE_S - 0.5, (settled_after, seen)  # never sooner than asked
    changes = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert "processing_remote" in changes, changes
    first_remote = changes.index("processing_remote")
    assert "queued" in changes[first_remote:] or "in_process" in changes[first_remote:], changes
    assert max(changes.count(s) for s in NON_TERMINAL) > 1, f"no status repeats: {changes}"
    assert after == ["succeeded"] * 3, after
