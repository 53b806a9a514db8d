"""Jira-App routes and request keys: valid minimal calls, bootstraps and key probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from seecodes_conformance.contract import JIRA_APP_ROUTES
from seecodes_conformance.flows.data import DataSteps
from seecodes_conformance.flows.launch import LaunchSteps
from seecodes_conformance.http import NEXT_KEY_HEADER, JiraAppSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import (
    assert_rejected,
    assert_success,
    checked,
    controlled,
    fail,
    throttled,
)
from seecodes_conformance.redaction import register_credentials


def route_id(route: str) -> str:
    """A short test id for a route: "GET /v1/jira/usage" -> "jira-usage"."""
    path = route.partition(" ")[2]
    return "-".join(part for part in path.split("/")[2:] if part and not part.startswith("{"))


def assert_accepted(
    response: httpx.Response, invariant: str, *, what: str, control: bool = True
) -> None:
    """The rightful Jira-App call got through: a 2xx, the positive control of ``invariant``.

    Only the status is judged (the envelope is ENVELOPE-OK's business); a throttled answer makes
    the check not verified, since a call that carried a request key is never sent again.
    ``control=False``: judge only, for a positive check that records itself (``checked``) once
    its last comparison held.
    """
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not response.is_success:
        fail(
            invariant,
            f"expected {what} to be accepted (2xx), got {response.status_code}",
            [response],
        )
    if control:
        controlled(invariant)


@dataclass(frozen=True)
class JiraCall:
    """A valid minimal request to one Jira-App route, sendable with any key and Forge token."""

    route: str  # as in JIRA_APP_ROUTES
    method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    task: TaskRef | None = None  # the task the request names, if any

    def send(
        self, jira: JiraAppSession, key: str | None, *, forge_token: str | None = ""
    ) -> httpx.Response:
        """Send with exactly ``key`` (None: no key header); ``forge_token`` as in send_with_key."""
        response = jira.send_with_key(
            key, self.method, self.path, forge_token=forge_token, params=self.params, json=self.json
        )
        register_credentials(json_or_none(response))
        return response


class JiraSteps(LaunchSteps, DataSteps):
    """What the request-key and Forge-token suites send to the Jira-App routes."""

    def jira_call(self, route: str, jira: JiraAppSession | None = None) -> JiraCall:
        """A valid minimal request to ``route`` (one of JIRA_APP_ROUTES) on a fresh task.

        Build it before taking the key it will carry: the progress route first stores a progress
        document through a permit minted by ``jira`` (so a valid read answers 2xx), and minting
        moves ``jira``'s key chain.
        """
        task = self.new_task()
        method, _, path = route.partition(" ")
        ids = {"projectId": task.project_id, "taskId": task.task_id}
        if route == "GET /v1/tasks/{taskId}/progress":
            permit = self.mint_permit(task, jira)
            stored = self.write_progress(permit)
            assert_success(stored, "PROGRESS-ROUNDTRIP", what="storing progress to read Jira-side")
            path = f"/v1/tasks/{task.task_id}/progress"
            return JiraCall(route, method, path, params={"projectId": task.project_id}, task=task)
        if route in ("POST /v1/security/vscode-link", "POST /v1/security/task-permit"):
            return JiraCall(route, method, path, json=ids, task=task)
        if route == "POST /v1/jira/instance-metrics":
            body = {"installedUsersCount": 17, "source": "forge-hourly-sync"}
            return JiraCall(route, method, path, json=body)
        if route == "GET /v1/jira/team-competition":
            return JiraCall(route, method, path, params={"projectId": task.project_id})
        if route not in JIRA_APP_ROUTES:
            raise ValueError(f"not a Jira-App route: {route!r}")
        return JiraCall(route, method, path)

    @staticmethod
    def own_key(jira: JiraAppSession) -> str:
        """A freshly bootstrapped key that the test owns (``jira``'s chain forgets it)."""
        jira.fresh_key()
        return jira.take_key()

    def bootstrap_response(self, forge_token: str | None) -> httpx.Response:
        """``POST /v1/jira/request-key`` with this bearer (None: no Authorization at all)."""
        headers = {"Authorization": f"Bearer {forge_token}"} if forge_token is not None else {}
        response = self.http.post("/v1/jira/request-key", json={}, headers=headers)
        register_credentials(json_or_none(response))
        return response

    @staticmethod
    def key_probe(jira: JiraAppSession, key: str) -> httpx.Response:
        """Use ``key`` with ``jira``'s valid Forge token on ``GET /v1/instances/me``."""
        return jira.send_with_key(key, "GET", "/v1/instances/me")

    def assert_no_usable_next_key(
        self,
        jira: JiraAppSession,
        rejection: httpx.Response,
        invariant: str = "RK-NO-NEXT-ON-REJECT",
        *,
        what: str = "the request",
    ) -> None:
        """A rejection may carry a next-key header, but that key must not work for ``jira``.

        No header at all passes outright. A header's key is probed on ``GET /v1/instances/me``
        with ``jira``'s valid Forge token and must be refused; then a freshly bootstrapped key of
        ``jira`` must work on that same probe (the control: the probe itself can succeed).
        """
        next_key = rejection.headers.get(NEXT_KEY_HEADER)
        if not next_key:
            checked(invariant)  # the rejection handed out no next key
            return
        register_credentials(json_or_none(rejection), next_key)
        probe = self.key_probe(jira, next_key)
        if probe.is_success:
            fail(
                invariant,
                f"{what} was rejected, yet the {NEXT_KEY_HEADER} it carried works as a request key",
                [rejection, probe],
            )
        assert_rejected(
            probe, invariant, what=f"GET /v1/instances/me with the {NEXT_KEY_HEADER} of {what}"
        )
        rightful = self.key_probe(jira, self.own_key(jira))
        assert_accepted(rightful, invariant, what="GET /v1/instances/me with a fresh key")
