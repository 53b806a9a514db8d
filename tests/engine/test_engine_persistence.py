"""Stop and restart on the same database file: nothing is lost."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
from engine_helpers import Jira, bearer, new_pair, start_engine


def test_restart_on_the_same_file_loses_nothing(tmp_path: Path) -> None:
    database = str(tmp_path / "engine.sqlite3")
    project, task = new_pair()
    digest = hashlib.sha256(b"x").hexdigest()
    with start_engine(database=database) as engine:
        with httpx.Client(base_url=engine.base_url, timeout=10) as http:
            jira = Jira(http)
            permit = jira.permit(project, task)
            code = jira.launch_code(project, task, jiraContext={"title": "T"})["launchCode"]
            assert http.post(
                f"/v1/tasks/{task}/progress", headers=bearer(permit), json={"ready": ["a"]}
            ).is_success
            run = http.post("/v1/tasks/init", headers=bearer(permit), json={}).json()
            assert httpx.put(run["uploads"]["list.md"], content=b"- item\n").is_success
            assert http.post(
                f"/v1/tasks/{run['runId']}/start", headers=bearer(permit), json={}
            ).is_success
            while http.get(f"/v1/tasks/{run['runId']}", headers=bearer(permit)).json()["status"][
                "status"
            ] not in ("succeeded", "failed"):
                time.sleep(0.05)
            assert http.post(
                f"/v1/projects/{project}/indexes/upsert",
                headers=bearer(permit),
                json={"entries": {"a.ts": {"hash": digest, "short": "s", "detailed": "d",
                                           "important_symbols": []}}},
            ).is_success  # fmt: skip
            assert http.post(
                "/v1/tasks/activity-snapshot", headers=bearer(permit), json={"humanActiveMs": 60000}
            ).is_success
            credits = jira.call("GET", "/v1/instances/me").json()["credits"]
            output = http.get(f"/v1/tasks/{run['runId']}/output", headers=bearer(permit)).text
            current_key = jira.key

        engine.restart()

        with httpx.Client(base_url=engine.base_url, timeout=10) as http:
            jira = Jira(http, key=current_key)  # the current key survives the restart
            me = jira.call("GET", "/v1/instances/me")
            assert me.status_code == 200 and me.json()["credits"] == credits
            progress = http.get(
                f"/v1/tasks/{task}/progress", headers=bearer(permit), params={"projectId": project}
            ).json()
            assert progress["progress"]["ready"] == ["a"]
            status = http.get(f"/v1/tasks/{run['runId']}", headers=bearer(permit)).json()
            assert status["status"]["status"] == "succeeded"
            assert (
                http.get(f"/v1/tasks/{run['runId']}/output", headers=bearer(permit)).text == output
            )
            query = http.post(
                f"/v1/projects/{project}/indexes/query",
                headers=bearer(permit),
                json={"items": [{"path": "a.ts", "hash": digest}]},
            ).json()
            assert query["matches"]["a.ts"]["pathMatched"] is True
            board = jira.call("GET", "/v1/jira/team-competition", params={"projectId": project})
            assert [item["taskId"] for item in board.json()["items"]] == [task]
            usage = jira.call("GET", "/v1/jira/usage").json()
            assert usage["availableCredits"] == credits and usage["items"]
            exchanged = http.post(
                "/v1/security/launch-exchange",
                json={"code": code, "projectId": project, "taskId": task},
            )
            assert exchanged.status_code == 200
            context = http.get("/v1/tasks/context", headers=bearer(exchanged.json()["permit"]))
            assert context.json()["context"] == {"title": "T"}
