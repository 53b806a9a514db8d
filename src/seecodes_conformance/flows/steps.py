"""Shared protocol steps: the one place suites mint permits, launch codes and runs.

Each step does what a first-party client does (see the protocol's "Common integration flows")
and asserts only what the protocol promises about that step. The steps live in one module per
family (``launch``, ``runs``, ``data``, ``probes``, ``jira``); ``ProtocolSteps`` combines them.
"""

from __future__ import annotations

import httpx

from seecodes_conformance.credentials import CredentialSource, Principal
from seecodes_conformance.flows.jira import JiraSteps
from seecodes_conformance.flows.probes import PermitProbes
from seecodes_conformance.flows.runs import RunSteps
from seecodes_conformance.http import JiraAppSession
from seecodes_conformance.ids import IdFactory
from seecodes_conformance.settings import Settings


class ProtocolSteps(JiraSteps, PermitProbes, RunSteps):
    """The first-party flows, parameterised by who calls and on which task."""

    @classmethod
    def standalone(
        cls,
        *,
        http: httpx.Client,
        forge: CredentialSource,
        ids: IdFactory,
        settings: Settings,
        owner: str,
    ) -> ProtocolSteps:
        """Steps for module-scoped fixtures (``jira_factory`` is per test).

        ``forge`` is the session's CredentialSource; principals are named after ``owner`` and
        the xdist worker (via ``ids.base``) where the source allows more than one per tenant.
        """
        counter = iter(range(1, 1000))
        unique = forge.principals_per_tenant is None

        def make(tenant: str = "a", principal: str | None = None) -> JiraAppSession:
            name = principal or (f"{owner}@{ids.base}#{next(counter)}" if unique else "p1")
            who = Principal(tenant, name)
            return JiraAppSession(http, lambda: forge.token(who), who)

        return cls(http=http, jira_factory=make, ids=ids, settings=settings)
