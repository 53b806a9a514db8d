"""Permits and launch codes: minting them through the Jira App and exchanging a code."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx

from seecodes_conformance.flows._base import StepsBase
from seecodes_conformance.http import JiraAppSession, PermitSession, json_or_none
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_success, fail
from seecodes_conformance.redaction import register_credentials

LAUNCHER_PATH = "/v1/launch"
_VSCODE_URL = re.compile(r"vscode://[^\s\"'<>`]+", re.IGNORECASE)


def launcher_page_text(response: httpx.Response) -> str:
    """The launcher page as a browser reads its URLs: entities and JS slash escapes undone."""
    return html.unescape(response.text).replace("\\/", "/")


def launcher_redirects(response: httpx.Response) -> tuple[str, list[str]]:
    """Where the launcher sends the browser: (everything vscode-related, the vscode:// URLs).

    How the page redirects (a 3xx, meta refresh, a link, a script) is the target's choice.
    """
    location = response.headers.get("location", "")
    if 300 <= response.status_code < 400 and location.lower().startswith("vscode://"):
        return location, [location]
    text = launcher_page_text(response)
    return text, _VSCODE_URL.findall(text)


@dataclass(frozen=True)
class LaunchLink:
    task: TaskRef
    code: str
    body: dict[str, Any]
    response: httpx.Response


class LaunchSteps(StepsBase):
    """task-permit, vscode-link and launch-exchange, as the Jira App and the IDE call them."""

    def task_permit_response(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> httpx.Response:
        return self._for_task("/v1/security/task-permit", task, jira, extra)

    def mint_permit(self, task: TaskRef, jira: JiraAppSession | None = None) -> PermitSession:
        """``POST /v1/security/task-permit`` for ``task``; the permit as a session."""
        response = self.task_permit_response(task, jira)
        body = assert_success(response, "PERMIT-MINT", what="minting a task permit")
        permit = body.get("permit") if isinstance(body, dict) else None
        if not isinstance(permit, str) or not permit:
            fail("PERMIT-MINT", "task-permit answered 2xx without a permit", [response])
        return PermitSession(self.http, permit, task, expires_at=body.get("expiresAt"))

    def launch_link_response(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> httpx.Response:
        return self._for_task("/v1/security/vscode-link", task, jira, extra)

    def mint_launch_code(
        self, task: TaskRef, jira: JiraAppSession | None = None, **extra: Any
    ) -> LaunchLink:
        """``POST /v1/security/vscode-link`` for ``task``; the one-time code and the payload."""
        response = self.launch_link_response(task, jira, **extra)
        body = assert_success(response, "LC-MINT", what="minting a launch link")
        code = body.get("launchCode") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            fail("LC-MINT", "vscode-link answered 2xx without a launchCode", [response])
        return LaunchLink(task, code, body, response)

    def exchange(self, code: str, task: TaskRef, **overrides: Any) -> httpx.Response:
        """``POST /v1/security/launch-exchange``: the code in the body is the only credential."""
        body = {"code": code, "projectId": task.project_id, "taskId": task.task_id, **overrides}
        response = self.http.post("/v1/security/launch-exchange", json=body)
        register_credentials(json_or_none(response))
        return response

    def exchanged_permit(
        self,
        response: httpx.Response,
        task: TaskRef,
        invariant: str = "LC-EXCHANGE",
        *,
        what: str = "exchanging a fresh launch code",
    ) -> PermitSession:
        """The permit a launch-exchange answer hands out, as a session for ``task``."""
        body = assert_success(response, invariant, what=what)
        permit = body.get("permit") if isinstance(body, dict) else None
        if not isinstance(permit, str) or not permit:
            fail(invariant, "launch-exchange answered 2xx without a permit", [response])
        return PermitSession(self.http, permit, task, expires_at=body.get("expiresAt"))

    def launched_permit(
        self,
        task: TaskRef,
        jira: JiraAppSession | None = None,
        *,
        what: str = "exchanging a fresh launch code",
        **link_fields: Any,
    ) -> PermitSession:
        """Mint a launch code for ``task`` (with ``link_fields`` in the vscode-link body),
        exchange it and return the permit: the IDE's first-party launch."""
        link = self.mint_launch_code(task, jira, **link_fields)
        return self.exchanged_permit(self.exchange(link.code, task), task, what=what)

    def permit_with_context(
        self, task: TaskRef, marker: str, jira: JiraAppSession | None = None
    ) -> PermitSession:
        """Launch ``task`` with Jira context titled ``marker`` (vscode-link ``jiraContext``)."""
        context = {"title": marker, "descriptionMd": marker, "attachments": [], "images": []}
        return self.launched_permit(task, jira, jiraContext=context)

    def _for_task(
        self, route: str, task: TaskRef, jira: JiraAppSession | None, extra: dict[str, Any]
    ) -> httpx.Response:
        """A Jira-App POST naming ``task`` in its body (both permit and launch-link minting)."""
        body = {"projectId": task.project_id, "taskId": task.task_id, **extra}
        response = (jira or self.default_jira).post(route, json=body)
        register_credentials(json_or_none(response))
        return response
