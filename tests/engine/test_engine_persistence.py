"""Stop and restart on the same database file: nothing is lost."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
from engine_helpers import IDS, call, jira_session, launch_code, mint_permit, start_engine

from seecodes_conformance.http import REQUEST_KEY_HEADER, PermitSession, new_http_client


def test_restart_on_the_same_file_loses_nothing(tmp_path: Path) -> None:
    database = str(tmp_path / "engine.sqlite3")
    task = IDS.task()
    project = task.project_id
    digest = hashlib.sha256(b"x").hexdigest()
    with start_engine(database=database) as engine:
        with new_http_client(engine.base_url) as http:
            jira = jira_session(http)
            permit = mint_permit(jira, task)
            code = launch_code(jira, task, jiraContext={"title": "T"})["launchCode"]
            assert permit.post(
                f"/v1/tasks/{task.task_id}/progress", json={"ready": ["a"]}
            ).is_success
            run = permit.post("/v1/tasks/init", json={}).json()
            assert httpx.put(run["uploads"]["list.md"], content=b"- item\n").is_success
            assert permit.post(f"/v1/tasks/{run['runId']}/start", json={}).is_success
            while permit.get(f"/v1/tasks/{run['runId']}").json()["status"]["status"] not in (
                "succeeded",
                "failed",
            ):
                time.sleep(0.05)
            assert permit.post(
                f"/v1/projects/{project}/indexes/upsert",
                json={"entries": {"a.ts": {"hash": digest, "short": "s", "detailed": "d",
                                           "important_symbols": []}}},
            ).is_success  # fmt: skip
            assert permit.post(
                "/v1/tasks/activity-snapshot", json={"humanActiveMs": 60000}
            ).is_success
            credits = call(jira, "GET", "/v1/instances/me").json()["credits"]
            output = permit.get(f"/v1/tasks/{run['runId']}/output").text
            current_key = jira.current_key

        engine.restart()

        with new_http_client(engine.base_url) as http:
            # The same Jira App carries on against the restarted engine (on a new port).
            jira.http = http
            permit = PermitSession(http, permit.permit, task)
            me = call(jira, "GET", "/v1/instances/me")
            assert me.request.headers[REQUEST_KEY_HEADER] == current_key  # the key survived
            assert me.status_code == 200 and me.json()["credits"] == credits
            progress = permit.get(
                f"/v1/tasks/{task.task_id}/progress", params={"projectId": project}
            ).json()
            assert progress["progress"]["ready"] == ["a"]
            status = permit.get(f"/v1/tasks/{run['runId']}").json()
            assert status["status"]["status"] == "succeeded"
            assert permit.get(f"/v1/tasks/{run['runId']}/output").text == output
            query = permit.post(
                f"/v1/projects/{project}/indexes/query",
                json={"items": [{"path": "a.ts", "hash": digest}]},
            ).json()
            assert query["matches"]["a.ts"]["pathMatched"] is True
            board = call(jira, "GET", "/v1/jira/team-competition", params={"projectId": project})
            assert [item["taskId"] for item in board.json()["items"]] == [task.task_id]
            usage = call(jira, "GET", "/v1/jira/usage").json()
            assert usage["availableCredits"] == credits and usage["items"]
            exchanged = http.post(
                "/v1/security/launch-exchange",
                json={"code": code, "projectId": project, "taskId": task.task_id},
            )
            assert exchanged.status_code == 200
            context = PermitSession(http, exchanged.json()["permit"], task).get("/v1/tasks/context")
            assert context.json()["context"] == {"title": "T"}
