"""Credits are estimated and debited; a run the installation cannot pay for is refused."""

from __future__ import annotations

import httpx
from engine_helpers import IDS, call, jira_session, mint_permit, start_engine

from seecodes_conformance.http import PermitSession, new_http_client


def start_run(permit: PermitSession) -> httpx.Response:
    run = permit.post("/v1/tasks/init", json={"model": "strict light"})
    assert run.status_code == 200, run.text
    assert httpx.put(run.json()["uploads"]["list.md"], content=b"- one item\n").is_success
    return permit.post(f"/v1/tasks/{run.json()['runId']}/start", json={"userPrompt": "p"})


def test_debit_and_refusal() -> None:
    with (
        start_engine(extra_args=("--initial-credits", "20")) as engine,
        new_http_client(engine.base_url) as http,
    ):
        jira = jira_session(http)
        task = IDS.task()
        permit = mint_permit(jira, task)
        first = start_run(permit)
        assert first.status_code == 200, first.text
        cost = first.json()["estimatedCredits"]
        models = http.get("/v1/models").json()["models"]
        pricing = next(m["pricing"] for m in models if m["id"] == "strict light")
        tokens = first.json()["estimatedInputTokens"]
        assert abs(cost - (pricing["base"] + pricing["per_token"] * tokens)) < 1e-6
        second = start_run(permit)
        assert 400 <= second.status_code < 500, second.text
        me = call(jira, "GET", "/v1/instances/me").json()
        usage = call(jira, "GET", "/v1/jira/usage").json()
        assert abs(me["credits"] - (20 - cost)) < 1e-6
        assert usage["availableCredits"] == me["credits"]
        assert [(i["type"], i["taskId"], i["credits"]) for i in usage["items"]] == [
            ("task_run", task.task_id, cost)
        ]
