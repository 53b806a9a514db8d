"""What every family of protocol steps stands on: who calls, on which task, over which client."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from seecodes_conformance.http import JiraAppSession
from seecodes_conformance.ids import IdFactory, TaskRef
from seecodes_conformance.settings import Settings


class StepsBase:
    """The callers and ids the step families share; the families add the steps."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        jira_factory: Callable[..., JiraAppSession],
        ids: IdFactory,
        settings: Settings,
    ) -> None:
        self.http = http
        self.jira_factory = jira_factory
        self.ids = ids
        self.settings = settings
        self._default_jira: JiraAppSession | None = None

    def jira(self, tenant: str = "a", principal: str | None = None) -> JiraAppSession:
        return self.jira_factory(tenant, principal)

    @property
    def default_jira(self) -> JiraAppSession:
        if self._default_jira is None:
            self._default_jira = self.jira("a")
        return self._default_jira

    def new_task(self, project_id: str | None = None, number: int = 1) -> TaskRef:
        return self.ids.task(project_id, number)

    @staticmethod
    def is_number(value: Any) -> bool:
        """A JSON number (examples' numbers are not necessarily integers; a bool is not one)."""
        return isinstance(value, int | float) and not isinstance(value, bool)

    @staticmethod
    def server_time(response: httpx.Response) -> float:
        """When the target answered, by its own clock (``Date``), else by ours.

        Lifetimes (``expiresAt``) are in the target's clock; measuring them against its ``Date``
        keeps expiry waits and lifetime bounds right even when the two clocks disagree.
        """
        date = response.headers.get("date")
        if date:
            try:
                return parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass
        return time.time()
