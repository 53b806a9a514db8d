"""Single-use credentials have exactly one winner under synchronized bursts, across workers.

Bursts use the harness's own race engine (HTTP/1.1 last-byte synchronization), which catches a
bare `await` between check and consume; the rk-race/lc-race faults prove the bursts are tight
enough to matter. SEECODES_ENGINE_RACE_BURSTS sets the bursts per case (default 5; 100 for a
thorough acceptance run).
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from engine_helpers import IDS, jira_session, launch_code, start_engine

from seecodes_conformance.http import NEXT_KEY_HEADER, REQUEST_KEY_HEADER, new_http_client
from seecodes_conformance.race import PreparedRequest, send_burst

N = 20
RACE_SHOWS_WITHIN_S = 120.0
BURSTS = int(os.environ.get("SEECODES_ENGINE_RACE_BURSTS", "5"))


def key_burst(base_url: str, http: httpx.Client) -> list[int]:
    jira = jira_session(http, name="racer")
    key = jira.fresh_key()
    body = json.dumps({"installedUsersCount": 3, "source": "race"}).encode()
    request = PreparedRequest(
        "POST",
        "/v1/jira/instance-metrics",
        {
            "Authorization": f"Bearer {jira.forge_token()}",
            REQUEST_KEY_HEADER: key,
            "Content-Type": "application/json",
        },
        body,
    )
    result = send_burst(base_url, [request] * N, technique="h1")
    winners = [r for r in result.responses if r.status == 200]
    if len(winners) == 1:  # the winner's next key is the one that works now
        following = winners[0].header(NEXT_KEY_HEADER)
        assert following is not None
        assert jira.send_with_key(following, "GET", "/v1/jira/usage").status_code == 200
    return result.statuses


def code_burst(base_url: str, http: httpx.Client) -> list[int]:
    task = IDS.task()
    code = launch_code(jira_session(http, name="racer"), task)["launchCode"]
    body = json.dumps({"code": code, "projectId": task.project_id, "taskId": task.task_id})
    request = PreparedRequest(
        "POST", "/v1/security/launch-exchange", {"Content-Type": "application/json"}, body.encode()
    )
    return send_burst(base_url, [request] * N, technique="h1").statuses


BURSTERS = {"request-key": key_burst, "launch-code": code_burst}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("credential", sorted(BURSTERS))
def test_exactly_one_winner(credential: str, workers: int) -> None:
    with start_engine(workers=workers) as engine, new_http_client(engine.base_url) as http:
        for burst in range(BURSTS):
            statuses = BURSTERS[credential](engine.base_url, http)
            assert statuses.count(200) == 1, f"burst {burst}: {sorted(statuses)}"
            assert all(400 <= s < 500 for s in statuses if s != 200), sorted(statuses)


@pytest.mark.parametrize(("credential", "fault"), [("request-key", "rk-race"),
                                                    ("launch-code", "lc-race")])  # fmt: skip
def test_race_faults_are_real_races(credential: str, fault: str) -> None:
    """The race faults really race: bursts go on until one has two winners. On a busy machine a
    burst may miss the window, so the bound is generous (time, not a small number of tries)."""
    deadline = time.monotonic() + RACE_SHOWS_WITHIN_S
    bursts, most = 0, 0
    with start_engine(faults=[fault]) as engine, new_http_client(engine.base_url) as http:
        while most < 2 and time.monotonic() < deadline:
            most = max(most, BURSTERS[credential](engine.base_url, http).count(200))
            bursts += 1
    assert most > 1, f"{fault}: no burst of {bursts} had more than one winner"
